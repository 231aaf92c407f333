//! Caps are findings: floods and limits that drop data raise capture_truncated; search budgets cover the tail.
