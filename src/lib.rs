//! skimwatch: catches e-skimming (Magecart) code on checkout pages.
//!
//! # Layout
//!
//! The flow is a pipeline; each stage is a folder and uses only the stages before it:
//!
//! 1. [`model`]: plain data passed between the stages (enums for every closed set), and
//!    [`text`]: the only ways text from a page is cut or flattened for display.
//! 2. [`config`]: the configuration file, its reader, and page selection.
//! 3. [`capture`]: headless Chromium → [`model::Snapshot`] (browser, shopper, canary, leaks).
//! 4. [`inventory`]: identity, normalisation and hashing → [`model::Inventory`].
//! 5. [`compare`]: inventory vs [`model::Baseline`] → [`model::Finding`]s (scripts, headers,
//!    behaviour, hints, diffs, churn, trust policies).
//! 6. [`baseline`]: the approved state as reviewable files; approval, planning and linting.
//! 7. [`store`]: SQLite, the only place with SQL (scans, history, the tamper-evident chain).
//! 8. [`scan`]: runs 3–7 for a set of pages.
//! 9. [`alert`], [`watch`], [`evidence`]: e-mail alerts, the daemon, the assessor's evidence.
//!
//! The command-line interface lives in `src/bin/skimwatch/`; the embedded test shop is the
//! `skimwatch-testshop` crate in `crates/testshop/`.

pub mod model;
pub mod text;

pub mod config;

pub mod capture;

pub mod inventory;

pub mod compare;

pub mod baseline;

pub mod store;

pub mod scan;

pub mod alert;
pub mod evidence;
pub mod watch;
