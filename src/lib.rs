//! skimwatch: catches e-skimming (Magecart) code on checkout pages.
//!
//! The flow is a pipeline with one module per stage:
//! [`capture`] (headless Chromium → [`model::Snapshot`]) → [`inventory`] (identity, hashing →
//! [`model::Inventory`]) → [`compare`] (inventory vs [`model::Baseline`] → [`model::Finding`]s) →
//! report (in the binary). Beside it, [`store`] keeps scans in SQLite and [`baseline`] keeps the
//! approved state in reviewable files. [`scan`] runs the pipeline for a set of pages.

pub mod alert;
pub mod approve;
pub mod baseline;
pub mod behaviour;
pub mod canary;
pub mod capture;
pub mod chain;
pub mod churn;
pub mod compare;
pub mod config;
pub mod csp;
pub mod evidence;
pub mod gate;
pub mod hints;
pub mod interact;
pub mod inventory;
pub mod model;
pub mod normalize;
pub mod policy;
pub mod pretty;
pub mod scan;
pub mod shop;
pub mod store;
pub mod watch;
