//! A real HTTP/1.1 receiver on 127.0.0.1 for the webhook tests: records
//! every request (method, path, headers, body) and answers each one from a
//! scripted queue per path, 200 when its queue is empty. Just enough HTTP
//! for a client like reqwest: `Content-Length` bodies and keep-alive
//! connections. Plain std threads, so it works beside any runtime (the
//! binary under test runs in its own process anyway).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A scripted answer: status and extra headers.
type Reply = (u16, Vec<(String, String)>);

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    stop: AtomicBool,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let state = state.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Receiver {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request to `path` not yet answered gets `status` and
    /// `headers`; requests beyond the script get 200.
    pub fn then(&self, path: &str, status: u16, headers: &[(&str, &str)]) -> &Self {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.shared
            .script
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .push_back((status, headers));
        self
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
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
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
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
        let (status, extra) = shared
            .script
            .lock()
            .unwrap()
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or((200, Vec::new()));
        shared.requests.lock().unwrap().push(Request {
            method,
            path,
            headers,
            body,
            status,
        });
        // A scripted `X-Test-Delay-Ms` header holds the answer back (a slow
        // receiver, to catch a sender mid-send); it is not sent.
        let delay = extra
            .iter()
            .find(|(k, _)| k == "X-Test-Delay-Ms")
            .and_then(|(_, v)| v.parse::<u64>().ok());
        if let Some(ms) = delay {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let extra: Vec<_> = extra
            .into_iter()
            .filter(|(k, _)| k != "X-Test-Delay-Ms")
            .collect();
        let mut response = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in &extra {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("Content-Length: 0\r\n\r\n");
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Scripted",
    }
}
