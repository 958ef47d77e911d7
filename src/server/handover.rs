//! Listening sockets handed from one process to the next: systemd socket activation
//! (`LISTEN_FDS`), and the in-place upgrade (SIGUSR2), where a running server starts the
//! binary again with its listening sockets inherited, waits until the new process accepts
//! connections, then drains and exits. The sockets never close in between, so no
//! connection attempt is refused or reset: what arrives meanwhile waits in their queues.
//!
//! Protocol between the two processes (environment variables of the new one):
//! `RINGBOLT_LISTEN_FDS` lists the inherited listening descriptors (`5,6`);
//! `RINGBOLT_ADMIN_FD` is the admin listener's socket, when there is one;
//! `RINGBOLT_READY_FD` is a pipe on which the new process writes one byte once it serves.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::process::{Child, Command};
use std::time::Duration;

use crate::transport::sys;

const LISTEN_FDS: &str = "RINGBOLT_LISTEN_FDS";
const READY_FD: &str = "RINGBOLT_READY_FD";
const ADMIN_FD: &str = "RINGBOLT_ADMIN_FD";

/// What this process was handed at startup: listening sockets from a previous ringbolt
/// process (`RINGBOLT_LISTEN_FDS`) or from systemd (`LISTEN_FDS` for this `LISTEN_PID`,
/// from descriptor 3), and the pipe to report readiness on (`RINGBOLT_READY_FD`).
#[derive(Debug, Default)]
pub struct Inherited {
    /// The listening sockets (empty: bind as configured).
    pub listeners: Vec<TcpListener>,
    /// The admin listener's socket (`None`: bind the configured admin address).
    pub admin: Option<TcpListener>,
    ready: Option<std::fs::File>,
}

/// Every inherited descriptor is taken by one owner only: a descriptor listed twice (or as
/// both a listener and the admin socket) would be owned, and closed, twice.
fn distinct(listeners: &[RawFd], admin: Option<RawFd>) -> io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for fd in listeners.iter().copied().chain(admin) {
        if !seen.insert(fd) {
            return Err(bad(format!(
                "inherited descriptor {fd} is listed twice ({LISTEN_FDS}, {ADMIN_FD})"
            )));
        }
    }
    Ok(())
}

