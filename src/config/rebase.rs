//! The release gate: what a deploy pipeline needs besides `scan` itself.
//!
//! A pipeline scans the *staging* copy of each configured page (every page moved onto another
//! origin, path and query kept) against the checked-in baselines, needing no state of its
//! own; in the pull request that changes baselines it runs `crate::baseline::check` as a lint,
//! and a reviewer reads `crate::baseline::plan` to see what an approval would write. Identities are relative
//! to the page's own origin (`self:/path`, host `self`), so a baseline approved on production
//! matches the same first-party scripts on staging while third-party URLs stay absolute.

use url::{Position, Url};

/// Why a base URL cannot be used. The messages start with the value given; the command line
/// puts the flag's name in front.
#[derive(Debug, thiserror::Error)]
pub enum BaseUrlError {
    #[error("`{given}` is not a URL: {reason}; give an origin such as https://staging.shop.example")]
    NotUrl { given: String, reason: String },
    #[error(
        "`{given}` must be an http(s) origin such as https://staging.shop.example (scheme `{scheme}` is not supported)"
    )]
    Scheme { given: String, scheme: String },
    #[error("`{given}` must be an origin only (scheme, host and optional port), without path, query or fragment: each page keeps its own path and query; use `{origin}`")]
    NotOrigin { given: String, origin: String },
    #[error("cannot move page URL `{url}` onto {base}: {reason}")]
    Page { url: String, base: String, reason: String },
}

/// Parses and checks a base URL: an http(s) origin, nothing after it but an optional `/`.
pub fn parse_base_url(given: &str) -> Result<Url, BaseUrlError> {
    let url = Url::parse(given.trim())
        .map_err(|e| BaseUrlError::NotUrl { given: given.to_string(), reason: e.to_string() })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(BaseUrlError::Scheme { given: given.to_string(), scheme: url.scheme().to_string() });
    }
    let origin = url.origin().ascii_serialization();
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(BaseUrlError::NotOrigin { given: given.to_string(), origin });
    }
    Ok(url)
}

/// `page_url` moved onto `base`'s origin: scheme, host and port from `base`, path, query and
/// fragment from the page. `https://shop.example/checkout?step=2` on
/// `http://127.0.0.1:8080` is `http://127.0.0.1:8080/checkout?step=2`.
pub fn rebase_url(page_url: &str, base: &Url) -> Result<String, BaseUrlError> {
    let page = Url::parse(page_url).map_err(|e| BaseUrlError::Page {
        url: page_url.to_string(),
        base: base.as_str().to_string(),
        reason: e.to_string(),
    })?;
    let rest = &page[Position::BeforePath..];
    Ok(format!("{}{rest}", base.origin().ascii_serialization()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_path_query_and_fragment() {
        let base = parse_base_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            rebase_url("https://shop.example/checkout/pay?step=2&x=%20#top", &base).unwrap(),
            "http://127.0.0.1:8080/checkout/pay?step=2&x=%20#top"
        );
        let base = parse_base_url("https://staging.shop.example/").unwrap();
        assert_eq!(rebase_url("http://shop.example:8443/", &base).unwrap(), "https://staging.shop.example/");
    }

    #[test]
    fn base_must_be_an_http_origin() {
        assert!(matches!(parse_base_url("staging.example"), Err(BaseUrlError::NotUrl { .. })));
        assert!(matches!(parse_base_url("ftp://staging.example"), Err(BaseUrlError::Scheme { .. })));
        let err = parse_base_url("https://staging.example/shop?x=1").unwrap_err();
        assert!(err.to_string().contains("use `https://staging.example`"), "{err}");
        assert!(matches!(parse_base_url("https://u:p@staging.example"), Err(BaseUrlError::NotOrigin { .. })));
    }
}
