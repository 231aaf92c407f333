//! `skimwatch inventory`: the PCI DSS 6.4.3 script inventory per page, as CSV for
//! spreadsheets, JSON, or a self-contained HTML page for the assessor. The rows come from
//! `skimwatch::evidence`.

use super::{html, plain, write_to};
use crate::exit::ExitCode;
use anyhow::Context;
use clap::{Args, ValueEnum};
use skimwatch::evidence::{self, InventoryRow};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    /// One row per script (for spreadsheets).
    Csv,
    Json,
    /// A self-contained page to hand to the assessor.
    Html,
}

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// Page to list (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    #[arg(long, value_enum, default_value_t = InventoryFormat::Csv)]
    format: InventoryFormat,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Export the cookie audit instead of the script inventory: every cookie of each page's
    /// newest scan (who set it, attributes, a keyed hash of the value, never the value) and
    /// its approval.
    #[arg(long)]
    cookies: bool,
    /// Read this database instead of `[storage] database`; repeat it to merge several (the
    /// shards of a fleet): each page from the database that scanned it last.
    #[arg(long = "database", value_name = "PATH")]
    databases: Vec<PathBuf>,
}

/// A spreadsheet treats a cell starting with `=`, `+`, `-`, `@` (or a tab/CR) as a formula;
/// page-controlled text must not become one (CSV injection), so such cells get a `'` prefix.
fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

pub fn inventory_csv(rows: &[InventoryRow]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "page",
        "script",
        "kind",
        "url",
        "frame_url",
        "sha256",
        "sri",
        "bytes",
        "status",
        "first_seen",
        "last_seen",
        "seen_in_scans",
        "approved_by",
        "approved_at",
        "reason",
        "payment_fields",
        "browser_reports",
    ])?;
    for r in rows {
        let opt = |o: &Option<String>| csv_cell(o.as_deref().unwrap_or(""));
        w.write_record([
            csv_cell(&r.page),
            csv_cell(&r.script),
            r.kind.as_str().to_string(),
            opt(&r.url),
            csv_cell(&r.frame_url),
            r.sha256.clone(),
            r.sri.clone(),
            r.bytes.to_string(),
            r.status.as_str().to_string(),
            opt(&r.first_seen),
            opt(&r.last_seen),
            r.seen_in_scans.to_string(),
            opt(&r.approved_by),
            opt(&r.approved_at),
            opt(&r.reason),
            csv_cell(&r.payment_fields),
            r.browser_reports.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))
}

pub fn cookies_csv(rows: &[evidence::CookieRow]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "page",
        "cookie",
        "name",
        "domain",
        "path",
        "party",
        "lifetime",
        "secure",
        "http_only",
        "same_site",
        "size",
        "source",
        "set_by",
        "blocked",
        "value_hash",
        "status",
        "purpose",
        "approved_by",
        "approved_at",
        "reason",
        "last_seen",
    ])?;
    for r in rows {
        let opt = |o: &Option<String>| csv_cell(o.as_deref().unwrap_or(""));
        w.write_record([
            csv_cell(&r.page),
            csv_cell(&r.cookie),
            csv_cell(&r.name),
            csv_cell(&r.domain),
            csv_cell(&r.path),
            r.party.clone(),
            r.lifetime.clone(),
            r.secure.to_string(),
            r.http_only.to_string(),
            opt(&r.same_site),
            r.size.to_string(),
            r.source.clone(),
            opt(&r.set_by),
            opt(&r.blocked),
            r.value_hash.clone(),
            r.status.clone(),
            opt(&r.purpose),
            opt(&r.approved_by),
            opt(&r.approved_at),
            opt(&r.reason),
            opt(&r.last_seen),
        ])?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))
}

fn cookie_export(format: InventoryFormat, rows: &[evidence::CookieRow]) -> anyhow::Result<Vec<u8>> {
    Ok(match format {
        InventoryFormat::Csv => cookies_csv(rows)?,
        InventoryFormat::Json => {
            let mut v = serde_json::to_vec_pretty(rows)?;
            v.push(b'\n');
            v
        }
        InventoryFormat::Html => {
            let mut pages: std::collections::BTreeMap<&str, Vec<&evidence::CookieRow>> = Default::default();
            for r in rows {
                pages.entry(r.page.as_str()).or_default().push(r);
            }
            html::environment()
                .get_template("cookies.html")?
                .render(minijinja::context! {
                    css => html::CSS,
                    pages => minijinja::value::Serde(pages),
                    count => rows.len(),
                    generated_at => skimwatch::store::now_rfc3339(),
                    tool => format!("skimwatch {}", env!("CARGO_PKG_VERSION")),
                })
                .context("rendering the cookie audit")?
                .into_bytes()
        }
    })
}

pub fn run(config_path: &Path, args: InventoryArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_path)?;
    // Inventory works from a clean checkout too (no database): approved scripts only.
    let stores: Vec<skimwatch::store::Store> = if args.databases.is_empty() {
        evidence::open_existing(&config).map_err(plain)?.into_iter().collect()
    } else {
        super::open_databases(&args.databases)?.into_iter().map(|(_, s)| s).collect()
    };
    let stores: Vec<&skimwatch::store::Store> = stores.iter().collect();
    if args.cookies {
        let rows = evidence::cookie_inventory(&config, &args.pages, &stores).map_err(plain)?;
        write_to(args.output.as_deref(), &cookie_export(args.format, &rows)?)?;
        return Ok(ExitCode::Clean);
    }
    let rows = evidence::inventory(&config, &args.pages, &stores).map_err(plain)?;
    let bytes = match args.format {
        InventoryFormat::Csv => inventory_csv(&rows)?,
        InventoryFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&rows)?;
            v.push(b'\n');
            v
        }
        InventoryFormat::Html => html::environment()
            .get_template("inventory.html")?
            .render(minijinja::context! {
                css => html::CSS,
                pages => minijinja::value::Serde(evidence::by_page(&rows)),
                count => rows.len(),
                generated_at => skimwatch::store::now_rfc3339(),
                tool => format!("skimwatch {}", env!("CARGO_PKG_VERSION")),
            })
            .context("rendering the inventory")?
            .into_bytes(),
    };
    write_to(args.output.as_deref(), &bytes)?;
    Ok(ExitCode::Clean)
}
