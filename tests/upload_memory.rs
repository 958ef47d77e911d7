//! A large multipart upload saved to disk with flat memory, on io_uring and epoll: the
//! server runs in this process, so its peak RSS (`VmHWM`, reset before each upload) may
//! grow only by a bounded amount whatever the upload's size.
//!
//! The size is `RINGBOLT_UPLOAD_MIB` MiB (default 1024; a debug build takes about 11 s per
//! driver on 2 cores). Run with `--nocapture` to see the time and the RSS figures.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use common::*;
use ringbolt::fs::UploadDir;
use ringbolt::{Api, Driver, Error, Request};

/// The most the peak RSS may grow during one upload.
const MAX_GROWTH_KIB: u64 = 64 * 1024;

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
