//! The HTML pages for the assessor (`inventory --format html`, `evidence`). They go through
//! minijinja with auto-escaping (every value from a scanned page is hostile), carry a CSP that
//! forbids scripts, and are self-contained (inline CSS, no external resources).

pub const CSS: &str = include_str!("../templates/style.css");

pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    // Names end in .html, so minijinja's default callback turns HTML auto-escaping on.
    env.add_template("inventory_table.html", include_str!("../templates/inventory_table.html"))
        .expect("template parses");
    env.add_template("inventory.html", include_str!("../templates/inventory.html")).expect("template parses");
    env.add_template("cookies.html", include_str!("../templates/cookies.html")).expect("template parses");
    env.add_template("evidence.html", include_str!("../templates/evidence.html")).expect("template parses");
    env
}
