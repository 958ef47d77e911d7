"""How much server memory one hostile connection can pin: for each input, the server's RSS
before, at its peak while the input goes in, and while the connection is held open after
it. Usage: pin.py PORT PID. Prints one line per input and `PASS` when no connection pins
more than LIMIT_KIB (default 4096) once the input is in."""

import os
import socket
import sys
import threading
import time

PORT, PID = int(sys.argv[1]), int(sys.argv[2])
LIMIT_KIB = int(os.environ.get("LIMIT_KIB", "4096"))


def rss_kib():
    for line in open(f"/proc/{PID}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def connect(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", PORT))
    return s


class Peak:
    """Samples the server's RSS every 20 ms while running."""

    def __init__(self):
        self.peak = rss_kib()
        self.on = True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while self.on:
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.02)

    def stop(self):
        self.on = False
        self.t.join()
        return self.peak


def send_quietly(s, data):
    try:
        s.sendall(data)
        return True
    except OSError:
        return False


def crlf_flood(mib):
    s = connect()
    chunk = b"\r\n" * (512 * 1024)
    for _ in range(mib):
        if not send_quietly(s, chunk):
            break
    return s


def crlf_then_sse(mib):
    s = crlf_flood(mib)
    send_quietly(s, b"GET /sse-with-cleanup HTTP/1.1\r\nHost: a\r\n\r\n")
    return s


def big_head_then_sse():
    s = connect()
    filler = "X-Filler: " + "v" * (16 * 1024 - 120) + "\r\n"
    send_quietly(s, f"GET /sse-with-cleanup HTTP/1.1\r\nHost: a\r\n{filler}\r\n".encode())
    return s


def echo_unread():
    # The largest body a route takes (1 MiB by default), echoed back to a client that does
    # not read: the response stays in memory until the send rate cuts the client off.
    s = connect(rcvbuf=4096)
    body = b"z" * (1024 * 1024)
    head = f"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n"
    send_quietly(s, head.encode() + body)
    return s


def pipelined_unread():
    # Requests pipelined without ever reading an answer: the server stops reading once its
    # answers cannot be written.
    s = connect(rcvbuf=4096)
    s.setblocking(False)
    req = b"GET /bigjson HTTP/1.1\r\nHost: a\r\n\r\n" * 1000
    sent = 0
    end = time.time() + 3
    while time.time() < end:
        try:
            sent += s.send(req)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    s.setblocking(True)
    return s


CASES = [
    ("150 MiB of CRLF, no request", lambda: crlf_flood(150)),
    ("60 MiB of CRLF, then an SSE request", lambda: crlf_then_sse(60)),
    ("a 16 KiB head (the limit), then SSE", big_head_then_sse),
    ("POST /echo 1 MiB, response never read", echo_unread),
    ("GET /bigjson pipelined for 3 s, never read", pipelined_unread),
]

worst = 0
for name, attack in CASES:
    time.sleep(0.5)
    before = rss_kib()
    peak = Peak()
    s = attack()
    time.sleep(1.5)
    held = rss_kib()
    top = peak.stop()
    s.close()
    time.sleep(0.5)
    pinned = max(0, held - before)
    worst = max(worst, pinned)
    print(
        f"{name:45s} RSS before {before:7d} KiB  peak {top:7d} (+{top - before})  "
        f"held {held:7d} (+{pinned})  after close {rss_kib():7d}"
    )

ok = worst <= LIMIT_KIB
print(f"{'PASS' if ok else 'FAIL'} pin: the most one connection pinned was {worst} KiB (limit {LIMIT_KIB})")
sys.exit(0 if ok else 1)
