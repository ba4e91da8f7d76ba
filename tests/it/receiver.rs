//! A real HTTP/1.1 receiver on 127.0.0.1 for the webhook tests: records
//! every request (method, path, headers, body) and answers each one from a
//! scripted queue per path (status, headers, body, delay, or a huge body
//! streamed until the client stops reading), 200 when its queue is empty.
//! Just enough HTTP for a client like reqwest: `Content-Length` bodies and
//! keep-alive connections, over plain TCP or over TLS with a given
//! certificate (`start_tls`). Plain std threads, so it works beside any
//! runtime (the binary under test runs in its own process anyway).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body of {} is not JSON ({e}): {}",
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A scripted answer: status, extra headers and body.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How long to hold the answer back (a slow receiver).
    pub delay: Duration,
    /// Instead of `body`: claim a body of this many bytes and stream it
    /// until it is all sent or the client hangs up.
    pub huge_body: Option<u64>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// A body of `len` bytes (`Content-Length: len`), streamed in 64 KiB
    /// writes without ever being held in memory; [`Receiver::streamed`]
    /// tells how much of it went out before the client stopped reading.
    pub fn huge_body(mut self, len: u64) -> Reply {
        self.huge_body = Some(len);
        self
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    stop: AtomicBool,
    /// Connections accepted (a TLS handshake that failed counts too).
    connections: AtomicUsize,
    /// Bytes of `huge_body` replies written.
    streamed: AtomicU64,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    scheme: &'static str,
}

impl Receiver {
    pub fn start() -> Receiver {
        Self::start_with(None)
    }

    /// A receiver that speaks HTTPS with this PEM certificate and key (the
    /// webhook client trusts only the platform's CAs, so with the test CA
    /// of `helpers::test_pki` every handshake fails: a TLS failure).
    pub fn start_tls(cert: &Path, key: &Path) -> Receiver {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Self::start_with(Some(Arc::new(config)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(conn, stream), &state);
                    }
                    None => serve(stream, &state),
                });
            }
        });
        Receiver {
            addr,
            shared,
            accept: Some(accept),
            scheme,
        }
    }

    /// `http://127.0.0.1:<port><path>` (`https://` for `start_tls`).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Bytes of `huge_body` replies written so far.
    pub fn streamed(&self) -> u64 {
        self.shared.streamed.load(Ordering::SeqCst)
    }

    /// The next request to `path` not yet answered gets `status` and
    /// `headers`; requests beyond the script get 200.
    pub fn then(&self, path: &str, status: u16, headers: &[(&str, &str)]) -> &Self {
        let reply = headers
            .iter()
            .fold(Reply::status(status), |r, (k, v)| r.header(k, v));
        self.reply(path, reply)
    }

    /// `then` with a whole scripted [`Reply`].
    pub fn reply(&self, path: &str, reply: Reply) -> &Self {
        self.shared
            .script
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .push_back(reply);
        self
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// The requests to `path`, in order.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Answers the requests of one connection until the client closes it (or
/// is silent for long: a connection thread never outlives a test by much).
fn serve<S: Read + Write>(stream: S, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = shared
            .script
            .lock()
            .unwrap()
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| Reply::status(200));
        shared.requests.lock().unwrap().push(Request {
            method,
            path,
            headers,
            body,
            status: reply.status,
        });
        // A scripted `X-Test-Delay-Ms` header holds the answer back too (the
        // daemon tests script it as a header); it is not sent.
        let mut delay = reply.delay;
        let mut extra = Vec::new();
        for (name, value) in reply.headers {
            match value.parse::<u64>() {
                Ok(ms) if name == "X-Test-Delay-Ms" => delay = Duration::from_millis(ms),
                _ => extra.push((name, value)),
            }
        }
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut response = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (name, value) in &extra {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        let length = reply.huge_body.unwrap_or(reply.body.len() as u64);
        response.push_str(&format!("Content-Length: {length}\r\n\r\n"));
        if reply.huge_body.is_none() {
            response.push_str(&reply.body);
        }
        let writer = reader.get_mut();
        if writer.write_all(response.as_bytes()).is_err() || writer.flush().is_err() {
            return;
        }
        if let Some(len) = reply.huge_body {
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if writer.write_all(&chunk[..n]).is_err() {
                    // The client hung up: what it did not read is not sent.
                    return;
                }
                shared.streamed.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Scripted",
    }
}
