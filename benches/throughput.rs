//! Throughput against the browser's floor (issue 12): skimwatch and a bare chromiumoxide client
//! that does only what any monitor must (launch Chromium, a fresh context per page, goto, the
//! load event, the same settle, list the scripts) measured side by side in one run, on the same
//! shop page, with the same settle and no interaction. Both run as child processes, and CPU is
//! the whole process tree's (the bench is the tree's subreaper, so Chromium's helpers count
//! too); the shop serving the page runs in this process and counts for neither.
//!
//! Printed: one page in a fresh process (CPU-s, median of `SKIMWATCH_BENCH_RUNS`), 12 pages at
//! concurrency 4 (wall, CPU-s per page, pages per minute), pages per minute with the default
//! `interact = "type"`, the best fixed concurrency against `watch` choosing by CPU
//! (`max_pages = "auto"`), and the watch daemon's own RSS (Chromium excluded) after
//! `SKIMWATCH_BENCH_DAEMON_SCANS` scans (default 1000, the figure).
//! `SKIMWATCH_BENCH_ONLY=daemon` measures only the RSS row, `SKIMWATCH_BENCH_ONLY=auto` only the
//! best fixed concurrencies against `watch` choosing by CPU.
//!
//! `cargo bench --bench throughput`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SETTLE: Duration = Duration::from_secs(2);
const PAGES: usize = 12;
const CONCURRENCY: usize = 4;
/// Pages and concurrencies for the "best concurrency for the machine" rows.
const WIDE_PAGES: usize = 24;
const WIDE_CONCURRENCY: [usize; 3] = [4, 6, 8];
/// Typing is mostly waiting (key delays), so it overlaps further.
const TYPE_CONCURRENCY: [usize; 3] = [4, 8, 12];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("floor") {
        floor_main(&args[2..]);
        return;
    }
    // `cargo test --all-targets` runs bench targets too (without `--bench`): keep the suite fast.
    if !args.iter().any(|a| a == "--bench") {
        println!("throughput benchmark: run it with `cargo bench --bench throughput`");
        return;
    }
    let runs: usize = env_number("SKIMWATCH_BENCH_RUNS", 5);
    let daemon_scans: usize = env_number("SKIMWATCH_BENCH_DAEMON_SCANS", 1000);
    become_subreaper();
    let shop = skimwatch_testshop::Shop::start_in_background().expect("start the shop");
    let url = shop.checkout_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = skimwatch::capture::find_chromium(None).expect("chromium");
    if std::env::var("SKIMWATCH_BENCH_ONLY").as_deref() == Ok("daemon") {
        print_rss(dir.path(), &url, daemon_scans);
        return;
    }
    if std::env::var("SKIMWATCH_BENCH_ONLY").as_deref() == Ok("auto") {
        print_auto(dir.path(), &url, &exe);
        return;
    }

    println!("throughput: the shop's checkout, settle {} s, no interaction, {runs} runs for medians", SETTLE.as_secs());
    // Warm the page cache for both (binary, Chromium, fonts), so neither pays a cold start.
    measure(&mut floor_cmd(&exe, 1, 1, &url));
    measure(&mut skimwatch_cmd(&config(dir.path(), "warm", &url, 1, "none"), 1));

    let mut sw_one = Vec::new();
    let mut floor_one = Vec::new();
    for i in 0..runs {
        floor_one.push(measure(&mut floor_cmd(&exe, 1, 1, &url)).1);
        sw_one.push(measure(&mut skimwatch_cmd(&config(dir.path(), &format!("one{i}"), &url, 1, "none"), 1)).1);
    }
    let (sw_one, floor_one) = (median(&mut sw_one), median(&mut floor_one));

    let (floor_wall, floor_cpu) = measure(&mut floor_cmd(&exe, PAGES, CONCURRENCY, &url));
    let many = config(dir.path(), "many", &url, PAGES, "none");
    let (sw_wall, sw_cpu) = measure(&mut skimwatch_cmd(&many, CONCURRENCY));
    let typing = config(dir.path(), "type", &url, PAGES, "type");
    let (type_wall, _) = measure(&mut skimwatch_cmd(&typing, CONCURRENCY));
    // The best concurrency for the machine, for each: more pages, so that the last round does
    // not dominate.
    let wide = config(dir.path(), "wide", &url, WIDE_PAGES, "none");
    let typing_wide = config(dir.path(), "type-wide", &url, WIDE_PAGES, "type");
    let best = |walls: Vec<(usize, Duration)>| walls.into_iter().min_by_key(|(_, w)| *w).expect("a run");
    let (sw_best_c, sw_best) =
        best(WIDE_CONCURRENCY.iter().map(|&c| (c, measure(&mut skimwatch_cmd(&wide, c)).0)).collect());
    let (floor_best_c, floor_best) =
        best(WIDE_CONCURRENCY.iter().map(|&c| (c, measure(&mut floor_cmd(&exe, WIDE_PAGES, c, &url)).0)).collect());
    let (type_best_c, type_best) =
        best(TYPE_CONCURRENCY.iter().map(|&c| (c, measure(&mut skimwatch_cmd(&typing_wide, c)).0)).collect());
    // The daemon choosing for itself (`max_pages = "auto"`, the default): one round of `watch`.
    let (auto_wall, _) = measure(&mut watch_once_cmd(&config(dir.path(), "auto", &url, WIDE_PAGES, "none")));
    let (auto_type_wall, _) = measure(&mut watch_once_cmd(&config(dir.path(), "auto-type", &url, WIDE_PAGES, "type")));

    let ppm = |wall: Duration| PAGES as f64 * 60.0 / wall.as_secs_f64();
    let per_page = |cpu: f64| cpu / PAGES as f64;
    println!();
    println!("| | skimwatch | floor (chromiumoxide, skimwatch's Chromium flags: launch, fresh context, goto, load + {} s, list scripts) | ratio | goal |", SETTLE.as_secs());
    println!("|---|---|---|---|---|");
    println!(
        "| one page, fresh process (launch + scan + exit), CPU-s, median of {runs} | {sw_one:.2} | {floor_one:.2} | {:.2}× | ≤ 1.2× |",
        sw_one / floor_one
    );
    println!(
        "| {PAGES} pages at concurrency {CONCURRENCY}: wall s / CPU-s per page | {:.1} / {:.2} | {:.1} / {:.2} | {:.2}× CPU | ≤ 1.1× CPU |",
        sw_wall.as_secs_f64(),
        per_page(sw_cpu),
        floor_wall.as_secs_f64(),
        per_page(floor_cpu),
        sw_cpu / floor_cpu
    );
    println!(
        "| pages per minute at concurrency {CONCURRENCY} | {:.1} | {:.1} | {:.2}× | ≥ 0.95× |",
        ppm(sw_wall),
        ppm(floor_wall),
        ppm(sw_wall) / ppm(floor_wall)
    );
    let wide_ppm = |wall: Duration| WIDE_PAGES as f64 * 60.0 / wall.as_secs_f64();
    println!(
        "| pages per minute at the best concurrency ({WIDE_PAGES} pages; tried {WIDE_CONCURRENCY:?}) | {:.1} (at {sw_best_c}) | {:.1} (at {floor_best_c}) | {:.2}× | ≥ 0.95× |",
        wide_ppm(sw_best),
        wide_ppm(floor_best),
        wide_ppm(sw_best) / wide_ppm(floor_best)
    );
    println!("| pages per minute, interact = \"type\", concurrency {CONCURRENCY} | {:.1} | — | | |", ppm(type_wall));
    println!(
        "| pages per minute, interact = \"type\", best concurrency (tried {TYPE_CONCURRENCY:?}) | {:.1} (at {type_best_c}) | — | | |",
        wide_ppm(type_best)
    );

    println!(
        "| pages per minute, `watch` with max_pages = \"auto\" ({WIDE_PAGES} pages), no interaction | {:.1} | {:.1} (best, at {floor_best_c}) | {:.2}× | ≥ 0.95× |",
        wide_ppm(auto_wall),
        wide_ppm(floor_best),
        wide_ppm(auto_wall) / wide_ppm(floor_best)
    );
    println!(
        "| pages per minute, `watch` with max_pages = \"auto\", interact = \"type\" | {:.1} | {:.1} (skimwatch's best fixed, at {type_best_c}) | {:.2}× | |",
        wide_ppm(auto_type_wall),
        wide_ppm(type_best),
        wide_ppm(auto_type_wall) / wide_ppm(type_best)
    );
    print_rss(dir.path(), &url, daemon_scans);
}

