//! What a fleet's monitoring reads from a running daemon, on `[watch] listen`:
//!
//! - `/metrics` in the Prometheus/OpenMetrics text format (prometheus-client): scans by page
//!   and outcome and their duration (counted since the daemon started), and, read from the
//!   database at each scrape, the open findings by page and severity, each page's last
//!   successful scan, the outbox and whether the monitor is blind.
//! - `/healthz`: `200 ok` while the daemon runs and is not blind; `503` naming since when it
//!   is blind (no page scanned successfully within `stale_after`), so a probe or a load
//!   balancer sees a silent shard.
//!
//! Page names come from the config, not from pages; prometheus-client writes label values
//! as they are, so [`label`] escapes them (a `"` in a name would otherwise break the scrape).

use crate::model::{PageStatus, Severity};
use crate::store::outbox::Status;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScanLabels {
    page: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    page: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PageLabels {
    page: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    destination: String,
}

/// A label value escaped as the text exposition format requires (`\\`, `\"`, `\n`).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Upper bounds (seconds) of the scan duration histogram: a scan without interaction takes a
/// few seconds, a journey with a shopper up to a minute or two.
const DURATION_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0];

/// The daemon's metrics. Counters move with each scan ([`Metrics::scanned`]); the gauges are
/// set from the database just before each scrape ([`Metrics::encode`]).
pub struct Metrics {
    registry: Registry,
    scans: Family<ScanLabels, Counter>,
    duration: Histogram,
    findings: Family<FindingLabels, Gauge>,
    last_ok: Family<PageLabels, Gauge<f64, AtomicU64>>,
    failures: Family<PageLabels, Gauge>,
    outbox_queued: Gauge,
    outbox_sent: Gauge,
    deliveries_pending: Family<DestinationLabels, Gauge>,
    deliveries_failed: Family<DestinationLabels, Gauge>,
    blind: Gauge,
    running: Gauge,
    csp_reports: Family<ReportLabels, Counter>,
}

