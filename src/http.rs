//! The one setup of an outbound HTTP client (intel downloads, webhook deliveries): rustls with
//! the ring provider and this machine's root certificates, and skimwatch's user agent. Each
//! caller adds its own redirect policy and timeouts, which differ (a webhook follows no
//! redirect; an intel source may move).

use std::sync::Arc;

/// A client builder with the TLS roots and the user agent set.
pub fn client_builder() -> reqwest::ClientBuilder {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A certificate the store refuses is skipped, as the system's own tools skip it.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let tls = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let builder = reqwest::Client::builder().user_agent(concat!("skimwatch/", env!("CARGO_PKG_VERSION")));
    match tls {
        Ok(tls) => builder.tls_backend_preconfigured(tls),
        Err(_) => builder,
    }
}