/// The best fixed concurrency (the floor's and skimwatch's with typing) against `watch` with
/// `max_pages = "auto"`, in one run.
fn print_auto(dir: &Path, url: &str, exe: &Path) {
    let wide_ppm = |wall: Duration| WIDE_PAGES as f64 * 60.0 / wall.as_secs_f64();
    let best = |walls: Vec<(usize, Duration)>| walls.into_iter().min_by_key(|(_, w)| *w).expect("a run");
    measure(&mut floor_cmd(exe, 1, 1, url));
    let (floor_c, floor_best) =
        best(WIDE_CONCURRENCY.iter().map(|&c| (c, measure(&mut floor_cmd(exe, WIDE_PAGES, c, url)).0)).collect());
    let auto = config(dir, "auto", url, WIDE_PAGES, "none");
    let (auto_wall, _) = measure(&mut watch_once_cmd(&auto));
    let typing = config(dir, "type-wide", url, WIDE_PAGES, "type");
    let (type_c, type_best) =
        best(TYPE_CONCURRENCY.iter().map(|&c| (c, measure(&mut skimwatch_cmd(&typing, c)).0)).collect());
    let (auto_type_wall, _) = measure(&mut watch_once_cmd(&config(dir, "auto-type", url, WIDE_PAGES, "type")));
    println!("| | skimwatch `watch`, max_pages = \"auto\" | best fixed | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| pages per minute, {WIDE_PAGES} pages, no interaction | {:.1} | {:.1} (floor, at {floor_c}) | {:.2}× |",
        wide_ppm(auto_wall),
        wide_ppm(floor_best),
        wide_ppm(auto_wall) / wide_ppm(floor_best)
    );
    println!(
        "| pages per minute, {WIDE_PAGES} pages, interact = \"type\" | {:.1} | {:.1} (skimwatch, at {type_c}) | {:.2}× |",
        wide_ppm(auto_type_wall),
        wide_ppm(type_best),
        wide_ppm(auto_type_wall) / wide_ppm(type_best)
    );
}

