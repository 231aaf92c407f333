//! Disk stays bounded: pruning keeps what a baseline, an open finding or the last scans need; a full disk is an alert.
