//! How many scans run at once: a fixed number, or as many as the machine's CPU and memory allow.
//!
//! A scan is mostly waiting: for the network, for the settle time, for the shopper's typing
//! (`interact = "type"` types at a human pace). A fixed concurrency is therefore either too low
//! for pages that type (the CPU idles) or too high for pages that do not (they queue for the
//! CPU and their timings stretch). With `[browser] max_pages = "auto"` (the default) the daemon
//! always runs up to one scan per core, and starts each further scan only while the CPU it may
//! use is less than [`BUSY_BELOW`] busy and memory has room for another page, one at a time
//! ([`RAMP`] apart, so that the load of the last one shows before the next starts), up to a cap
//! of [`AUTO_PER_CORE`] scans per core.
//!
//! "The CPU it may use" is the cgroup's quota when there is one (a container with a CPU limit:
//! `cpu.max` and `cpu.stat` of cgroup v2), else the whole machine (`/proc/stat`). Off Linux, or
//! when neither can be read, auto means one scan per core. With `[browser] endpoint` the
//! browser's CPU is not ours to measure (another container or machine): auto means
//! [`DEFAULT_MAX_PAGES`] then.

use crate::config::{MaxPages, DEFAULT_MAX_PAGES};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Further scans start only while the CPU is less busy than this.
pub const BUSY_BELOW: f64 = 0.80;
/// The least time between two scans started beyond one per core.
pub const RAMP: Duration = Duration::from_millis(1500);
/// Cap of `auto`, in scans per core (a page that types is idle most of the time).
pub const AUTO_PER_CORE: usize = 8;
/// Memory a further scan needs to be available (a Chromium renderer and its page).
pub const MEMORY_PER_PAGE: u64 = 300 << 20;
/// How often a scan waiting for the CPU looks again.
const RECHECK: Duration = Duration::from_millis(250);
/// The window CPU use is measured over.
const WINDOW: Duration = Duration::from_millis(500);

/// Hands out the right to run a scan. Cheap to share (`Arc`).
pub struct Admission {
    permits: Arc<Semaphore>,
    /// The scans that always run (one per core, or all of a fixed `max_pages`).
    floor: usize,
    cap: usize,
    auto: Option<Auto>,
}

/// The state of `auto`.
struct Auto {
    /// Scans admitted and not yet finished (those waiting for room hold a permit of the cap,
    /// but do not count here).
    active: Mutex<usize>,
    load: Mutex<LoadMeter>,
    last_extra: Mutex<Option<Instant>>,
    released: Notify,
}

/// A permit to run one scan; dropping it lets the next one in.
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    admission: Arc<Admission>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(auto) = &self.admission.auto {
            *crate::model::lock_or_recover(&auto.active) -= 1;
            auto.released.notify_waiters();
        }
    }
}

impl Admission {
    /// `remote_browser`: the browser runs elsewhere (`[browser] endpoint`).
    pub fn new(max_pages: MaxPages, remote_browser: bool) -> Arc<Admission> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (floor, cap, auto) = match max_pages {
            MaxPages::Fixed(n) => (n.max(1), n.max(1), None),
            MaxPages::Auto if remote_browser => (DEFAULT_MAX_PAGES, DEFAULT_MAX_PAGES, None),
            MaxPages::Auto => {
                let meter = LoadMeter::new();
                let cap = if meter.source.is_some() { (cores * AUTO_PER_CORE).min(64) } else { cores };
                return Admission::auto(cores, cap, meter);
            }
        };
        Arc::new(Admission { permits: Arc::new(Semaphore::new(cap)), floor, cap, auto })
    }

    fn auto(floor: usize, cap: usize, meter: LoadMeter) -> Arc<Admission> {
        let auto = Auto {
            active: Mutex::new(0),
            load: Mutex::new(meter),
            last_extra: Mutex::new(None),
            released: Notify::new(),
        };
        Arc::new(Admission { permits: Arc::new(Semaphore::new(cap)), floor, cap, auto: Some(auto) })
    }

    /// The most scans that may ever run at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Scans running now (admitted, not finished).
    pub fn running(&self) -> usize {
        match &self.auto {
            Some(auto) => *crate::model::lock_or_recover(&auto.active),
            None => self.cap - self.permits.available_permits(),
        }
    }

    /// Waits until one more scan may run. `None` when the admission is closed (never, today).
    pub async fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        if let Some(auto) = &self.auto {
            while !self.enter(auto) {
                let released = auto.released.notified();
                tokio::select! {
                    _ = released => {}
                    _ = tokio::time::sleep(RECHECK) => {}
                }
            }
        }
        Some(Admitted { _permit: permit, admission: self.clone() })
    }

    /// Counts the scan as active when it may start now: always below the floor, beyond it
    /// when [`room`] says so (and then the ramp starts again from now). Decided and counted
    /// under one lock, so two waiting scans cannot both take the last place.
    fn enter(&self, auto: &Auto) -> bool {
        let mut active = crate::model::lock_or_recover(&auto.active);
        if *active < self.floor || self.take_room(auto, *active) {
            *active += 1;
            return true;
        }
        false
    }

    fn take_room(&self, auto: &Auto, active: usize) -> bool {
        let mut last = crate::model::lock_or_recover(&auto.last_extra);
        let busy = crate::model::lock_or_recover(&auto.load).busy();
        let memory = available_memory();
        let go = room(last.map(|t| t.elapsed()), busy, memory);
        tracing::trace!(?busy, ?memory, active, go, "admission");
        if go {
            *last = Some(Instant::now());
        }
        go
    }
}

