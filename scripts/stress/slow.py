#!/usr/bin/env python3
"""Slowloris and slow-read clients against a ringbolt server.

Usage: slow.py PORT N BIG_PATH DURATION
Opens N connections that trickle a request head one byte a second, and N that request
BIG_PATH and read one byte a second through a 4 KiB receive buffer, and keeps them going for
DURATION seconds. Prints when each slowloris connection saw the server answer or close.
(A slow reader cannot see the server give up until it has drained its buffer: the caller
watches the server's descriptors instead.)
"""
import asyncio
import socket
import sys
import time


async def slowloris(port, deadline, cut_after):
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"x" * 10_000

    async def trickle():
        for b in head:
            if time.monotonic() > deadline:
                return
            writer.write(bytes([b]))
            await asyncio.sleep(1.0)

    sender = asyncio.ensure_future(trickle())
    try:
        while await reader.read(4096):
            pass
    except (ConnectionError, OSError):
        pass
    cut_after.append(time.monotonic() - t0)
    sender.cancel()
    writer.close()


async def slow_reader(port, path, deadline):
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, ("127.0.0.1", port))
        await loop.sock_sendall(s, f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            try:
                s.recv(1)
            except BlockingIOError:
                pass
    except (ConnectionError, OSError):
        pass
    finally:
        s.close()


async def main():
    port, n, big, duration = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    deadline = time.monotonic() + duration
    cut = []
    tasks = [slowloris(port, deadline, cut) for _ in range(n)]
    tasks += [slow_reader(port, big, deadline) for _ in range(n)]
    await asyncio.gather(*tasks)
    in_time = [t for t in cut if t < duration - 1]
    print(f"slowloris: {len(in_time)}/{n} answered 408 and closed by the server, "
          f"slowest after {max(in_time) if in_time else 0:.1f}s")
    return len(in_time) == n


sys.exit(0 if asyncio.run(main()) else 1)
