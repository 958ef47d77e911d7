//! Uploads saved to disk with flat memory, on io_uring and epoll; the server runs in this
//! process, so its RSS is the measure:
//! - a large multipart upload: the peak RSS (`VmHWM`, reset before each upload) may grow
//!   only by a bounded amount whatever the upload's size. The size is `RINGBOLT_UPLOAD_MIB`
//!   MiB (default 1024; a debug build takes about 11 s per driver on 2 cores);
//! - many uploads that stall: two waves of [`STALLED`] connections each send the start of a
//!   file, just under one write batch, then nothing. Once the server has read it all and had
//!   time to act on the stall, the memory in use (the RSS once the allocator has returned its
//!   free pages, `malloc_trim`) is at most [`MAX_STALLED_KIB_EACH`] per upload, and what is
//!   allocated (counted by this binary's allocator) at most [`MAX_ALLOCATED_KIB_EACH`]: their
//!   data went to their files instead of waiting in memory for the rest of a batch.
//!
//! Run with `--nocapture` to see the time and the RSS figures.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use common::*;
use ringbolt::fs::UploadDir;
use ringbolt::{Api, Driver, Error, Request};

/// The most the peak RSS may grow during one upload.
const MAX_GROWTH_KIB: u64 = 64 * 1024;

/// Uploads that stall at once.
const STALLED: usize = 100;

/// What each stalled upload sent of its file: a write batch less a page.
const STALLED_BYTES: usize = (1 << 20) - 4096;

/// The most memory one stalled upload may keep in use by the RSS, connection included (a
/// write batch is 1 MiB, the read step of a fast body 256 KiB; measured: 56–63 KiB).
const MAX_STALLED_KIB_EACH: u64 = 160;

/// The most bytes one stalled upload may keep allocated, connection included (measured:
/// 40–43 KiB, of which 16 KiB is the read waiting for more).
const MAX_ALLOCATED_KIB_EACH: u64 = 64;

/// Bytes the process has allocated and not freed, counted by [`Counting`]: what is in use,
/// whatever the allocator keeps of what was freed.
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The system allocator, counting the bytes in use in [`LIVE`].
struct Counting;

// SAFETY: every call is passed on to the system allocator unchanged; the counter is only
// updated beside it.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as it is.
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new) };
        if !p.is_null() {
            LIVE.fetch_add(new, std::sync::atomic::Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// KiB allocated and not freed in this process now.
fn live_kib() -> u64 {
    (LIVE.load(std::sync::atomic::Ordering::Relaxed) / 1024) as u64
}

/// The two cases share the process's RSS: they run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const BOUNDARY: &str = "upload-memory-boundary-1f0c";

/// One MiB of data the file is made of: varied bytes, with CR, LF and dashes in them.
fn block() -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..1 << 20)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match i % 4093 {
                0 => b'\r',
                1 => b'\n',
                2 | 3 => b'-',
                _ => x as u8,
            }
        })
        .collect()
}

/// CPU time this process used so far (every thread: client, worker, blocking pool), in
/// seconds.
fn cpu_seconds() -> f64 {
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a constant of the system; no memory is involved.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// A line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The bytes the server's sockets on `port` have received but the server not yet read
/// (`rx_queue` of /proc/net/tcp, for both directions of loopback connections).
fn unread_on(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields[1].rsplit(':').next()?, 16).ok()?;
            let rx = u64::from_str_radix(fields[4].split(':').nth(1)?, 16).ok()?;
            (local_port == port).then_some(rx)
        })
        .sum()
}

/// The head of a POST of one file part `name` announcing `len` bytes of data.
fn upload_head(name: &str, len: u64) -> Vec<u8> {
    let part = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail_len = format!("\r\n--{BOUNDARY}--\r\n").len() as u64;
    let total = part.len() as u64 + len + tail_len;
    format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {total}\r\n\r\n{part}"
    )
    .into_bytes()
}

fn app(dir: &std::path::Path) -> Api {
    let mut api = Api::new();
    api.state(UploadDir::new(dir).unwrap());
    api.post("/upload", |mut req: Request| async move {
        let uploads = req.state::<UploadDir>()?;
        let mut form = req.multipart()?;
        let mut total = 0;
        while let Some(mut field) = form.next_field().await? {
            let name = field.file_name().unwrap_or("unnamed").to_owned();
            total += field.save_to(uploads, &name).await?;
        }
        Ok::<_, Error>(total.to_string())
    })
    .body_limit(u64::MAX);
    api
}