impl Inherited {
    /// Takes what was handed over, and removes the variables that said so, so that no
    /// child process sees them.
    ///
    /// # Safety
    /// Changes the environment: call it before the process starts any thread (first thing
    /// in `main`), as for [`std::env::remove_var`].
    ///
    /// # Errors
    /// When a variable is malformed or a descriptor is not what it should be.
    pub unsafe fn take() -> io::Result<Inherited> {
        let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        let ready_var = var(READY_FD);
        let admin_var = var(ADMIN_FD);
        let fds: Vec<RawFd> = if let Some(list) = var(LISTEN_FDS) {
            list.split(',')
                .map(|s| s.trim().parse::<RawFd>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad(format!("{LISTEN_FDS}={list:?}")))?
        } else if let (Some(n), Some(pid)) = (var("LISTEN_FDS"), var("LISTEN_PID")) {
            if pid == std::process::id().to_string() {
                let n: RawFd = n.parse().map_err(|_| bad(format!("LISTEN_FDS={n:?}")))?;
                (3..3 + n).collect()
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        let admin_fd = match &admin_var {
            Some(v) => Some(
                v.parse::<RawFd>()
                    .map_err(|_| bad(format!("{ADMIN_FD}={v:?}")))?,
            ),
            None => None,
        };
        distinct(&fds, admin_fd)?;
        for name in [
            LISTEN_FDS,
            READY_FD,
            ADMIN_FD,
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
        ] {
            // SAFETY: the caller guarantees no other thread exists yet.
            unsafe { std::env::remove_var(name) };
        }
        let take = |fd: RawFd| -> io::Result<TcpListener> {
            if !sys::is_listening_tcp(fd) {
                return Err(bad(format!(
                    "inherited descriptor {fd} is not a listening TCP socket"
                )));
            }
            // Passed on to a child only through a handover.
            sys::set_cloexec(fd, true)?;
            // SAFETY: the descriptor was handed to this process to own (the protocol above),
            // is open (checked), and is taken once (the variable is gone).
            Ok(unsafe { TcpListener::from_raw_fd(fd) })
        };
        let listeners = fds.into_iter().map(take).collect::<io::Result<Vec<_>>>()?;
        let admin = admin_fd.map(take).transpose()?;
        let ready = match ready_var.and_then(|v| v.parse::<RawFd>().ok()) {
            Some(fd) if sys::is_pipe(fd) => {
                sys::set_cloexec(fd, true)?;
                // SAFETY: the pipe's write end was handed to this process to own, is open
                // (checked), and is taken once (the variable is gone).
                Some(unsafe { std::fs::File::from_raw_fd(fd) })
            }
            _ => None,
        };
        Ok(Inherited {
            listeners,
            admin,
            ready,
        })
    }

    /// Tells whoever started this process that it serves: the previous ringbolt process
    /// (through the pipe) and systemd (`NOTIFY_SOCKET`: `READY=1` and this `MAINPID`).
    pub fn notify_ready(&mut self) {
        if let Some(mut pipe) = self.ready.take() {
            let _ = pipe.write_all(b"1");
        }
        sd_notify(&format!("READY=1\nMAINPID={}", std::process::id()));
    }
}

/// Tells systemd the service is stopping.
pub fn notify_stopping() {
    sd_notify("STOPPING=1");
}

/// Sends `state` to systemd's notification socket, when there is one.
fn sd_notify(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    if let (Ok(addr), Ok(sock)) = (addr, UnixDatagram::unbound()) {
        let _ = sock.send_to_addr(state.as_bytes(), &addr);
    }
}

/// Starts this program again (same path and arguments as it was started with) with
/// `listeners` inherited, and waits up to `timeout` for it to serve. On success the caller
/// drains and exits; on failure the new process is gone and the caller keeps serving.
pub(crate) fn start_successor(
    listeners: &[TcpListener],
    admin: Option<&TcpListener>,
    timeout: Duration,
) -> io::Result<u32> {
    let mut args = std::env::args_os();
    let program = args.next().ok_or_else(|| bad("no program path".into()))?;
    let (mut ready_rx, ready_tx) = io::pipe()?;
    let fds: Vec<RawFd> = listeners.iter().map(AsRawFd::as_raw_fd).collect();
    let list = fds
        .iter()
        .map(RawFd::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // The child inherits exactly these descriptors; they are close-on-exec again at once.
    let admin_fd = admin.map(AsRawFd::as_raw_fd);
    let inherit: Vec<RawFd> = fds
        .iter()
        .copied()
        .chain([ready_tx.as_raw_fd()])
        .chain(admin_fd)
        .collect();
    for &fd in &inherit {
        sys::set_cloexec(fd, false)?;
    }
    let mut cmd = Command::new(&program);
    cmd.args(args)
        .env(LISTEN_FDS, &list)
        .env(READY_FD, ready_tx.as_raw_fd().to_string());
    match admin_fd {
        Some(fd) => cmd.env(ADMIN_FD, fd.to_string()),
        None => cmd.env_remove(ADMIN_FD),
    };
    let spawned = cmd.spawn();
    for &fd in &inherit {
        let _ = sys::set_cloexec(fd, true);
    }
    drop(ready_tx);
    let mut child: Child = spawned?;
    let pid = child.id();
    // One byte when it serves; end of file if it exits first.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let _ = tx.send(matches!(ready_rx.read(&mut byte), Ok(1)));
    });
    match rx.recv_timeout(timeout) {
        Ok(true) => {
            // Reaped by nobody: the new process outlives this one (systemd, or init, adopts it).
            std::mem::forget(child);
            Ok(pid)
        }
        Ok(false) => {
            let status = child.wait()?;
            Err(io::Error::other(format!(
                "the new process exited before serving ({status})"
            )))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(io::Error::other(format!(
                "the new process did not serve within {timeout:?}; stopped it"
            )))
        }
    }
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_inherited_descriptor_has_one_owner() {
        assert!(distinct(&[3, 4], Some(5)).is_ok());
        assert!(distinct(&[], None).is_ok());
        assert!(distinct(&[3, 3], None).is_err());
        assert!(distinct(&[3, 4], Some(4)).is_err());
    }
}
