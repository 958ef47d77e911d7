#!/usr/bin/env python3
"""Many concurrent keep-alive connections against one ringbolt worker, and the fd limit.

Usage: conns.py PORT SERVER_PID N
Opens N connections (in batches), sends a request on each and reads the answer, measures the
server's RSS with every connection idle, sends a second request on every connection, then
closes them. Prints figures and exits non-zero on any failure.
"""
import asyncio
import resource
import sys
import time

REQ = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
WANT = b"Hello, World!"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def request(reader, writer):
    writer.write(REQ)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200") or body != WANT:
        raise RuntimeError(f"bad response {head!r} {body!r}")


async def open_one(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
    await request(reader, writer)
    return reader, writer


async def main():
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base = rss_kib(pid)
    t0 = time.monotonic()
    conns = []
    batch = 500
    for i in range(0, n, batch):
        conns += await asyncio.gather(*(open_one(port) for _ in range(min(batch, n - i))))
    opened = time.monotonic() - t0
    await asyncio.sleep(1)
    idle = rss_kib(pid)
    per_conn = (idle - base) * 1024 / n
    t1 = time.monotonic()
    await asyncio.gather(*(request(r, w) for r, w in conns))
    again = time.monotonic() - t1
    ticks0 = cpu_ticks(pid)
    await asyncio.sleep(2)
    idle_cpu = cpu_ticks(pid) - ticks0
    for _, w in conns:
        w.close()
    print(f"connections={n} opened_and_served_in={opened:.2f}s second_round={again:.2f}s")
    print(f"server_rss_before={base}KiB with_{n}_idle={idle}KiB per_idle_connection={per_conn:.0f}B")
    print(f"server_cpu_ticks_while_idle_2s={idle_cpu}")
    return per_conn, idle_cpu


per_conn, idle_cpu = asyncio.run(main())
limit = 8 * 1024
ok = per_conn <= limit and idle_cpu <= 2
print(("PASS" if ok else "FAIL") + f" conns: all served twice; {per_conn:.0f} B per idle connection (target <= {limit}); idle CPU {idle_cpu} ticks in 2 s")
sys.exit(0 if ok else 1)