on_both_drivers! {
    fn large_upload_keeps_memory_flat(driver: Driver) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mib: u64 = std::env::var("RINGBOLT_UPLOAD_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1024);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("upload-memory-{driver:?}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = start_api(driver, app(&dir));

        let block = block();
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n");
        let len = head.len() as u64 + (mib << 20) + tail.len() as u64;

        // The peak from here on is this upload's.
        std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
        let before = status_kib("VmRSS:");
        let started = std::time::Instant::now();
        let cpu = cpu_seconds();
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(std::time::Duration::from_secs(120));
        c.send(
            format!(
                "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; \
                 boundary={BOUNDARY}\r\nContent-Length: {len}\r\n\r\n{head}"
            )
            .as_bytes(),
        );
        for _ in 0..mib {
            c.send(&block);
        }
        c.send(tail.as_bytes());
        let r = c.response_to("POST");
        let took = started.elapsed();
        let cpu = cpu_seconds() - cpu;
        let peak = status_kib("VmHWM:");
        assert_eq!((r.status, r.text()), (200, (mib << 20).to_string().as_str()));

        let growth = peak.saturating_sub(before);
        eprintln!(
            "{driver:?}: {mib} MiB in {:.2} s ({:.0} MiB/s), {cpu:.2} s CPU (client and server); \
             RSS {before} KiB before, peak {peak} KiB, growth {growth} KiB",
            took.as_secs_f64(),
            mib as f64 / took.as_secs_f64()
        );
        assert!(growth < MAX_GROWTH_KIB, "peak RSS grew by {growth} KiB");

        // Every byte arrived where it belongs.
        let mut f = std::fs::File::open(dir.join("big.bin")).unwrap();
        assert_eq!(f.metadata().unwrap().len(), mib << 20);
        let mut back = vec![0; block.len()];
        for i in 0..mib {
            f.read_exact(&mut back).unwrap();
            assert!(back == block, "MiB {i} differs");
        }
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
        let _ = std::io::stderr().flush();
    }
}

/// Returns the heap's free pages to the system (every arena), so that the RSS counts what
/// is in use rather than what the allocator keeps for reuse.
fn trim() {
    // SAFETY: malloc_trim takes an integer and touches only the allocator's own state.
    unsafe { libc::malloc_trim(0) };
}

/// Opens [`STALLED`] uploads to `addr` that each send the head and [`STALLED_BYTES`] of a
/// file, then nothing; returns once the server has read all of it and had time to act on
/// the stall.
fn stall_uploads(addr: std::net::SocketAddr, wave: usize, data: &[u8]) -> Vec<Client> {
    let clients = (0..STALLED)
        .map(|i| {
            let mut c = Client::connect(addr);
            c.send(&upload_head(&format!("stalled-{wave}-{i}.bin"), 64 << 20));
            c.send(data);
            c
        })
        .collect();
    assert!(
        eventually(std::time::Duration::from_secs(20), || unread_on(
            addr.port()
        ) == 0),
        "the server read what was sent ({} bytes unread)",
        unread_on(addr.port())
    );
    std::thread::sleep(std::time::Duration::from_millis(1000));
    clients
}

on_both_drivers! {
    fn stalled_uploads_hold_little_memory(driver: Driver) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("upload-stalled-{driver:?}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = start_api(driver, app(&dir));
        let data = block();
        let data = &data[..STALLED_BYTES];

        trim();
        let before = status_kib("VmRSS:");
        let live_before = live_kib();
        let first = stall_uploads(s.local_addr(), 1, data);
        let one_wave = status_kib("VmRSS:");
        // A second wave, the first still stalled: what the first freed is used again.
        let second = stall_uploads(s.local_addr(), 2, data);
        let two_waves = status_kib("VmRSS:");
        let allocated = live_kib().saturating_sub(live_before);
        trim();
        let held = status_kib("VmRSS:").saturating_sub(before);
        eprintln!(
            "{driver:?}: allocated and in use with all {} stalled: +{allocated} KiB, {} KiB each",
            2 * STALLED,
            allocated / (2 * STALLED) as u64
        );
        eprintln!(
            "{driver:?}: {STALLED} uploads stalled after {STALLED_BYTES} bytes each: RSS {before} KiB \
             before, +{} KiB; {STALLED} more: +{} KiB; in use with all {} stalled (allocator \
             trimmed): +{held} KiB, {} KiB each",
            one_wave.saturating_sub(before),
            two_waves.saturating_sub(one_wave),
            2 * STALLED,
            held / (2 * STALLED) as u64
        );
        drop((first, second));
        s.shutdown().expect("shutdown");
        assert!(
            eventually(std::time::Duration::from_secs(5), || {
                std::fs::read_dir(&dir).unwrap().next().is_none()
            }),
            "the stalled uploads left files"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let _ = std::io::stderr().flush();
        assert!(
            held < MAX_STALLED_KIB_EACH * (2 * STALLED) as u64,
            "{} stalled uploads hold {held} KiB",
            2 * STALLED
        );
        assert!(
            allocated < MAX_ALLOCATED_KIB_EACH * (2 * STALLED) as u64,
            "{} stalled uploads keep {allocated} KiB allocated",
            2 * STALLED
        );
    }
}
