//! `skimwatch evidence`: the PCI DSS 11.6.1 evidence report for a period, written as HTML
//! (for the assessor) and JSON beside it. The data come from `skimwatch::evidence`.

use super::{html, plain, require_store};
use crate::exit::ExitCode;
use anyhow::Context;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use clap::Args;
use skimwatch::evidence::{self, Evidence, Resolution};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct EvidenceArgs {
    /// Start of the period: YYYY-MM-DD (UTC midnight) or an RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    since: String,
    /// Folder to write evidence.html and evidence.json into (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Report on this database instead of `[storage] database`; repeat it to merge several
    /// (the shards of a fleet) into one report.
    #[arg(long = "database", value_name = "PATH")]
    databases: Vec<PathBuf>,
}

pub fn render_evidence_html(e: &Evidence) -> anyhow::Result<String> {
    let resolutions: Vec<String> = e.findings.iter().map(|f| f.resolution.summary()).collect();
    let failed = e.scans.iter().filter(|s| s.status == skimwatch::model::PageStatus::Error).count();
    let open = e.findings.iter().filter(|f| f.resolution == Resolution::Open).count();
    // Each page's pictures as data: URLs (the report is one self-contained file), in page
    // order: [approved, latest], empty where there is none. Only base64 of our own encoding,
    // so the template prints them unescaped (`|safe`).
    let data_url = |p: &Option<evidence::PagePicture>| {
        p.as_ref().map_or(String::new(), |p| format!("data:image/png;base64,{}", BASE64.encode(&p.png)))
    };
    let pictures: Vec<[String; 2]> =
        e.pages.iter().map(|p| [data_url(&p.approved_screenshot), data_url(&p.screenshot)]).collect();
    html::environment()
        .get_template("evidence.html")?
        .render(minijinja::context! {
            css => html::CSS,
            e => minijinja::value::Serde(e),
            pages => minijinja::value::Serde(evidence::by_page(&e.inventory)),
            resolutions => resolutions,
            pictures => pictures,
            failed => failed,
            open => open,
        })
        .context("rendering the evidence report")
}

pub fn run(config_path: &Path, args: EvidenceArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let since = evidence::parse_since(&args.since).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let stores = if args.databases.is_empty() {
        vec![(config.storage.database.display().to_string(), require_store(&config)?)]
    } else {
        super::open_databases(&args.databases)?
    };
    let stores: Vec<(String, &skimwatch::store::Store)> = stores.iter().map(|(p, s)| (p.clone(), s)).collect();
    let e = evidence::evidence(&config, &stores, since).map_err(plain)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let html = render_evidence_html(&e)?;
    let html_path = args.out.join("evidence.html");
    let json_path = args.out.join("evidence.json");
    std::fs::write(&html_path, html).with_context(|| format!("writing {}", html_path.display()))?;
    let mut json = serde_json::to_vec_pretty(&e)?;
    json.push(b'\n');
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    let mut out = io::stdout().lock();
    writeln!(out, "wrote {} and {}", html_path.display(), json_path.display())?;
    writeln!(out, "{} scan(s), {} finding(s) since {since}", e.scans.len(), e.findings.len())?;
    for r in &e.pruned {
        writeln!(
            out,
            "{} scan(s) from {} to {} were deleted by retention on {} (their seals are kept in the log)",
            r.scans, r.first_started_at, r.last_started_at, r.pruned_at
        )?;
    }
    match &e.log.broken {
        Some(b) => {
            writeln!(out, "scan log BROKEN at scan #{}: {}", b.scan_id, b.reason)?;
            Ok(ExitCode::Findings)
        }
        None => {
            writeln!(out, "scan log verified ({} record(s))", e.log.verified)?;
            Ok(ExitCode::Clean)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruned_periods_and_each_databases_log_are_rendered() {
        let log = serde_json::json!({"records": 3, "verified": 3, "unsealed": 0, "head_id": 9,
                                     "head_hash": "ab12", "broken": null, "pruned_scans": 12});
        let e: Evidence = serde_json::from_value(serde_json::json!({
            "generated_at": "2026-12-01T00:00:00Z", "since": "2025-01-01T00:00:00Z", "tool": "skimwatch",
            "settings": {"config": "c", "database": "d", "baselines": "b", "browser": "x",
                         "default_timeout": "30s", "default_settle": "10s"},
            "pages": [], "scans": [], "findings": [], "alert_deliveries": null, "inventory": [], "log": log,
            "pruned": [{"first_id": 1, "last_id": 12, "scans": 12, "first_started_at": "2025-01-02T00:00:00Z",
                        "last_started_at": "2025-01-05T00:00:00Z", "pages": {"checkout": 12},
                        "pruned_at": "2026-02-10T00:00:00Z"}],
            "logs": [{"database": "skimwatch.shard-1-of-2.db", "log": log}],
        }))
        .unwrap();
        let html = render_evidence_html(&e).unwrap();
        assert!(html.contains("Pruned periods") && html.contains("checkout: 12"), "{html}");
        assert!(html.contains("12 older scan(s) deleted by retention"), "{html}");
        assert!(html.contains("skimwatch.shard-1-of-2.db") && html.contains("head scan #9"), "{html}");
    }
}
