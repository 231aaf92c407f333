//! The canary reaches further: Referer, Cookie, pagehide beacons, popups and workers; the canary varies per scan.
