//! Downloads of files whose pages are not in the page cache, on io_uring and on epoll: the
//! bytes arrive whole and right, the server reports reading the cold windows in off the
//! worker (`ringbolt_file_cold_reads_total`), and meanwhile another connection on the same
//! worker keeps being answered.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use ringbolt::fs::StaticDir;
use ringbolt::{Config, Driver};

const SIZE: usize = 48 << 20;
/// Downloads at once, each of its own file.
const FILES: usize = 4;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The byte at `i` of each file: known without reading the file again (which would warm it).
fn byte_at(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Every file's bytes, made once.
fn expected() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| (0..SIZE).map(byte_at).collect())
}

/// One test at a time: the two drivers' downloads would share the disk and the two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// FILES files of SIZE bytes written to disk, then dropped from the page cache.
fn cold_files() -> Dir {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ringbolt-cold-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for chunk in expected().chunks(1 << 20) {
        for n in 0..FILES {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("cold{n}.bin")))
                .unwrap();
            f.write_all(chunk).unwrap();
        }
    }
    for n in 0..FILES {
        let f = std::fs::File::open(dir.join(format!("cold{n}.bin"))).unwrap();
        f.sync_all().unwrap();
        // SAFETY: the descriptor is `f`'s, open for the call; fadvise reads no memory of ours.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0, "posix_fadvise");
    }
    Dir(dir)
}

/// Reads one response with a body of SIZE bytes and checks every byte.
fn download(addr: std::net::SocketAddr, n: usize) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(format!("GET /cold/cold{n}.bin HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let body_start = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the head".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let text = String::from_utf8_lossy(&head[..body_start]).to_ascii_lowercase();
    if !text.starts_with("http/1.1 200") || !text.contains(&format!("content-length: {SIZE}")) {
        return Err(format!("unexpected head: {text}"));
    }
    let mut at = 0usize;
    let check = |bytes: &[u8], at: &mut usize| -> Result<(), String> {
        for (j, b) in bytes.iter().enumerate() {
            if *b != byte_at(*at + j) {
                return Err(format!("byte {} differs", *at + j));
            }
        }
        *at += bytes.len();
        Ok(())
    };
    check(&head[body_start..], &mut at)?;
    while at < SIZE {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("closed after {at} of {SIZE} bytes"));
        }
        check(&buf[..n.min(SIZE - at)], &mut at)?;
    }
    Ok(())
}

on_both_drivers! {
    fn a_cold_download_leaves_the_worker_free(driver: Driver) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = cold_files();
        let mut api = test_api();
        api.mount("/cold", StaticDir::new(&dir.0));
        let config = Config {
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            admin: Some("127.0.0.1:0".parse().unwrap()),
            ..Config::default()
        };
        let server = ringbolt::ServerBuilder::config(config).spawn(api).expect("server starts");
        let addr = server.local_addr();

        // Another connection on the same (only) worker, timing each answer while the
        // download runs.
        let mut probe = Client::connect(addr);
        probe.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(probe.response().status, 200);
        let done = Arc::new(AtomicU32::new(0));
        let (tx, rx) = mpsc::channel();
        let downloaders: Vec<_> = (0..FILES)
            .map(|n| {
                let (done, tx) = (Arc::clone(&done), tx.clone());
                std::thread::spawn(move || {
                    let r = download(addr, n);
                    done.fetch_add(1, Ordering::SeqCst);
                    tx.send(r).unwrap();
                })
            })
            .collect();
        let mut worst = Duration::ZERO;
        let mut answered = 0;
        let started = Instant::now();
        while done.load(Ordering::SeqCst) < FILES as u32 {
            let t = Instant::now();
            probe.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(probe.response().status, 200);
            worst = worst.max(t.elapsed());
            answered += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        let took = started.elapsed();
        for d in downloaders {
            d.join().unwrap();
        }
        for _ in 0..FILES {
            rx.recv().unwrap().expect("each download is whole and right");
        }
        eprintln!("{driver:?}: {answered} answers during {FILES} cold downloads ({took:?}), slowest {worst:?}");
        // Every window sent was first looked up in the page cache; the cold ones were read
        // in on the blocking pool (a window is 2 MiB: a send that found none cold would not
        // have looked).
        let metrics = cold_metrics(server.admin_addr().unwrap());
        assert!(metrics.0 >= 1, "cold windows read in off the worker: {metrics:?}");
        assert!(metrics.1 <= (FILES * SIZE) as u64, "{metrics:?}");
        // A worker that waited for the disk for a whole download would hold the probe for
        // its length; this bound is loose enough for a busy machine.
        assert!(worst < Duration::from_millis(250), "slowest answer {worst:?} during the downloads");
    }
}

/// `ringbolt_file_cold_reads_total` and `ringbolt_file_cold_read_bytes_total`, scraped.
fn cold_metrics(admin: std::net::SocketAddr) -> (u64, u64) {
    let r = roundtrip(admin, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
    let value = |name: &str| {
        r.text()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    (
        value("ringbolt_file_cold_reads_total "),
        value("ringbolt_file_cold_read_bytes_total "),
    )
}
