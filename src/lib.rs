//! skimwatch: catches e-skimming (Magecart) code on checkout pages.
//!
//! # Layout
//!
//! The flow is a pipeline; each stage is a folder and uses only the stages listed before it
//! (`docs/ARCHITECTURE.md` has the whole tree):
//!
//! 1. [`model`]: plain data passed between the stages, with enums for every closed set,
//!    [`text`]: the only ways text from a page is cut or flattened for display, and [`http`]:
//!    the one outbound HTTP client setup.
//! 2. [`config`]: the configuration types, the reader (errors name file, line and key), page
//!    selection, host allow-lists.
//!    [`intel`]: the known-bad domain lists, retire.js data and YARA rules scans check against.
//! 3. [`capture`]: headless Chromium → [`model::Snapshot`]: the browser, CDP events, the
//!    journey's steps (`[[page.step]]`), the shopper and its canary card, the probe, script
//!    classification, card-data leaks.
//! 4. [`inventory`]: identity (the only place an identity or frame key is computed),
//!    normalisation, hashing → [`model::Inventory`], and the scan's behaviour named by it.
//! 5. [`compare`]: inventory vs [`model::Baseline`] → [`model::Finding`]s: scripts, headers,
//!    hosts, behaviour, hints, diffs, churn, trust policies.
//! 6. [`store`]: SQLite, the only place with SQL: scans and their history, the outbox, the
//!    tamper-evident log.
//! 7. [`baseline`]: the approved state as reviewable files; approval (one plan loop for
//!    `approve` and `diff`) and the lint; [`policy`]: the baseline as a Content-Security-Policy
//!    and SRI attributes (`skimwatch policy`).
//! 8. [`scan`]: runs 3–7 for a set of pages: evaluate → follow policies → record.
//! 9. [`alert`] (e-mail through the outbox), [`watch`] (the daemon, its shards and its
//!    `/metrics`), [`evidence`] (the assessor's reports, over one database or several).
//! 10. [`setup`]: a first config from one trial load of a page (`init`), and the check of a
//!     config and its alert templates (`config check`).
//!
//! The command-line interface lives in `src/bin/skimwatch/` (`main.rs` parses and dispatches,
//! one file per command in `commands/`, one per output format in `formatters/`); the
//! embedded test shop is the `skimwatch-testshop` crate in `crates/testshop/`.

pub mod http;
pub mod model;
pub mod text;

pub mod config;

pub mod intel;

pub mod capture;

pub mod inventory;

pub mod compare;

pub mod store;

pub mod baseline;
pub mod policy;

pub mod scan;

pub mod alert;
pub mod evidence;
pub mod watch;

pub mod setup;