/// One scan counted in `skimwatch_scans_running` while it lives.
pub struct Running(Gauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("skimwatch");
        let m = Metrics {
            scans: Family::default(),
            duration: Histogram::new(DURATION_BUCKETS),
            findings: Family::default(),
            last_ok: Family::default(),
            failures: Family::default(),
            outbox_queued: Gauge::default(),
            outbox_sent: Gauge::default(),
            deliveries_pending: Family::default(),
            deliveries_failed: Family::default(),
            blind: Gauge::default(),
            running: Gauge::default(),
            csp_reports: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "scans",
            "Scans finished since the daemon started, by page and status (ok, error)",
            m.scans.clone(),
        );
        registry.register("scan_duration_seconds", "Wall time of each scan", m.duration.clone());
        registry.register(
            "open_findings",
            "Findings of each page's latest successful scan (not yet approved), by severity",
            m.findings.clone(),
        );
        registry.register(
            "last_successful_scan_timestamp_seconds",
            "When each page last scanned successfully (Unix time)",
            m.last_ok.clone(),
        );
        registry.register("consecutive_failures", "Failed scans in a row, per page", m.failures.clone());
        registry.register(
            "outbox_queued",
            "Alerts waiting in the outbox (not yet accepted by every destination)",
            m.outbox_queued.clone(),
        );
        registry.register("outbox_sent", "Alerts every destination accepted (all time)", m.outbox_sent.clone());
        registry.register(
            "deliveries_pending",
            "Alerts a destination (email, webhook:<name>) has not accepted yet",
            m.deliveries_pending.clone(),
        );
        registry.register(
            "deliveries_failed",
            "Of the pending ones, those with at least one failed attempt, per destination",
            m.deliveries_failed.clone(),
        );
        registry.register(
            "blind",
            "1 while no page scanned successfully within stale_after (monitor_blind)",
            m.blind.clone(),
        );
        registry.register(
            "scans_running",
            "Scans in progress now (with max_pages = \"auto\", as many as CPU and memory allow)",
            m.running.clone(),
        );
        registry.register(
            "csp_reports",
            "CSP violation reports received on [reports] listen, by outcome (accepted, noise, too_large, rate_limited, unknown_page, invalid, dropped)",
            m.csp_reports.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts `n` CSP violation reports (or refused bodies) with `outcome`.
    pub fn csp_report(&self, outcome: &str, n: u64) {
        self.csp_reports.get_or_create(&ReportLabels { outcome: outcome.to_string() }).inc_by(n);
    }

    /// Counts a scan as running until the returned guard is dropped.
    pub fn running(&self) -> Running {
        self.running.inc();
        Running(self.running.clone())
    }

    /// Counts one finished scan of `page` that took `elapsed`.
    pub fn scanned(&self, page: &str, status: PageStatus, elapsed: std::time::Duration) {
        let status = match status {
            PageStatus::Ok => "ok",
            PageStatus::Error => "error",
        };
        self.scans.get_or_create(&ScanLabels { page: label(page), status: status.to_string() }).inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// The text exposition, after setting the gauges from `status` (the database's view).
    pub fn encode(&self, status: &Status) -> String {
        self.findings.clear();
        self.last_ok.clear();
        self.failures.clear();
        for page in &status.pages {
            for severity in Severity::ALL {
                let n = page.open_findings.iter().filter(|f| f.severity == severity).count();
                let labels = FindingLabels { page: label(&page.name), severity: severity.as_str().to_string() };
                self.findings.get_or_create(&labels).set(n as i64);
            }
            let labels = PageLabels { page: label(&page.name) };
            if let Some(at) = page.last_ok.as_deref().and_then(crate::model::Timestamp::parse) {
                self.last_ok.get_or_create(&labels).set(at.datetime().unix_timestamp() as f64);
            }
            self.failures.get_or_create(&labels).set(i64::from(page.consecutive_failures));
        }
        self.outbox_queued.set(status.outbox.queued as i64);
        self.outbox_sent.set(status.outbox.sent as i64);
        self.deliveries_pending.clear();
        self.deliveries_failed.clear();
        for d in &status.outbox.destinations {
            let labels = DestinationLabels { destination: label(&d.destination) };
            self.deliveries_pending.get_or_create(&labels).set(d.pending as i64);
            self.deliveries_failed.get_or_create(&labels).set(d.failed as i64);
        }
        self.blind.set(i64::from(status.blind_since.is_some()));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown`; `pages` are the daemon's
/// (name, URL).
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    daemon: Arc<super::Daemon>,
    pages: Vec<(String, String)>,
    shutdown: CancellationToken,
) {
    let state = Arc::new((daemon, pages));
    let app = Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(state);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::error!("the metrics endpoint stopped: {e}");
    }
}

type State = Arc<(Arc<super::Daemon>, Vec<(String, String)>)>;

/// The monitor's state from the database (what `skimwatch status` shows).
async fn status(state: &State) -> Result<Status, String> {
    let pages = state.1.clone();
    let mut status = state
        .0
        .with_store("reading the status for /metrics", move |s| s.monitor_status(&pages))
        .await
        .map_err(|e| e.to_string())?;
    // Every configured destination, also before its first alert.
    let targets: Vec<(String, String)> =
        state.0.channels.iter().map(|c| (c.destination().to_string(), c.target().to_string())).collect();
    status.name_destinations(&targets);
    Ok(status)
}

async fn metrics(axum::extract::State(state): axum::extract::State<State>) -> Response {
    match status(&state).await {
        Ok(status) => {
            let body = state.0.metrics.encode(&status);
            ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
                .into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("cannot read the scan database: {e}\n")).into_response(),
    }
}

async fn healthz(axum::extract::State(state): axum::extract::State<State>) -> Response {
    match status(&state).await {
        Ok(Status { blind_since: Some(since), .. }) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("blind since {since}: no page scanned successfully\n"))
                .into_response()
        }
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("cannot read the scan database: {e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::{OpenFinding, PageStatusView};

    #[test]
    fn scans_and_the_database_view_are_exposed() {
        let m = Metrics::new();
        m.scanned("check\"out", PageStatus::Ok, std::time::Duration::from_millis(3500));
        m.scanned("check\"out", PageStatus::Error, std::time::Duration::from_millis(4000));
        let mut status = Status::default();
        status.pages.push(PageStatusView {
            name: "check\"out".into(),
            last_ok: Some("2026-01-02T03:04:05Z".into()),
            open_findings: vec![OpenFinding { severity: Severity::High, ..Default::default() }],
            ..Default::default()
        });
        status.outbox.queued = 2;
        status.outbox.destinations.push(crate::store::outbox::DestinationView {
            destination: "webhook:slack".into(),
            pending: 2,
            failed: 1,
            ..Default::default()
        });
        let text = m.encode(&status);
        assert!(text.contains(r#"skimwatch_deliveries_pending{destination="webhook:slack"} 2"#), "{text}");
        assert!(text.contains(r#"skimwatch_deliveries_failed{destination="webhook:slack"} 1"#), "{text}");
        assert!(text.contains(r#"skimwatch_scans_total{page="check\"out",status="ok"} 1"#), "{text}");
        assert!(text.contains(r#"skimwatch_scans_total{page="check\"out",status="error"} 1"#), "{text}");
        assert!(text.contains(r#"skimwatch_open_findings{page="check\"out",severity="high"} 1"#), "{text}");
        assert!(text.contains(r#"skimwatch_open_findings{page="check\"out",severity="critical"} 0"#), "{text}");
        assert!(
            text.contains(r#"skimwatch_last_successful_scan_timestamp_seconds{page="check\"out"} 1767323045"#),
            "{text}"
        );
        assert!(text.contains("skimwatch_outbox_queued 2") && text.contains("skimwatch_blind 0"), "{text}");
        assert!(text.contains(r#"skimwatch_scan_duration_seconds_bucket{le="5.0"} 2"#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
