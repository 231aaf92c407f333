//! Page selection: which configured pages a command runs on (`--page` names, or all).

use super::{Config, PageConfig};
use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("no page named `{name}` in {config}; configured pages: {known}")]
    UnknownPage { name: String, config: String, known: String },
    #[error("{config} configures no [[page]] to scan; add one, e.g.\n\n[[page]]\nname = \"checkout\"\nurl = \"https://shop.example/checkout\"")]
    NoPages { config: String },
}

/// Picks the configured pages named in `names` (all when empty), in config order.
pub fn select_pages<'a>(config: &'a Config, names: &[String]) -> Result<Vec<&'a PageConfig>, SelectError> {
    if config.pages.is_empty() {
        return Err(SelectError::NoPages { config: config.path.display().to_string() });
    }
    for name in names {
        if config.page(name).is_none() {
            return Err(SelectError::UnknownPage {
                name: name.clone(),
                config: config.path.display().to_string(),
                known: config.pages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
    }
    let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
    Ok(config.pages.iter().filter(|p| wanted.is_empty() || wanted.contains(p.name.as_str())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        Config::with_pages(
            Path::new("conf/skimwatch.toml"),
            vec![
                PageConfig::new("cart", "https://shop.example/cart"),
                PageConfig::new("checkout", "https://shop.example/pay"),
            ],
        )
    }

    #[test]
    fn selects_named_pages_in_config_order() {
        let c = config();
        let names = |pages: Vec<&PageConfig>| pages.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(select_pages(&c, &[]).unwrap()), ["cart", "checkout"]);
        assert_eq!(names(select_pages(&c, &["checkout".into(), "cart".into()]).unwrap()), ["cart", "checkout"]);
    }

    #[test]
    fn unknown_page_and_no_pages_say_what_is_configured() {
        let c = config();
        assert_eq!(
            select_pages(&c, &["cehckout".into()]).unwrap_err().to_string(),
            "no page named `cehckout` in conf/skimwatch.toml; configured pages: cart, checkout"
        );
        let empty = Config::with_pages(Path::new("skimwatch.toml"), Vec::new());
        assert!(select_pages(&empty, &[])
            .unwrap_err()
            .to_string()
            .starts_with("skimwatch.toml configures no [[page]] to scan; add one"));
    }
}
