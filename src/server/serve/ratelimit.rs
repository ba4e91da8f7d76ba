//! The per-client limit of sign-up requests: at most `limit` per client
//! address in a fixed window, counted in memory (a restart forgets them;
//! the per-address limit of mails is in the state and survives it). It
//! keeps a flood from one machine from sending confirmation mails to a
//! list of strangers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// More clients than this at once: windows that ended are dropped first.
const PRUNE_AT: usize = 10_000;

#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    window: Duration,
    /// Per client: when its window began, and how many requests in it.
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    pub fn new(limit: u32, window: Duration) -> Limiter {
        Limiter {
            limit,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `client` at `now`: `Ok`, or `Err(wait)` when
    /// the client is over its limit until `wait` has passed.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= PRUNE_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = seen.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(self.window.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_limit_waits_for_the_window_others_do_not() {
        let limiter = Limiter::new(2, Duration::from_secs(3600));
        let start = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.check(a, start).is_ok());
        assert!(limiter.check(a, start).is_ok());
        let wait = limiter
            .check(a, start + Duration::from_secs(600))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(3000));
        assert!(limiter.check(b, start).is_ok());
        assert!(limiter.check(a, start + Duration::from_secs(3600)).is_ok());
    }
}
