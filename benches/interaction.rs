//! Scan time with the shopper's interaction against a plain load-and-watch scan of the same
//! page (issue 3), and what completing the checkout (`complete`, issue 16) costs over typing
//! (`type`): every mode side by side in one run, on the shop's checkouts (the card iframe, card
//! fields on the page, and the Magento-1 and WooCommerce checkouts). Real Chromium, the
//! embedded shop on loopback; every mode uses the same short settle time so the difference is
//! what the interaction costs.
//!
//! `cargo bench --bench interaction` (`SKIMWATCH_BENCH_RUNS=N` to change the runs per mode).

use skimwatch::capture::shopper::InteractMode;
use skimwatch::capture::{find_chromium, CaptureOptions, Chromium};
use skimwatch_testshop::{Checkout, Origin, Shop};
use std::time::{Duration, Instant};

fn main() {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): keep the suite fast.
    if !std::env::args().any(|a| a == "--bench") {
        println!("interaction benchmark: run it with `cargo bench --bench interaction`");
        return;
    }
    let runs: usize = std::env::var("SKIMWATCH_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async move {
        let shop = Shop::start().await.expect("start the shop");
        let exe = find_chromium(None).expect("chromium");
        let chromium = Chromium::launch(&exe).await.expect("launch chromium");
        let pages = [
            ("checkout (card iframe)", shop.checkout_url()),
            ("express (card fields on page)", shop.serve_express_checkout()),
            ("magento 1 one-page (4 steps)", shop.url(Origin::Shop, Checkout::Magento1.path())),
            ("woocommerce", shop.url(Origin::Shop, Checkout::WooCommerce.path())),
        ];
        let modes = InteractMode::ALL;
        println!("scan time per page load, {runs} runs each, settle 500 ms (median / min / max, ms)");
        println!(
            "{:<32} {:>20} {:>20} {:>20} {:>20} {:>18} {:>18}",
            "page",
            "interact = none",
            "interact = type",
            "type-and-submit",
            "complete",
            "complete - type",
            "complete - none"
        );
        for (name, url) in &pages {
            let mut cells = Vec::new();
            let mut medians = Vec::new();
            for mode in modes {
                let opts =
                    CaptureOptions { settle: Duration::from_millis(500), interact: mode, ..CaptureOptions::default() };
                // One warm-up load (caches of the browser process, not of the page: every
                // capture gets a fresh context).
                chromium.capture(url, &opts).await.expect("capture");
                let mut times = Vec::new();
                for _ in 0..runs {
                    let t = Instant::now();
                    let snap = chromium.capture(url, &opts).await.expect("capture");
                    times.push(t.elapsed().as_millis() as u64);
                    if mode != InteractMode::None {
                        // The snapshot holds the fields as capture saw them (`typed`); the
                        // inventory names them into `fields_typed` later.
                        assert!(!snap.interaction.as_ref().unwrap().typed.is_empty(), "the shopper typed");
                    }
                }
                times.sort_unstable();
                medians.push(times[times.len() / 2] as i64);
                cells.push(format!("{} / {} / {}", times[times.len() / 2], times[0], times[times.len() - 1]));
            }
            let median = |m: InteractMode| medians[modes.iter().position(|x| *x == m).unwrap_or(0)];
            let complete = median(InteractMode::Complete);
            let (over_type, over_none) = (complete - median(InteractMode::Type), complete - median(InteractMode::None));
            println!(
                "{:<32} {:>20} {:>20} {:>20} {:>20} {:>+18} {:>+18}",
                name, cells[0], cells[1], cells[2], cells[3], over_type, over_none
            );
        }
        chromium.close().await;
    });
}
