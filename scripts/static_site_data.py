#!/usr/bin/env python3
"""Writes the files of HttpArena's "static" profile into DIR/static/: 20 site files of the
profile's names, types and sizes (3-300 KB), and beside each text file a `.gz` (level 9)
and a `.br` (quality 11) sibling, as the profile ships them.

    scripts/static_site_data.py DIR

The text is generated, not copied: CSS rules, JavaScript functions, HTML markup, SVG paths
and a JSON manifest, with as much repetition as makes each file's gzip form about as large
as the profile's own (so the siblings come out near its sizes too). Fonts and images are
incompressible bytes behind their format's magic. The same names always give the same
bytes (seeded by name). Needs the `brotli` command (Debian package brotli).
"""

import gzip
import random
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

# name: (size, the profile's .gz size or None for a binary file)
FILES = {
    "reset.css": (8192, 2838),
    "layout.css": (25600, 6380),
    "theme.css": (18432, 5138),
    "components.css": (204800, 39348),
    "utilities.css": (61440, 13040),
    "analytics.js": (12288, 4390),
    "helpers.js": (22528, 7442),
    "app.js": (204800, 54813),
    "vendor.js": (307200, 79899),
    "router.js": (35840, 10856),
    "header.html": (122880, 11769),
    "footer.html": (56320, 8256),
    "regular.woff2": (18432, None),
    "bold.woff2": (22528, None),
    "logo.svg": (15344, 3654),
    "icon-sprite.svg": (71680, 13657),
    "hero.webp": (46080, None),
    "thumb1.webp": (8192, None),
    "thumb2.webp": (6144, None),
    "manifest.json": (2883, 927),
}

WORDS = (
    "header nav menu item link button card grid row col container title text muted primary "
    "secondary active disabled hidden visible modal dialog footer sidebar content panel list "
    "badge alert icon image media form input label select option table cell toggle tab"
).split()


def token(rng: random.Random, fresh: float) -> str:
    """A word from the small vocabulary, or (with probability `fresh`) a new random one."""
    if rng.random() < fresh:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    return rng.choice(WORDS)


def num(rng: random.Random, fresh: float) -> int:
    return rng.randrange(1000 if rng.random() < fresh else 8)


def line(kind: str, rng: random.Random, f: float) -> str:
    t = lambda: token(rng, f)  # noqa: E731
    n = lambda: num(rng, f)  # noqa: E731
    if kind == "css":
        return f".{t()}-{t()} {{ margin: {n()}px {n()}px; color: #{n():03x}{n():03x}; display: {t()}; }}\n"
    if kind == "js":
        return f"function {t()}_{t()}({t()}, {t()}) {{ if ({t()} > {n()}) return {t()}.{t()}({n()}); return null; }}\n"
    if kind == "html":
        return f'<div class="{t()} {t()}"><a href="/{t()}/{n()}">{t()} {t()}</a><span>{t()}</span></div>\n'
    if kind == "svg":
        return f'<path id="{t()}" d="M{n()} {n()}L{n()} {n()}C{n()} {n()} {n()} {n()} {n()} {n()}Z"/>\n'
    # json
    return f'  {{"src": "/static/{t()}-{n()}.png", "sizes": "{n()}x{n()}", "type": "image/{t()}"}},\n'


def text(name: str, size: int, fresh: float) -> bytes:
    kind = name.rsplit(".", 1)[1]
    rng = random.Random(name)
    head, tail = {
        "html": ("<!doctype html>\n<html><body>\n", "</body></html>\n"),
        "svg": ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">\n', "</svg>\n"),
        "json": ('{"name": "site", "icons": [\n', '  {"src": "/x.png"}]}\n'),
    }.get(kind, ("", ""))
    out = [head]
    length = len(head) + len(tail)
    while length < size:
        piece = line(kind, rng, fresh)
        out.append(piece)
        length += len(piece)
    body = "".join(out)[: size - len(tail)] + tail
    # The cut may fall anywhere in the last line: pad with spaces to the exact size.
    return body.encode().ljust(size, b" ")[:size]


def tuned(name: str, size: int, gz: int) -> bytes:
    """The text whose gzip form is closest to `gz` bytes (bisection on repetition)."""
    lo, hi = 0.0, 1.0
    best = text(name, size, 0.5)
    for _ in range(14):
        mid = (lo + hi) / 2
        best = text(name, size, mid)
        got = len(zlib.compress(best, 9))
        if got < gz:
            lo = mid
        else:
            hi = mid
    return best


def binary(name: str, size: int) -> bytes:
    rng = random.Random(name)
    magic = b"wOF2" if name.endswith(".woff2") else b"RIFF" + size.to_bytes(4, "little") + b"WEBP"
    return magic + rng.randbytes(size - len(magic))


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if shutil.which("brotli") is None:
        sys.exit("missing brotli (apt-get install brotli)")
    out = Path(sys.argv[1]) / "static"
    out.mkdir(parents=True, exist_ok=True)
    for name, (size, gz) in FILES.items():
        path = out / name
        data = binary(name, size) if gz is None else tuned(name, size, gz)
        path.write_bytes(data)
        if gz is None:
            continue
        (out / (name + ".gz")).write_bytes(gzip.compress(data, 9, mtime=0))
        subprocess.run(["brotli", "-f", "-q", "11", "-o", str(out / (name + ".br")), str(path)], check=True)


if __name__ == "__main__":
    main()