/// The rule for a scan beyond one per core: the last such scan started at least [`RAMP`] ago,
/// the CPU is known and less than [`BUSY_BELOW`] busy, and memory (when known) has
/// [`MEMORY_PER_PAGE`] free.
fn room(since_last_extra: Option<Duration>, busy: Option<f64>, memory: Option<u64>) -> bool {
    since_last_extra.map_or(true, |d| d >= RAMP)
        && busy.is_some_and(|b| b < BUSY_BELOW)
        && memory.map_or(true, |m| m >= MEMORY_PER_PAGE)
}

// ---------------------------------------------------------------------------------------------
// measuring
// ---------------------------------------------------------------------------------------------

/// Where CPU use is read from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum LoadSource {
    /// cgroup v2 with a CPU quota of this many cores.
    Cgroup { cores: f64 },
    /// The whole machine.
    Machine,
}

/// One reading: CPU time used and time available so far, in the source's units.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    busy: f64,
    total: f64,
}

/// CPU use over the last [`WINDOW`] or more, from two readings.
struct LoadMeter {
    source: Option<LoadSource>,
    last: Option<(Instant, Reading)>,
    value: Option<f64>,
}

const CGROUP: &str = "/sys/fs/cgroup";

impl LoadMeter {
    fn new() -> LoadMeter {
        let source =
            match std::fs::read_to_string(Path::new(CGROUP).join("cpu.max")).ok().and_then(|s| cgroup_quota(&s)) {
                Some(cores) => Some(LoadSource::Cgroup { cores }),
                None => std::fs::read_to_string("/proc/stat")
                    .ok()
                    .and_then(|s| machine_reading(&s))
                    .map(|_| LoadSource::Machine),
            };
        LoadMeter { source, last: None, value: None }
    }

    fn read(&self) -> Option<Reading> {
        match self.source? {
            LoadSource::Cgroup { cores } => {
                let used = cgroup_usage(&std::fs::read_to_string(Path::new(CGROUP).join("cpu.stat")).ok()?)?;
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
                Some(Reading { busy: used, total: now.as_secs_f64() * cores })
            }
            LoadSource::Machine => machine_reading(&std::fs::read_to_string("/proc/stat").ok()?),
        }
    }

    /// The busy fraction (0–1) between the last reading at least [`WINDOW`] old and now; the
    /// previous value while the window is still filling; `None` before the first window.
    fn busy(&mut self) -> Option<f64> {
        let now = Instant::now();
        match self.last {
            Some((at, _)) if now.duration_since(at) < WINDOW => {}
            Some((at, before)) if now.duration_since(at) < WINDOW * 4 => {
                let after = self.read()?;
                self.value = busy_between(before, after);
                self.last = Some((now, after));
            }
            // No reading, or one too old to say anything about now: start a new window.
            _ => {
                self.last = self.read().map(|r| (now, r));
                self.value = None;
            }
        }
        self.value
    }
}

fn busy_between(before: Reading, after: Reading) -> Option<f64> {
    let total = after.total - before.total;
    (total > 0.0).then(|| ((after.busy - before.busy) / total).clamp(0.0, 1.0))
}

/// `/proc/stat`'s first line, `cpu user nice system idle iowait irq softirq steal …`, in
/// ticks: idle and iowait are free; everything else (steal too: the CPU is not ours then) busy.
fn machine_reading(stat: &str) -> Option<Reading> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line.split_whitespace().skip(1).take(8).map(|t| t.parse().ok()).collect::<Option<_>>()?;
    if ticks.len() < 5 {
        return None;
    }
    let total: f64 = ticks.iter().sum();
    Some(Reading { busy: total - ticks[3] - ticks[4], total })
}

/// cgroup v2 `cpu.max`, `"QUOTA PERIOD"` or `"max PERIOD"`: the quota in cores, if limited.
fn cgroup_quota(max: &str) -> Option<f64> {
    let mut parts = max.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then_some(quota / period)
}

/// cgroup v2 `cpu.stat`'s `usage_usec`, in seconds.
fn cgroup_usage(stat: &str) -> Option<f64> {
    let usec: f64 = stat.lines().find_map(|l| l.strip_prefix("usage_usec "))?.trim().parse().ok()?;
    Some(usec / 1e6)
}