fn print_rss(dir: &Path, url: &str, daemon_scans: usize) {
    let (rss_early, rss_late) = daemon_rss(dir, url, daemon_scans);
    println!(
        "| watch daemon RSS without Chromium, after 20 / {daemon_scans} scans, MB | {:.1} / {:.1} | — | | ≤ 40 MB after 1000 |",
        rss_early, rss_late
    );
    let _ = std::io::stdout().flush();
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Orphaned descendants (Chromium's helpers, when their parent went first) are reparented to
/// this process, so their CPU time is counted in `RUSAGE_CHILDREN` once reaped.
fn become_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).expect("prctl(PR_SET_CHILD_SUBREAPER)");
}

/// User + system CPU seconds of every reaped descendant so far.
fn children_cpu() -> f64 {
    use nix::sys::time::TimeValLike;
    let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    (ru.user_time().num_microseconds() + ru.system_time().num_microseconds()) as f64 / 1e6
}

/// Reaps every child left (descendants reparented to this subreaper included).
fn reap_all() {
    while nix::sys::wait::waitpid(None, None).is_ok() {}
}

/// Runs `cmd` to its end; returns its wall time and the CPU seconds of its whole process tree.
fn measure(cmd: &mut Command) -> (Duration, f64) {
    let before = children_cpu();
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().expect("run the command");
    let wall = start.elapsed();
    // Reap whatever of the tree is still exiting, so its CPU is counted.
    reap_all();
    let code = out.status.code();
    assert!(matches!(code, Some(0) | Some(1)), "{cmd:?} exited {code:?}: {}", String::from_utf8_lossy(&out.stderr));
    (wall, children_cpu() - before)
}

fn skimwatch_cmd(config: &Path, jobs: usize) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skimwatch"));
    cmd.arg("--config").arg(config).args(["-q", "scan", "--format", "json", "--jobs", &jobs.to_string()]);
    cmd
}

/// One round of the watch daemon over the config's pages (`watch --once`).
fn watch_once_cmd(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skimwatch"));
    cmd.arg("--config").arg(config).args(["-q", "watch", "--once"]);
    cmd
}

fn floor_cmd(exe: &Path, pages: usize, concurrency: usize, url: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("bench exe"));
    cmd.arg("floor").arg(exe).args([&pages.to_string(), &concurrency.to_string(), url]);
    cmd
}

