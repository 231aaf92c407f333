//! Issue 10: hostile pages. Every page here is written by the attacker the monitor hunts, and
//! each test asserts what the monitor must do anyway: not crash, hang, go blind or be fooled.
//! One file per class of attack.

mod caps;
mod channels;
mod contain;
mod identity;
mod robust;
mod storage;
