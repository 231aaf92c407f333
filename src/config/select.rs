//! Page selection: which configured pages a command runs on (`--page` names, or all), and
//! which of them a shard of a fleet watches ([`Shard`]).

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

/// One shard of a fleet of daemons: shard `index` (0-based, as a StatefulSet's pod ordinal)
/// of `count`. A page belongs to the shard its name hashes to, so every daemon with the same
/// config decides the same split without talking to the others, and adding a page moves no
/// other page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Most shards of one fleet.
pub const MAX_SHARDS: u32 = 1024;

impl Shard {
    /// `K/N`: shard K (0 ≤ K < N) of N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?} is not a shard such as \"0/3\" (shard K of N, 0 ≤ K < N ≤ {MAX_SHARDS})");
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (index, count) = (k.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether page `name` is this shard's: the first 8 bytes of SHA-256(name), mod `count`.
    pub fn holds(&self, name: &str) -> bool {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        let n = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"));
        n % u64::from(self.count) == u64::from(self.index)
    }

    /// The shard's own database beside `database`: `skimwatch.db` → `skimwatch.shard-1-of-3.db`.
    pub fn database(&self, database: &std::path::Path) -> std::path::PathBuf {
        let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = match database.extension() {
            Some(ext) => format!("{stem}.shard-{}-of-{}.{}", self.index, self.count, ext.to_string_lossy()),
            None => format!("{stem}.shard-{}-of-{}", self.index, self.count),
        };
        database.with_file_name(name)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
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

    #[test]
    fn shards_split_the_pages_once_each_and_name_their_databases() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "0/0", "x/2", "1", "-1/2", "0/5000"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let names: Vec<String> = (0..60).map(|i| format!("page-{i}")).collect();
        for name in &names {
            assert_eq!(shards.iter().filter(|s| s.holds(name)).count(), 1, "{name} in exactly one shard");
        }
        assert!(shards.iter().all(|s| names.iter().any(|n| s.holds(n))), "every shard gets pages");
        let db = shards[1].database(Path::new("/var/lib/skimwatch/skimwatch.db"));
        assert_eq!(db, Path::new("/var/lib/skimwatch/skimwatch.shard-1-of-3.db"));
    }
}
