//! A small HTTP/1.1 forward proxy on loopback, for tests of a monitor configured to browse
//! through one (and for the checkout that only infects proxied visitors).
//!
//! Chromium sends a proxy absolute-form requests (`GET http://127.0.0.1:4123/path HTTP/1.1`)
//! and keeps the connection open for the next one. Each request is read whole (its body by
//! `Content-Length`), logged, sent to the origin on a fresh connection with
//! `Via: 1.1 skimwatch-test-proxy` added and `Connection: close`, and the origin's whole answer
//! is passed back with its length set, so the client connection can carry the next request.
//! Plain `http://` only: `CONNECT` (https, WebSocket tunnels) is answered 405, and a chunked
//! request body 411. It forwards to loopback hosts only (`127.x.y.z`, `localhost`) and answers
//! anything else 403: Chromium sends its own background traffic (update checks, time sync)
//! through the proxy too, and a test must not reach the internet through it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The name the proxy gives itself in `Via`.
pub(crate) const VIA_NAME: &str = "skimwatch-test-proxy";

/// Hop-by-hop headers: they describe one connection, so a proxy must not pass them on.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A request head may not exceed this (a runaway client must not grow memory).
const MAX_HEAD: usize = 64 * 1024;

/// How long the origin may take to answer one request.
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The running proxy on `127.0.0.1:<ephemeral port>`. Dropping it stops it and closes every
/// connection still open.
pub struct Proxy {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Proxy {
    /// Binds the proxy and serves it from a runtime of its own in a dedicated thread (like
    /// [`crate::Shop::start_in_background`]), until the returned `Proxy` is dropped.
    pub fn start_in_background() -> io::Result<Proxy> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let (stop, mut stopped) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("skimwatch-test-proxy".to_string()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(listener.local_addr());
                loop {
                    tokio::select! {
                        // Ends on `true` or when the Proxy (holding the sender) is dropped.
                        _ = stopped.wait_for(|stop| *stop) => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                tokio::spawn(serve_client(stream, log.clone()));
                            }
                        }
                    }
                }
            });
            // Dropping the runtime here cancels the connection tasks: Chromium keeps idle
            // connections open, and they must not hold up the drop.
        })?;
        let addr = ready_rx.recv().map_err(|_| io::Error::other("the proxy's thread exited before it started"))??;
        Ok(Proxy { addr, requests, stop, thread: Some(thread) })
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`, as Chromium's `--proxy-server` takes it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request that came through, in arrival order, as `METHOD absolute-URL`
    /// (`GET http://127.0.0.1:4123/proxied/checkout`); refused ones (`CONNECT`, hosts off
    /// loopback: Chromium's own background requests) included.
    pub fn requests(&self) -> Vec<String> {
        crate::lock(&self.requests).clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One request as the client sent it.
struct Request {
    method: String,
    /// The absolute URL of the request line.
    target: String,
    /// Header lines in order, as `(name, value)`, names as sent.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the proxy does with what a client sent.
enum Received {
    Request(Request),
    /// The client closed the connection (between requests).
    Closed,
    /// A request the proxy refuses, with the status and reason to answer.
    Refused(u16, &'static str),
}

/// Serves one client connection: request after request until the client closes it, asks to
/// close it, or sends something the proxy refuses.
async fn serve_client(stream: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let request = match read_request(&mut reader, &log).await {
            Ok(Received::Request(request)) => request,
            Ok(Received::Refused(status, reason)) => {
                let _ = write.write_all(&simple_response(status, reason)).await;
                return;
            }
            Ok(Received::Closed) | Err(_) => return,
        };
        let close = request
            .header("proxy-connection")
            .or_else(|| request.header("connection"))
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        let answer = match forward(&request).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::debug!("test proxy: {} {}: {e}", request.method, request.target);
                let _ = write.write_all(&simple_response(502, "Bad Gateway")).await;
                return;
            }
        };
        let framed = frame_response(&answer, &request.method, close);
        if write.write_all(&framed).await.is_err() || close {
            return;
        }
    }
}

/// Reads one request: the head line by line, then `Content-Length` bytes of body.
async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    log: &Mutex<Vec<String>>,
) -> io::Result<Received> {
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(Received::Closed);
        }
        size += line.len();
        if size > MAX_HEAD {
            return Ok(Received::Refused(431, "Request Header Fields Too Large"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            // Empty lines before the request line are allowed (RFC 9112 §2.2).
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split(' ');
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(method), Some(target)) => (method.to_string(), target.to_string()),
        _ => return Ok(Received::Refused(400, "Bad Request")),
    };
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    crate::lock(log).push(format!("{method} {target}"));
    if method.eq_ignore_ascii_case("CONNECT") {
        return Ok(Received::Refused(405, "Method Not Allowed"));
    }
    if !target.starts_with("http://") {
        return Ok(Received::Refused(400, "Bad Request"));
    }
    if !is_loopback_target(&target) {
        return Ok(Received::Refused(403, "Forbidden"));
    }
    let mut request = Request { method, target, headers, body: Vec::new() };
    if request.header("transfer-encoding").is_some() {
        return Ok(Received::Refused(411, "Length Required"));
    }
    let length = match request.header("content-length").map(|value| value.parse::<usize>()) {
        None => 0,
        Some(Ok(length)) => length,
        Some(Err(_)) => return Ok(Received::Refused(400, "Bad Request")),
    };
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).await?;
    Ok(Received::Request(request))
}

