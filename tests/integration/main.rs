//! The one integration-test binary: every test drives the real `skimwatch` binary (or the
//! library against real Chromium) against servers the test binds on loopback. Shared harness
//! in [`util`]; one module per area.

mod util;

mod cli;
mod core_loop;
mod csp;
mod endpoint;
mod evasion;
mod evidence;
mod hostile;
mod install;
mod intel;
mod journeys;
mod layout;
mod privacy;
mod quiet;
mod release_gate;
mod setup;
mod wake;
mod watch;
mod webhooks;
