//! Any bytes as a `Range` header against any file length: `parse_range` never panics and
//! its answer is exactly that of an independent, naive parser written from RFC 9110 §14.1.
//!
//! Input: 8 bytes little-endian `u64` (`len` = low 40 bits, `max_ranges` = the rest modulo
//! 33), then the field value. Checked:
//!
//! - nothing panics;
//! - the outcome equals the reference parser's (which also enforces the 1024-byte cap);
//! - `Partial` ranges are non-empty, within `[0, len)`, at most `max_ranges`, pairwise
//!   non-overlapping; `Unsatisfiable` only if the header is well-formed and every element
//!   is (which covers `len == 0`);
//! - `content_range` of each range reads back as the same range; for more than one range,
//!   `multipart_len` equals the sum of the parts as assembled.
//!
//! Good seeds: `bytes=0-0,-1`, `bytes=500-999`, `bytes=-500`, `bytes=9500-`,
//! `BYTES = 0-1`, `bytes=0-1, ,5-6`, `bytes=500-700,601-999`, each behind 8 length bytes.
#![no_main]

use std::ops::Range;

use libfuzzer_sys::fuzz_target;
use ringbolt::fs::range::{
    MAX_RANGE_HEADER_LEN, RangeOutcome, content_range, multipart_end, multipart_len,
    multipart_part_head, parse_range,
};

/// The reference: plain `str` code, no shared helpers with the crate.
fn reference(header: &[u8], len: u64, max: usize) -> RangeOutcome {
    let Ok(s) = std::str::from_utf8(header) else {
        // Any non-ASCII byte makes the unit or an element malformed.
        return RangeOutcome::Full;
    };
    if s.len() > MAX_RANGE_HEADER_LEN {
        return RangeOutcome::Full;
    }
    let ows: &[char] = &[' ', '\t'];
    let Some((unit, set)) = s.trim_matches(ows).split_once('=') else {
        return RangeOutcome::Full;
    };
    if unit.to_ascii_lowercase() != "bytes" {
        return RangeOutcome::Full;
    }
    let num = |t: &str| -> Option<u64> {
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let elements: Vec<&str> = set
        .split(',')
        .map(|e| e.trim_matches(ows))
        .filter(|e| !e.is_empty())
        .collect();
    if elements.is_empty() || elements.len() > max {
        return RangeOutcome::Full;
    }
    let mut out = Vec::new();
    for e in elements {
        let Some((a, b)) = e.split_once('-') else {
            return RangeOutcome::Full;
        };
        if a.is_empty() {
            let Some(n) = num(b) else {
                return RangeOutcome::Full;
            };
            if n > 0 && len > 0 {
                out.push(len.saturating_sub(n)..len);
            }
        } else {
            let Some(a) = num(a) else {
                return RangeOutcome::Full;
            };
            let last = if b.is_empty() {
                None
            } else {
                match num(b) {
                    Some(b) if b >= a => Some(b),
                    _ => return RangeOutcome::Full,
                }
            };
            if a < len {
                let end = match last {
                    Some(b) if b < len => b + 1,
                    _ => len,
                };
                out.push(a..end);
            }
        }
    }
    if out.is_empty() {
        return RangeOutcome::Unsatisfiable;
    }
    // Overlap, quadratically.
    for (i, x) in out.iter().enumerate() {
        for y in &out[i + 1..] {
            if x.start < y.end && y.start < x.end {
                return RangeOutcome::Full;
            }
        }
    }
    RangeOutcome::Partial(out)
}

/// Reads `bytes a-b/len` back.
fn read_content_range(v: &str) -> Option<(Range<u64>, u64)> {
    let (ab, len) = v.strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = ab.split_once('-')?;
    let b: u64 = b.parse().ok()?;
    Some((a.parse().ok()?..b + 1, len.parse().ok()?))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let raw = u64::from_le_bytes(data[..8].try_into().unwrap());
    let len = raw & ((1 << 40) - 1);
    let max = ((raw >> 40) % 33) as usize;
    let header = &data[8..];

    let got = parse_range(header, len, max);
    assert_eq!(
        got,
        reference(header, len, max),
        "len {len} max {max} {header:?}"
    );

    match &got {
        RangeOutcome::Full => {}
        RangeOutcome::Unsatisfiable => {
            // Some element exists, and none is satisfiable: with len > 0 nothing was kept.
            assert!(header.len() <= MAX_RANGE_HEADER_LEN);
        }
        RangeOutcome::Partial(ranges) => {
            assert!(len > 0);
            assert!(!ranges.is_empty() && ranges.len() <= max);
            for r in ranges {
                assert!(r.start < r.end && r.end <= len, "{r:?} of {len}");
                let cr = content_range(r, len);
                assert_eq!(read_content_range(&cr), Some((r.clone(), len)), "{cr}");
            }
            let mut sorted = ranges.clone();
            sorted.sort_by_key(|r| r.start);
            assert!(sorted.windows(2).all(|w| w[0].end <= w[1].start));
            if ranges.len() > 1 {
                let boundary = "0123456789abcdef01234567";
                for ct in [Some("application/octet-stream"), None] {
                    let assembled: u64 = ranges
                        .iter()
                        .map(|r| {
                            multipart_part_head(boundary, ct, r, len).len() as u64
                                + (r.end - r.start)
                        })
                        .sum::<u64>()
                        + multipart_end(boundary).len() as u64;
                    assert_eq!(multipart_len(boundary, ct, ranges, len), assembled);
                }
            }
        }
    }
});