/// Memory available for another page: the machine's `MemAvailable`, and the cgroup's headroom
/// (`memory.max` − `memory.current`) when it has a limit. `None` when neither can be read.
fn available_memory() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| mem_available(&m));
    let cgroup = (|| {
        let max: u64 = std::fs::read_to_string(Path::new(CGROUP).join("memory.max")).ok()?.trim().parse().ok()?;
        let current: u64 =
            std::fs::read_to_string(Path::new(CGROUP).join("memory.current")).ok()?.trim().parse().ok()?;
        Some(max.saturating_sub(current))
    })();
    match (machine, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `/proc/meminfo`'s `MemAvailable:  123 kB`, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let kb: u64 =
        meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_counts_idle_and_iowait_as_free_and_steal_as_busy() {
        let r = machine_reading("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3 4 5\n").unwrap();
        assert_eq!(r, Reading { busy: 190.0, total: 1000.0 });
        assert_eq!(machine_reading("intr 1 2 3\n"), None);
        assert_eq!(machine_reading("cpu  1 x 3 4 5\n"), None);
        let later = Reading { busy: 190.0 + 60.0, total: 1000.0 + 100.0 };
        assert_eq!(busy_between(r, later), Some(0.6));
        assert_eq!(busy_between(r, r), None, "no time passed: no figure");
    }

    #[test]
    fn cgroup_files_give_the_quota_and_the_usage() {
        assert_eq!(cgroup_quota("200000 100000\n"), Some(2.0));
        assert_eq!(cgroup_quota("50000 100000"), Some(0.5));
        assert_eq!(cgroup_quota("max 100000\n"), None, "no limit: the machine's CPU counts");
        assert_eq!(cgroup_usage("usage_usec 2500000\nuser_usec 2000000\n"), Some(2.5));
        assert_eq!(cgroup_usage("user_usec 1\n"), None);
        assert_eq!(mem_available("MemTotal: 10 kB\nMemAvailable:   2048 kB\n"), Some(2 << 20));
    }

    #[test]
    fn a_scan_beyond_one_per_core_needs_idle_cpu_free_memory_and_the_ramp() {
        let idle = Some(0.3);
        assert!(room(None, idle, None));
        assert!(room(Some(RAMP), idle, Some(MEMORY_PER_PAGE)));
        assert!(!room(Some(RAMP / 2), idle, None), "the last one's load has not shown yet");
        assert!(!room(None, Some(0.9), None), "the CPU is busy");
        assert!(!room(None, None, None), "CPU use not known yet");
        assert!(!room(None, idle, Some(MEMORY_PER_PAGE - 1)), "no memory for another page");
    }

    #[tokio::test]
    async fn scans_waiting_for_room_do_not_hold_the_floor() {
        // CPU use that cannot be read: never room beyond the floor of 2.
        let a = Admission::auto(2, 8, LoadMeter { source: None, last: None, value: None });
        let mut held = vec![a.admit().await.unwrap(), a.admit().await.unwrap()];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            let (a, tx) = (a.clone(), tx.clone());
            tokio::spawn(async move {
                let admitted = a.admit().await;
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(admitted);
            });
        }
        let early = tokio::time::timeout(RECHECK * 3, rx.recv()).await;
        assert!(early.is_err(), "no room beyond the floor");
        assert_eq!(a.running(), 2, "waiting scans are not running");
        drop(held.pop());
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert!(next.is_ok(), "a finished scan lets a waiting one in");
        assert_eq!(a.running(), 2);
        let again = tokio::time::timeout(RECHECK * 3, rx.recv()).await;
        assert!(again.is_err(), "and only one");
    }

    #[tokio::test]
    async fn fixed_admits_exactly_max_pages() {
        let a = Admission::new(MaxPages::Fixed(2), false);
        let (one, two) = (a.admit().await.unwrap(), a.admit().await.unwrap());
        assert_eq!((a.cap(), a.running()), (2, 2));
        let third = tokio::time::timeout(Duration::from_millis(50), a.admit()).await;
        assert!(third.is_err(), "a third scan waits");
        drop(one);
        let third = tokio::time::timeout(Duration::from_secs(5), a.admit()).await.expect("admitted after a release");
        assert_eq!(a.running(), 2);
        drop((two, third));
        assert_eq!(a.running(), 0);
    }

    #[tokio::test]
    async fn auto_always_admits_one_scan_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let a = Admission::new(MaxPages::Auto, false);
        assert!(a.cap() >= cores);
        let mut held = Vec::new();
        for _ in 0..cores {
            let admitted = tokio::time::timeout(Duration::from_secs(1), a.admit()).await;
            held.push(admitted.expect("the floor never waits for the CPU").unwrap());
        }
        assert_eq!(a.running(), cores);
        let remote = Admission::new(MaxPages::Auto, true);
        assert_eq!(remote.cap(), DEFAULT_MAX_PAGES, "a remote browser's CPU is not ours to measure");
    }
}