/// A config of `pages` pages (all the same URL, named apart) in its own folder.
fn config(dir: &Path, name: &str, url: &str, pages: usize, interact: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).expect("config folder");
    let mut toml = format!("[browser]\nsettle = \"{}s\"\n", SETTLE.as_secs());
    for i in 0..pages {
        toml.push_str(&format!("\n[[page]]\nname = \"p{i}\"\nurl = \"{url}\"\ninteract = \"{interact}\"\n"));
    }
    let path = folder.join("skimwatch.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

/// The watch daemon's own resident memory (MB, Chromium not included: it is another process)
/// after 20 and after `scans` scans of four pages scanned back to back.
fn daemon_rss(dir: &Path, url: &str, scans: usize) -> (f64, f64) {
    let folder = dir.join("daemon");
    std::fs::create_dir_all(&folder).expect("daemon folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let mut toml = format!("[watch]\nlisten = {port}\n\n[browser]\nsettle = \"0s\"\nmax_pages = 4\n");
    for i in 0..4 {
        toml.push_str(&format!(
            "\n[[page]]\nname = \"d{i}\"\nurl = \"{url}\"\ninteract = \"none\"\ninterval = \"1s\"\n"
        ));
    }
    let config = folder.join("skimwatch.toml");
    std::fs::write(&config, toml).expect("write config");
    // As the shipped systemd unit and container image run it: glibc's per-thread malloc arenas
    // (up to 8 per core) fragment under the blocking pool, and the RSS creeps up ~30 KB per
    // scan without the cap.
    let arenas = std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "2".into());
    let mut child = Command::new(env!("CARGO_BIN_EXE_skimwatch"))
        .env("MALLOC_ARENA_MAX", arenas)
        .arg("--config")
        .arg(&config)
        .args(["-q", "watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let rss = |pid: u32| -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    };
    let deadline = Instant::now() + Duration::from_secs(60 + scans as u64 * 3);
    let mut early = None;
    loop {
        let done = scans_total(port);
        if early.is_none() && done >= 20 {
            early = Some(rss(child.id()));
        }
        if done >= scans as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon scanned only {done} pages");
        assert!(child.try_wait().expect("daemon status").is_none(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(200));
    }
    let late = rss(child.id());
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
    reap_all();
    (early.unwrap_or(late), late)
}

/// `skimwatch_scans_total` summed over pages and outcomes, from the daemon's `/metrics`.
fn scans_total(port: u16) -> u64 {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines()
        .filter(|l| l.starts_with("skimwatch_scans_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The floor, in its own process: `floor CHROMIUM PAGES CONCURRENCY URL`.
fn floor_main(args: &[String]) {
    let [exe, pages, concurrency, url] = args else { panic!("floor CHROMIUM PAGES CONCURRENCY URL") };
    let (pages, concurrency): (usize, usize) =
        (pages.parse().expect("pages"), concurrency.parse().expect("concurrency"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async move {
        use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams};
        use futures::StreamExt;
        let profile = tempfile::tempdir().expect("profile");
        // The same browser as skimwatch runs (its command line, no sandbox as root), so the
        // difference is what skimwatch does with it.
        let config = chromiumoxide::BrowserConfig::builder()
            .chrome_executable(exe)
            .disable_default_args()
            .new_headless_mode()
            .user_data_dir(profile.path())
            .args(skimwatch::capture::chromium_args())
            .build()
            .expect("browser config");
        let (browser, mut handler) = chromiumoxide::Browser::launch(config).await.expect("launch chromium");
        let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
        let browser = std::sync::Arc::new(browser);
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..pages {
            let (b, slots, url) = (browser.clone(), slots.clone(), url.clone());
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await.expect("slot");
                let ctx = b.create_browser_context(CreateBrowserContextParams::default()).await.expect("context");
                let target = CreateTargetParams::builder()
                    .url("about:blank")
                    .browser_context_id(ctx.clone())
                    .build()
                    .expect("target");
                let page = b.new_page(target).await.expect("page");
                page.goto(url.as_str()).await.expect("goto");
                tokio::time::sleep(SETTLE).await;
                let scripts: Vec<String> = page
                    .evaluate("Array.from(document.scripts, s => s.src || s.text)")
                    .await
                    .expect("list scripts")
                    .into_value()
                    .expect("script list");
                assert!(!scripts.is_empty());
                page.close().await.expect("close page");
                b.dispose_browser_context(ctx).await.expect("dispose context");
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("floor page");
        }
        let Ok(mut browser) = std::sync::Arc::try_unwrap(browser) else { panic!("pages still hold the browser") };
        let _ = browser.close().await;
        let _ = browser.wait().await;
        events.abort();
    });
}
