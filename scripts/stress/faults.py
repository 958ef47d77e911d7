#!/usr/bin/env python3
"""Faults against stress_app: resets mid-file, mid-stream and mid-SSE, files deleted or
truncated while being sent, blocking-pool saturation. Usage: faults.py PORT PID DIR"""
import os
import socket
import struct
import sys
import threading
import time

port, pid, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
failures = []


def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def get(path, extra=b""):
    s = connect()
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + extra + b"\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return data


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
    if not ok:
        failures.append(name)


def rst_after(path, nbytes):
    s = connect()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    got = 0
    while got < nbytes:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
    reset(s)


base = fds()
alive = get("/plaintext").endswith(b"Hello, World!")
check("server answers", alive)

# 1-3: resets in the middle of a file, a stream and an SSE stream, 200 of each, 20 at a time.
for path, nbytes in (("/files/64m.bin", 200_000), ("/stream-sync", 100), ("/sse", 10)):
    for _ in range(10):
        ts = [threading.Thread(target=rst_after, args=(path, nbytes)) for _ in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    time.sleep(1.5)  # the SSE producer notices at once; give the file senders their error
    now = fds()
    check(f"reset mid-{path}: descriptors back to baseline", now <= base + 2, f"({base} -> {now})")
    check(f"reset mid-{path}: server answers", get("/plaintext").endswith(b"Hello, World!"))

# 4: a file deleted while it is sent: the open file is still read whole.
data = os.urandom(32 << 20)
with open(os.path.join(root, "del.bin"), "wb") as f:
    f.write(data)
s = connect()
s.sendall(b"GET /files/del.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
buf = s.recv(1 << 20)
os.remove(os.path.join(root, "del.bin"))
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    buf += d
s.close()
body = buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""
check("file deleted during the send: complete, correct body", body == data, f"({len(body)} of {len(data)} bytes)")

# 5: a file truncated while it is sent: the connection ends short, no response follows.
with open(os.path.join(root, "trunc.bin"), "wb") as f:
    f.write(data)
s = connect()
s.sendall(b"GET /files/trunc.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
buf = s.recv(1 << 20)
os.truncate(os.path.join(root, "trunc.bin"), 1 << 20)
s.settimeout(10)
try:
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
except (ConnectionError, socket.timeout):
    pass
s.close()
check("file truncated during the send: cut short, nothing after it",
      len(buf) < len(data) and b"Hello, World!" not in buf, f"({len(buf)} bytes)")

# 6: blocking-pool saturation: more never-yielding iterators than pool threads.
hangers = []
for _ in range(8):
    h = connect()
    h.sendall(b"GET /hang HTTP/1.1\r\nHost: a\r\n\r\n")
    hangers.append(h)
time.sleep(0.5)
t0 = time.monotonic()
ok = all(get("/plaintext").endswith(b"Hello, World!") for _ in range(100))
took = time.monotonic() - t0
check("pool saturated: other routes still answer", ok and took < 2, f"(100 requests in {took:.2f}s)")
for h in hangers:
    reset(h)
now = fds()
print(f"descriptors: {base} at start, {now} at the end (8 never-yielding iterators still hold pool threads)")
sys.exit(1 if failures else 0)
