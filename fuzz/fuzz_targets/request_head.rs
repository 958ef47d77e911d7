//! Any bytes: `parse_head` never panics, and a complete head, re-encoded canonically
//! (`METHOD SP target SP HTTP/1.x CRLF (name: value CRLF)* CRLF`), parses back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringbolt::http::{Head, Limits, Status, parse_head};

/// Everything a head says, as owned values that compare across buffers (not `len`).
fn view(h: &Head, s: &[u8]) -> impl PartialEq + std::fmt::Debug {
    let bytes = |r: &std::ops::Range<usize>| s[r.clone()].to_vec();
    let headers: Vec<_> = h.headers.iter().map(|f| (bytes(&f.name), bytes(&f.value))).collect();
    let (target, path, query) = (bytes(&h.target), bytes(&h.path), h.query.as_ref().map(bytes));
    (h.method.clone(), h.version, target, path, query, headers, h.body, h.connection, h.expect_continue)
}

fuzz_target!(|data: &[u8]| {
    let Ok(Status::Complete(a)) = parse_head(data, &Limits::default()) else { return };
    let mut buf = [format!("{} ", a.method).as_bytes(), &data[a.target.clone()]].concat();
    buf.extend(format!(" {:?}\r\n", a.version).bytes()); // Debug of http::Version: "HTTP/1.1"
    for f in &a.headers {
        buf.extend([&data[f.name.clone()], b": ", &data[f.value.clone()], b"\r\n"].concat());
    }
    buf.extend(b"\r\n");
    // CRLF for a bare LF and ": " for ":" can make the copy longer: give the limits room.
    let d = Limits::default();
    let roomy = Limits { max_request_line: d.max_request_line + 1, max_head: 2 * d.max_head, ..d };
    match parse_head(&buf, &roomy) {
        Ok(Status::Complete(b)) => assert_eq!(view(&a, data), view(&b, &buf)),
        r => panic!("re-encoded {:?} parsed as {r:?}", String::from_utf8_lossy(&buf)),
    }
});
