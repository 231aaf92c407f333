//! Nothing a page does crashes, hangs or poisons a scan.
