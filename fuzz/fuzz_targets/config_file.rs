//! `skimwatch.toml` with arbitrary content, through `Config::parse` (what `Config::load` runs
//! on the file's text), including its error messages with line and column.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skimwatch::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = Config::parse(text, Path::new("skimwatch.toml")) {
            let _ = e.to_string();
        }
    }
});
