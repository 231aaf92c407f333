//! A real HTTP/1.1 receiver on loopback for the webhook tests: a thread per connection reads
//! each request (headers, `Content-Length` body) and answers as its [`Mode`] says — 200, another
//! status, or never (the connection stays open, unanswered, until the receiver is dropped). It
//! keeps every request with the status it got; waiting blocks on a condition variable with a
//! timeout.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `200 OK`.
    Ok,
    /// This status (`503`: down).
    Status(u16),
    /// Accepts the request and never answers.
    Hang,
}

/// One request as received, and what it was answered (0: not at all).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub answered: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

struct Shared {
    mode: Mutex<Mode>,
    requests: Mutex<Vec<Request>>,
    changed: Condvar,
    stop: AtomicBool,
}

pub struct HttpReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpReceiver {
    pub fn start(mode: Mode) -> HttpReceiver {
        HttpReceiver::start_on(0, mode)
    }

    pub fn start_on(port: u16, mode: Mode) -> HttpReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the test HTTP receiver");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            requests: Mutex::default(),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let shared = shared.clone();
                        std::thread::spawn(move || {
                            let _ = connection(stream, &shared);
                        });
                    }
                }
            })
        };
        HttpReceiver { addr, shared, thread: Some(thread) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests answered 2xx: what the sender counts as delivered.
    pub fn accepted(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| (200..300).contains(&r.answered)).collect()
    }

    /// Blocks until `done` holds for the requests so far or `timeout` passed; returns them.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut requests = self.shared.requests.lock().unwrap();
        while !done(&requests) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            requests = self.shared.changed.wait_timeout(requests, left).unwrap().0;
        }
        requests.clone()
    }

    /// Blocks until `n` requests were answered 2xx (or `timeout`); returns those.
    pub fn wait_for_accepted(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let ok = |r: &&Request| (200..300).contains(&r.answered);
        self.wait_until(timeout, |rs| rs.iter().filter(ok).count() >= n).iter().filter(ok).cloned().collect()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Release the connections held unanswered, and wake the accept loop.
        self.shared.changed.notify_all();
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn connection(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if input.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        input.read_exact(&mut body)?;
        let mode = *shared.mode.lock().unwrap();
        let answered = match mode {
            Mode::Ok => 200,
            Mode::Status(code) => code,
            Mode::Hang => 0,
        };
        {
            let mut requests = shared.requests.lock().unwrap();
            requests.push(Request { method, path, headers, body, answered });
            shared.changed.notify_all();
        }
        if mode == Mode::Hang {
            // Hold the connection, unanswered, until the receiver goes.
            let mut requests = shared.requests.lock().unwrap();
            while !shared.stop.load(Ordering::SeqCst) {
                requests = shared.changed.wait_timeout(requests, Duration::from_secs(1)).unwrap().0;
            }
            return Ok(());
        }
        let reason = if answered == 200 { "OK" } else { "Service Unavailable" };
        let text = if answered == 200 { "ok" } else { "down for maintenance" };
        write!(
            out,
            "HTTP/1.1 {answered} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )?;
        out.flush()?;
    }
}
