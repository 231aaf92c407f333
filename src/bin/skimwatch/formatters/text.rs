//! Text report for people: grouped by page, most severe finding first, diffs included.
//! Page-controlled strings are printed through [`skimwatch::text::display_safe`]: one line,
//! control, bidirectional and zero-width characters escaped, so a hostile script URL can
//! neither rewrite the terminal nor make one name read as another.

use super::Reporter;
use skimwatch::model::{Finding, PageReport, PageStatus, ScanReport};
use std::io::{self, Write};

pub struct Text;

/// Page-controlled text as one safe line.
fn clean(s: &str) -> String {
    skimwatch::text::display_safe(s)
}

impl Reporter for Text {
    fn render(&self, report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
        for page in &report.pages {
            writeln!(out, "== {} ({})", clean(&page.name), clean(&page.url))?;
            if page.status == PageStatus::Error {
                writeln!(out, "   SCAN ERROR: {}", clean(page.error.as_deref().unwrap_or("unknown error")))?;
                writeln!(out)?;
                continue;
            }
            page_summary(page, out)?;
            if page.findings.is_empty() {
                writeln!(out, "   no changes against the approved baseline")?;
                writeln!(out)?;
                continue;
            }
            let mut findings: Vec<_> = page.findings.iter().collect();
            findings.sort_by(|a, b| Finding::report_order(a, b));
            writeln!(out, "   {} finding(s):", findings.len())?;
            for f in findings {
                writeln!(out)?;
                finding(f, out)?;
            }
            writeln!(out)?;
            writeln!(out, "   If a change is intended, approve it (the reason is the PCI DSS 6.4.3 justification):")?;
            let ids: Vec<&str> = page.findings.iter().map(|f| f.id.as_str()).collect();
            writeln!(
                out,
                "     skimwatch baseline approve --page {} --finding {} --by <you> --reason \"<why>\"",
                page.name,
                ids.join(" --finding ")
            )?;
            writeln!(out)?;
        }
        Ok(())
    }
}

/// The page's counts, what the shopper did, and card data that went to allowed hosts.
fn page_summary(page: &PageReport, out: &mut dyn Write) -> io::Result<()> {
    let approved = page.scripts.iter().filter(|s| s.approved).count();
    writeln!(
        out,
        "   {} scripts ({} approved), {} hosts, {} payment fields, HTTP {}, {} ms",
        page.scripts.len(),
        approved,
        page.hosts.len(),
        page.payment_fields.len(),
        page.http_status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
        page.elapsed_ms
    )?;
    if !page.journey.is_empty() {
        let ms: u64 = page.journey.iter().map(|s| s.ms).sum();
        let end = page.final_url.as_deref().unwrap_or(&page.url);
        writeln!(out, "   journey: {} step(s) in {} ms, judged {}", page.journey.len(), ms, clean(end))?;
    }
    if let Some(i) = &page.interaction {
        let typed = if i.fields_typed.is_empty() {
            "no fields typed".to_string()
        } else {
            format!("{} fields typed", i.fields_typed.len())
        };
        writeln!(
            out,
            "   interaction: {} as {}, {}{}{}",
            i.mode,
            i.profile,
            typed,
            i.canary.as_deref().map(|c| format!(", canary card {c}")).unwrap_or_default(),
            if i.submitted {
                format!(", submitted ({} order request(s) blocked)", i.blocked.len())
            } else {
                String::new()
            }
        )?;
        if i.passes > 0 {
            writeln!(
                out,
                "   completed checkout: {} fields filled, {} button(s) pressed in {} pass(es){}",
                i.fields_filled.len(),
                i.buttons_pressed.len(),
                i.passes,
                if i.buttons_pressed.is_empty() {
                    String::new()
                } else {
                    format!(": {}", i.buttons_pressed.iter().map(|b| clean(b)).collect::<Vec<_>>().join(", "))
                }
            )?;
        }
        for p in &i.problems {
            writeln!(out, "   interaction problem: {}", clean(p))?;
        }
    }
    for url in &page.refused_requests {
        writeln!(out, "   refused request to a link-local/metadata address: {}", clean(url))?;
    }
    if !page.cookies.is_empty() {
        let third = page.cookies.iter().filter(|c| c.third_party).count();
        writeln!(out, "   {} cookies ({third} third-party; `inventory --cookies` lists them)", page.cookies.len())?;
    }
    for flow in page.personal_data.iter().filter(|f| f.allowed) {
        writeln!(out, "   personal data ({}) to allowed host {}", clean(&flow.fields.join(", ")), clean(&flow.host))?;
    }
    for leak in page.card_data.iter().filter(|l| l.allowed) {
        writeln!(
            out,
            "   card data to allowed host {} via {}",
            clean(&leak.destination.host),
            leak.destination.channel
        )?;
    }
    Ok(())
}

