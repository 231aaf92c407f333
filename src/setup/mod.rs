//! Setting skimwatch up: [`init`] turns one trial load of a page into a first, commented
//! `skimwatch.toml` (the card fields it found, the payment provider's hosts, a journey skeleton
//! when the page sent the visitor elsewhere); [`check`] validates a config and the alert
//! templates it names without scanning anything. Both use the stages before them as they are:
//! the trial is the scan's own capture, the check the config reader and the alert renderer.

pub mod check;
pub mod init;
