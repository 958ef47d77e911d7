#!/usr/bin/env python3
"""Slow request bodies against a ringbolt server: each connection sends a head and the first
1 MiB - 4 KiB of its body at once, then one byte every 10 s.

Usage: slow_uploads.py PORT PID N KIND PATH DURATION
KIND is `multipart` (a file part of a multipart/form-data upload) or `length` (a plain body
of Content-Length 1 MiB). PID is the server's, whose VmRSS (/proc/PID/status) and open
descriptors are sampled every 0.25 s. Runs at most DURATION seconds. Prints when the server
cut each connection (the answer's arrival, or the close) and what the slow bodies cost the
server while they lasted; exits 0 when every connection was cut within 30 s.
"""
import asyncio
import os
import sys
import time

TARGET = 30.0
BURST = 1024 * 1024 - 4096
BOUNDARY = "slowuploadboundary"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def first_bytes(kind, path, i):
    if kind == "multipart":
        part = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; "
                f"filename=\"slow-{i}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n")
        length = 2 * 1024 * 1024
        head = (f"POST {path} HTTP/1.1\r\nHost: a\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {length}\r\n\r\n")
        return head.encode() + part.encode() + b"x" * BURST
    head = f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {1024 * 1024}\r\n\r\n"
    return head.encode() + b"x" * BURST


async def slow_body(port, kind, path, i, deadline, results):
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first_bytes(kind, path, i))
    await writer.drain()

    async def trickle():
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(10.0)
                writer.write(b"x")
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    sender = asyncio.ensure_future(trickle())
    status = "closed"
    try:
        left = deadline - time.monotonic()
        first = await asyncio.wait_for(reader.read(4096), timeout=max(left, 0.1))
        if first:
            status = first.split(b"\r\n", 1)[0].decode(errors="replace")
    except asyncio.TimeoutError:
        status = "still open"
    except (ConnectionError, OSError):
        status = "reset"
    cut = time.monotonic() - t0
    sender.cancel()
    writer.close()
    results.append((cut, status))


async def sample(pid, stop, samples):
    while not stop.is_set():
        try:
            samples.append((rss_kib(pid), fds(pid)))
        except OSError:
            return
        await asyncio.sleep(0.25)


async def main():
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    kind, path, duration = sys.argv[4], sys.argv[5], float(sys.argv[6])
    base_rss, base_fds = rss_kib(pid), fds(pid)
    deadline = time.monotonic() + duration
    results, samples, stop = [], [], asyncio.Event()
    sampler = asyncio.ensure_future(sample(pid, stop, samples))
    await asyncio.gather(*[slow_body(port, kind, path, i, deadline, results) for i in range(n)])
    await asyncio.sleep(2.5)  # the lingering closes end (2 s of quiet)
    stop.set()
    await sampler
    after_rss, after_fds = rss_kib(pid), fds(pid)
    peak_rss = max(r for r, _ in samples) if samples else base_rss
    peak_fds = max(f for _, f in samples) if samples else base_fds
    cuts = sorted(c for c, s in results if s not in ("still open",))
    statuses = {}
    for _, s in results:
        statuses[s] = statuses.get(s, 0) + 1
    in_time = [c for c in cuts if c <= TARGET]
    print(f"{kind} {path}: {n} connections, {len(in_time)} cut within {TARGET:.0f} s; "
          f"first cut after {cuts[0] if cuts else 0:.1f} s, last after {cuts[-1] if cuts else 0:.1f} s")
    print(f"{kind} {path}: answers: " + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())))
    print(f"{kind} {path}: server RSS {base_rss} KiB before, peak +{(peak_rss - base_rss) / 1024:.1f} MiB "
          f"({(peak_rss - base_rss) / max(n, 1):.0f} KiB per connection) while they lasted, "
          f"+{(after_rss - base_rss) / 1024:.1f} MiB after; descriptors {base_fds} before, "
          f"peak {peak_fds}, {after_fds} after")
    return len(in_time) == n


sys.exit(0 if asyncio.run(main()) else 1)
