#!/usr/bin/env python3
"""The blocking pool held by application jobs that sleep, and the server's own file work.

Usage: pool.py PORT FILES_DIR N_BLOCK N_HANG
Opens N_BLOCK connections that each ask for `/block?ms=20000` (a spawn_blocking job that
sleeps 20 s) and N_HANG that ask for `/hang` (an iterator that sleeps an hour in `next`), and
keeps them open. Then, for 5 rounds, evicts a file from the page cache and times a GET of it
(cold file) and a GET of a name never asked for (a 404 that needs a lookup on disk). Prints
each figure, how the attacking requests were answered, and PASS/FAIL against 50 ms.
"""
import os
import socket
import sys
import threading
import time

TARGET_MS = 50.0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s, timeout):
    """(status, headers dict, body length) of one response with Content-Length."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        rest += chunk
    return status, headers, len(rest)


def timed_get(port, path):
    t0 = time.perf_counter()
    s = connect(port)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, n = read_response(s, 30)
    ms = (time.perf_counter() - t0) * 1e3
    s.close()
    return status, n, ms


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def main():
    port, files, n_block, n_hang = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    held = []
    answers = {}
    lock = threading.Lock()

    def attack(path):
        s = connect(port)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        held.append(s)
        try:
            status, headers, _ = read_response(s, 3)
            key = f"{status}" + (f" (Retry-After: {headers['retry-after']})" if "retry-after" in headers else "")
        except (socket.timeout, TimeoutError):
            key = "held (no answer within 3 s)"
        except Exception as e:  # noqa: BLE001
            key = f"error {e}"
        with lock:
            answers[key] = answers.get(key, 0) + 1

    threads = [threading.Thread(target=attack, args=("/block?ms=20000",)) for _ in range(n_block)]
    threads += [threading.Thread(target=attack, args=("/hang",)) for _ in range(n_hang)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("attack: " + ", ".join(f"{v} x {k}" for k, v in sorted(answers.items())))

    worst = 0.0
    for i in range(5):
        name = f"cold{i}.bin"
        evict(os.path.join(files, name))
        status, n, ms = timed_get(port, f"/files/{name}")
        print(f"cold file {name}: {status}, {n} bytes in {ms:.1f} ms")
        ok = status == 200 and n == os.path.getsize(os.path.join(files, name))
        worst = max(worst, ms if ok else float("inf"))
        status, _, ms = timed_get(port, f"/files/never-seen-{os.getpid()}-{i}.txt")
        print(f"404 for a new name: {status} in {ms:.1f} ms")
        worst = max(worst, ms if status == 404 else float("inf"))
    for s in held:
        s.close()
    verdict = "PASS" if worst < TARGET_MS else "FAIL"
    print(f"{verdict} pool: slowest cold file or new 404 {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
