//! The Date header value, cached per thread: formatted at most once a second, so a response
//! costs a 29-byte copy instead of a calendar computation. The worker calls [`refresh`] from
//! a one-second timer; a thread without a timer gets a fresh value on first use.

use std::cell::RefCell;
use std::time::SystemTime;

/// Length of an IMF-fixdate: `Thu, 26 Nov 2026 09:00:00 GMT`.
pub const DATE_LEN: usize = 29;

thread_local! {
    static CACHE: RefCell<Option<[u8; DATE_LEN]>> = const { RefCell::new(None) };
}

fn format(now: SystemTime) -> [u8; DATE_LEN] {
    let mut out = [0u8; DATE_LEN];
    let s = httpdate::fmt_http_date(now);
    out.copy_from_slice(&s.as_bytes()[..DATE_LEN]);
    out
}

/// Reformats this thread's cached date from the clock.
pub fn refresh() {
    let value = format(SystemTime::now());
    CACHE.with(|c| *c.borrow_mut() = Some(value));
}

/// This thread's cached date, formatted on first use.
pub fn now() -> [u8; DATE_LEN] {
    CACHE.with(|c| {
        *c.borrow_mut()
            .get_or_insert_with(|| format(SystemTime::now()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_date_parses_back() {
        refresh();
        let d = now();
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&d).unwrap()).unwrap();
        let age = SystemTime::now().duration_since(parsed).unwrap_or_default();
        assert!(age.as_secs() <= 2);
    }
}