/// One finding: title, then the facts a reviewer checks, then the diff.
fn finding(f: &Finding, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "   [{}] {} {}  ({})", f.severity.as_str().to_uppercase(), f.kind, clean(&f.title), clean(&f.id))?;
    if let Some(s) = &f.script {
        writeln!(out, "     script:  {} ({})", clean(&s.id), s.kind)?;
        if let Some(u) = &s.url {
            writeln!(out, "     url:     {}", clean(u))?;
        }
        writeln!(out, "     sha256:  {}", s.sha256)?;
    }
    if let Some(a) = &f.approved_sha256 {
        writeln!(out, "     approved sha256: {a}")?;
    }
    if let (Some(first), Some(count)) = (&f.first_seen, f.seen_count) {
        writeln!(out, "     first seen: {first} ({count} scan{})", if count == 1 { "" } else { "s" })?;
    }
    if let Some(i) = &f.initiator {
        writeln!(out, "     inserted by: {}", clean(i))?;
    }
    if let Some(h) = &f.header {
        writeln!(out, "     header:  {}", clean(&h.name))?;
        writeln!(out, "     approved: {}", clean(h.approved.as_deref().unwrap_or("(absent)")))?;
        writeln!(out, "     current:  {}", clean(h.current.as_deref().unwrap_or("(absent)")))?;
    }
    if let Some(h) = &f.host {
        writeln!(out, "     host:    {}", clean(h))?;
    }
    if let (Some(first), Some(count)) = (&f.first_seen, f.seen_count) {
        let last = f.last_seen.as_deref().unwrap_or(first);
        writeln!(out, "     seen:    in {count} scan(s), first {}, last {}", clean(first), clean(last))?;
    }
    if let Some(p) = &f.policy {
        writeln!(out, "     policy:  {}", clean(p))?;
    }
    // What a reviewer checks first: where the added code talks to, and what it does.
    if !f.added_hosts.is_empty() {
        writeln!(out, "     new hosts in code: {}", clean(&f.added_hosts.join(", ")))?;
    }
    for u in &f.added_urls {
        writeln!(out, "     new URL in code:   {}", clean(u))?;
    }
    for h in &f.hints {
        writeln!(out, "     hint:    {}", clean(h))?;
    }
    behaviour(f, out)?;
    intel(f, out)?;
    if let Some(diff) = &f.diff {
        writeln!(out, "     diff:")?;
        for line in diff.lines() {
            writeln!(out, "       {}", clean(line))?;
        }
    }
    Ok(())
}

/// Which indicator list named a host; which advisories a library version has.
fn intel(f: &Finding, out: &mut dyn Write) -> io::Result<()> {
    if let Some(i) = &f.indicator {
        writeln!(out, "     listed:  {} in {} (found in the {})", clean(&i.entry), clean(&i.list), clean(&i.found_in))?;
    }
    if let Some(l) = &f.library {
        writeln!(
            out,
            "     library: {} {} (by {}, {} data)",
            clean(&l.name),
            clean(&l.version),
            l.detected_by,
            clean(&l.source)
        )?;
        for a in l.advisories.iter().take(10) {
            let ids = a.identifiers.iter().map(|i| clean(i)).collect::<Vec<_>>().join(", ");
            let summary = a.summary.as_deref().map(|s| format!(": {}", clean(s))).unwrap_or_default();
            writeln!(out, "     advisory: {} {} {ids}{summary}", clean(&a.severity), clean(&a.range))?;
        }
    }
    Ok(())
}

/// Where card data went, and which payment field was touched.
fn behaviour(f: &Finding, out: &mut dyn Write) -> io::Result<()> {
    if let Some(d) = &f.destination {
        writeln!(out, "     sent to: {} via {}", clean(&d.host), d.channel)?;
        writeln!(out, "     to url:  {}", clean(&d.url))?;
        let how = [d.method.as_deref(), d.found_in.as_deref(), d.encoding.as_deref()];
        if let [Some(m), Some(w), Some(e)] = how {
            writeln!(out, "     found:   {} request, in the {}, encoded {}", clean(m), clean(w), clean(e))?;
        }
        writeln!(out, "     (if this host may receive card data, add it to card_data_hosts of this page)")?;
    }
    if let Some(c) = &f.cookie {
        let lifetime = c.lifetime_days.map_or("session".to_string(), |d| format!("{d} days"));
        writeln!(
            out,
            "     cookie:  {} ({}-party, {lifetime}, Secure {}, HttpOnly {}, SameSite {})",
            clean(&c.id),
            if c.third_party { "third" } else { "first" },
            c.secure,
            c.http_only,
            clean(c.same_site.as_deref().unwrap_or("-"))
        )?;
        writeln!(out, "     set by:  {} {}", c.source.as_str(), clean(c.set_by.as_deref().unwrap_or("")))?;
        for change in &f.changes {
            writeln!(out, "     change:  {}", clean(change))?;
        }
    }
    if let Some(p) = &f.personal_data {
        writeln!(out, "     sent:    {} ({})", clean(&p.fields.join(", ")), clean(&p.encodings.join(", ")))?;
        writeln!(out, "     to url:  {}", clean(&p.example_url))?;
        writeln!(out, "     (if this host may receive personal data, add it to personal_data_hosts of this page)")?;
    }
    if let Some(a) = &f.access {
        match (a.action.as_str(), &a.event) {
            ("listen", Some(e)) => {
                writeln!(out, "     field:   {} in {}, listens to {}", clean(&a.field), clean(&a.frame), clean(e))?
            }
            ("read", e) => writeln!(
                out,
                "     field:   {} in {}, reads the value{}",
                clean(&a.field),
                clean(&a.frame),
                e.as_deref().map(|e| format!(" ({})", clean(e))).unwrap_or_default()
            )?,
            _ => writeln!(out, "     field:   {} (fix payment_fields of this page)", clean(&a.field))?,
        }
    }
    Ok(())
}