/// Whether an absolute `http://` URL names a loopback host.
fn is_loopback_target(target: &str) -> bool {
    let rest = &target["http://".len()..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = host.split(':').next().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost") || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The origin's answer, body already de-chunked.
struct Answer {
    status_line: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends the request to its origin in origin-form over a new connection and reads the whole
/// answer (the origin closes after it, as asked).
async fn forward(request: &Request) -> io::Result<Answer> {
    let rest = &request.target["http://".len()..];
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let mut head = format!("{} {path} HTTP/1.1\r\n", request.method);
    let mut has_host = false;
    let mut via = None;
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        if lower == "via" {
            via = Some(value.clone());
            continue;
        }
        has_host |= lower == "host";
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_host {
        head.push_str(&format!("Host: {authority}\r\n"));
    }
    let via = match via {
        Some(earlier) => format!("{earlier}, 1.1 {VIA_NAME}"),
        None => format!("1.1 {VIA_NAME}"),
    };
    head.push_str(&format!("Via: {via}\r\nConnection: close\r\n\r\n"));

    let exchange = async {
        let mut origin = TcpStream::connect(&address).await?;
        origin.write_all(head.as_bytes()).await?;
        origin.write_all(&request.body).await?;
        let mut raw = Vec::new();
        origin.read_to_end(&mut raw).await?;
        Ok::<_, io::Error>(raw)
    };
    let raw = tokio::time::timeout(ORIGIN_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the origin did not answer in time"))??;
    parse_answer(&raw, &request.method)
}

fn parse_answer(raw: &[u8], method: &str) -> io::Result<Answer> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("origin answer: {what}"));
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| invalid("no end of head"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| invalid("status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let rest = &raw[end + 4..];
    let body = if method.eq_ignore_ascii_case("HEAD") || !has_body(status) {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        dechunk(rest).ok_or_else(|| invalid("chunked body"))?
    } else if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        rest.get(..length).ok_or_else(|| invalid("body shorter than its Content-Length"))?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Answer { status_line, status, headers, body })
}

/// 1xx, 204 and 304 answers never carry a body.
fn has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

/// Joins the chunks of a chunked body (trailers are dropped).
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// The answer as the proxy sends it to the client: the origin's status and end-to-end headers,
/// `Via`, the body's own length, and whether the client connection stays open.
fn frame_response(answer: &Answer, method: &str, close: bool) -> Vec<u8> {
    let mut head = format!("{}\r\n", answer.status_line);
    let keeps_length = method.eq_ignore_ascii_case("HEAD");
    for (name, value) in &answer.headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) || (lower == "content-length" && !keeps_length) {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Via: 1.1 {VIA_NAME}\r\n"));
    if has_body(answer.status) && !keeps_length {
        head.push_str(&format!("Content-Length: {}\r\n", answer.body.len()));
    }
    head.push_str(if close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" });
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&answer.body);
    bytes
}

/// A short answer from the proxy itself; it closes the connection.
fn simple_response(status: u16, reason: &str) -> Vec<u8> {
    let body = format!("{status} {reason}\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nVia: 1.1 {VIA_NAME}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_forwarded() {
        for target in ["http://127.0.0.1:4123/x", "http://127.0.0.4/", "http://localhost:80", "http://127.0.0.2:1?a"] {
            assert!(is_loopback_target(target), "{target}");
        }
        for target in ["http://clients2.google.com/time", "http://10.0.0.1:80/", "http://127.0.0.1.evil.example/"] {
            assert!(!is_loopback_target(target), "{target}");
        }
    }

    #[test]
    fn chunked_and_sized_answers_are_reframed() {
        assert_eq!(dechunk(b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n").as_deref(), Some(&b"Wikipedia"[..]));
        assert_eq!(dechunk(b"4\r\nWi"), None);
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nX-A: b\r\n\r\nokEXTRA";
        let answer = parse_answer(raw, "GET").unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
        let framed = String::from_utf8(frame_response(&answer, "GET", false)).unwrap();
        assert_eq!(
            framed,
            "HTTP/1.1 200 OK\r\nX-A: b\r\nVia: 1.1 skimwatch-test-proxy\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
        );
        let no_content = parse_answer(b"HTTP/1.1 204 No Content\r\n\r\n", "GET").unwrap();
        assert!(!String::from_utf8(frame_response(&no_content, "GET", true)).unwrap().contains("Content-Length"));
    }
}
