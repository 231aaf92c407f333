//! A baseline file with arbitrary content, read the way `skimwatch` reads it (through
//! `BaselineDir::load`, which has the parser and its error messages), then written back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skimwatch::baseline::{render, BaselineDir};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = BaselineDir::new(dir.path());
    std::fs::write(store.path_for("checkout"), data).expect("write the fuzz input");
    match store.load("checkout") {
        Ok(baseline) => {
            let _ = render(&baseline);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
