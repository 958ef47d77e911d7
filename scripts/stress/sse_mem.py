#!/usr/bin/env python3
"""Server memory per open SSE stream, for one Accept-Encoding.

Usage: sse_mem.py PORT SERVER_PID N ENCODING   (ENCODING: none, zstd, gzip or br)
Opens N connections to /sse-hold, each reading the response head and its first body bytes
(the first events), waits for the server to settle, and prints the server's RSS growth per
open stream in KiB. The streams stay open until the figure is taken. Exits non-zero when a
stream fails or carries the wrong Content-Encoding (a stream that accepts only zstd is sent
as it is: streams are never zstd).
"""
import asyncio
import resource
import sys

PATH = "/sse-hold"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_stream(port, encoding):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ae = "" if encoding == "none" else f"Accept-Encoding: {encoding}\r\n"
    writer.write(f"GET {PATH} HTTP/1.1\r\nHost: a\r\n{ae}\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            fields[k.strip().lower()] = v.strip().decode()
    got = fields.get(b"content-encoding", "none")
    # Streams are never zstd (a zstd context per open stream costs too much): identity.
    expected = "none" if encoding == "zstd" else encoding
    if not head.startswith(b"HTTP/1.1 200") or got != expected:
        raise RuntimeError(f"{encoding}: unexpected answer {head!r}")
    # The first chunk: the first events, as the encoder flushed them.
    first = await asyncio.wait_for(reader.read(4096), 10)
    if not first:
        raise RuntimeError(f"{encoding}: stream closed before its first events")
    return reader, writer


async def main():
    port, pid, n, encoding = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Warm-up: the worker's first streams of this kind, closed again.
    warm = [await open_stream(port, encoding) for _ in range(10)]
    for _, w in warm:
        w.close()
    await asyncio.sleep(1)
    base = rss_kib(pid)
    streams = []
    batch = 200
    for i in range(0, n, batch):
        streams += await asyncio.gather(
            *(open_stream(port, encoding) for _ in range(min(batch, n - i)))
        )
    await asyncio.sleep(1)
    held = rss_kib(pid)
    per = (held - base) / n
    print(
        f"encoding={encoding} streams={n} server_rss_before={base}KiB "
        f"with_streams={held}KiB per_stream={per:.1f}KiB"
    )
    for _, w in streams:
        w.close()
    return per


per = asyncio.run(main())
print(f"RESULT {sys.argv[4]} {per:.1f}")
