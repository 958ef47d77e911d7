#!/usr/bin/env python3
"""Draws the raw results of scripts/bench.sh (its TSV) as an SVG chart.

    scripts/chart.py target/bench/latest.tsv -o target/bench/latest.svg
    scripts/chart.py RUN.tsv -o RUN.png        # the format follows the extension

One strip per row of the bench (endpoint or file), each with its own scale: on the left the
server's CPU time per response (per MiB sent for the file rows), on the right requests/s (MB/s
for the file rows); one bar per server, the median of the runs, with a whisker from the
lowest to the highest run when there were several. Needs matplotlib.
"""

import argparse
import csv
import statistics
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

PEER_COLOURS = {"nginx": "#2ca02c"}
COLOURS = ["#1f77b4", "#ff7f0e", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]


def read(path):
    meta, rows = {}, []
    with open(path, newline="") as f:
        lines = []
        for line in f:
            if line.startswith("#"):
                key, sep, value = line[1:].strip().partition(":")
                if sep:
                    meta[key.strip()] = value.strip()
            elif line.strip():
                lines.append(line)
    for r in csv.DictReader(lines, delimiter="\t"):
        rows.append(r)
    return meta, rows


def figures(rows):
    """{(row, server): {"cpu": [..], "thr": [..]}}, the rows and servers in order of appearance."""
    out, row_order, servers = {}, [], []
    for r in rows:
        row, server, file_row = r["row"], r["server"], r["kind"] == "file"
        if row not in row_order:
            row_order.append(row)
        if server not in servers:
            servers.append(server)
        cpu = float(r["cpu_us_per_mib"] if file_row else r["cpu_us_per_resp"])
        thr = float(r["mb_s"] if file_row else r["req_s"])
        d = out.setdefault((row, server), {"cpu": [], "thr": [], "file": file_row})
        d["cpu"].append(cpu)
        d["thr"].append(thr)
    return out, row_order, servers


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tsv")
    ap.add_argument("-o", "--output", required=True, help="chart file (.svg, or .png to look at)")
    args = ap.parse_args()

    meta, rows = read(args.tsv)
    data, row_order, seen = figures(rows)
    if not data:
        raise SystemExit(f"{args.tsv}: no results")
    # Servers: the ringbolts in the order bench.sh started them, then the peers.
    listed = meta.get("servers", "").split()
    servers = [s for s in listed if s in seen] + [s for s in seen if s not in listed]
    colours, k = {}, 0
    for s in servers:
        if s in PEER_COLOURS:
            colours[s] = PEER_COLOURS[s]
        else:
            colours[s] = COLOURS[k % len(COLOURS)]
            k += 1

    # Text stays text (no glyph outlines), with a short font list: a small SVG.
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "ringbolt-bench", "font.size": 8,
                         "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial"],
                         "font.monospace": ["DejaVu Sans Mono", "monospace"],
                         "axes.titlesize": 8.5, "axes.spines.top": False, "axes.spines.right": False})
    n = len(servers)
    strip = 0.22 * n + 0.62
    header = 1.25
    fig_h = header + strip * len(row_order) + 0.35
    fig, axes = plt.subplots(len(row_order), 2, figsize=(11, fig_h), squeeze=False,
                             gridspec_kw={"hspace": 0.5 / (0.22 * n + 0.12), "wspace": 0.12})

    ys = list(range(n))[::-1]
    for i, row in enumerate(row_order):
        file_row = any(data[(row, s)]["file"] for s in servers if (row, s) in data)
        units = [("CPU µs per MiB sent" if file_row else "CPU µs per response", "lower is better"),
                 ("MB/s" if file_row else "requests/s", "higher is better")]
        for col, key in enumerate(["cpu", "thr"]):
            ax = axes[i][col]
            vals, lo, hi, cols = [], [], [], []
            for s in servers:
                v = data.get((row, s), {}).get(key, [])
                m = statistics.median(v) if v else float("nan")
                vals.append(m)
                lo.append(m - min(v) if v else 0)
                hi.append(max(v) - m if v else 0)
                cols.append(colours[s])
            many = any(len(data.get((row, s), {}).get(key, [])) > 1 for s in servers)
            bars = ax.barh(ys, vals, color=cols, height=0.72,
                           xerr=[lo, hi] if many else None,
                           error_kw={"elinewidth": 0.8, "ecolor": "#333"})
            ax.bar_label(bars, labels=[fmt(v) if v == v else "" for v in vals], padding=4, fontsize=7.5)
            top = max((v + h for v, h in zip(vals, hi) if v == v), default=1) or 1
            ax.set_xlim(0, top * 1.22)
            ax.set_yticks(ys)
            ax.set_yticklabels(servers if col == 0 else [], fontsize=7.5)
            if col == 1:
                ax.tick_params(axis="y", length=0)
            ax.tick_params(axis="x", labelsize=7)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:,.10g}"))
            ax.grid(axis="x", linewidth=0.4, alpha=0.5)
            ax.set_axisbelow(True)
            name, better = units[col]
            title = f"{row}: {name} ({better})" if col == 0 else f"{name} ({better})"
            ax.set_title(title, loc="left", fontweight="bold" if col == 0 else "normal")

    lines = ["ringbolt bench" + (f" — {meta['date']}" if "date" in meta else "")]
    if "machine" in meta:
        lines.append(meta["machine"])
    if any(len(d["cpu"]) > 1 for d in data.values()):
        lines[-1] += "; bars: medians, whiskers: lowest to highest run"
    sub = []
    for key, prefix in (("command", "$ "), ("setup", "")):
        if key in meta:
            sub += textwrap.wrap(prefix + meta[key], 150, break_on_hyphens=False)
    fig.text(0.01, 1 - 0.12 / fig_h, lines[0], fontsize=11, fontweight="bold", va="top")
    fig.text(0.01, 1 - 0.42 / fig_h, "\n".join(lines[1:] + sub), fontsize=7, va="top", family="monospace",
             linespacing=1.35)
    fig.legend(handles=[Patch(color=colours[s], label=s) for s in servers], loc="upper right",
               bbox_to_anchor=(0.99, 1 - 0.08 / fig_h), ncol=min(n, 4), fontsize=7.5, frameon=False)
    extra = max(0, len(sub) - 2) * 0.12
    fig.subplots_adjust(left=0.1, right=0.97, top=1 - (header + extra) / fig_h, bottom=0.35 / fig_h)
    fig.savefig(args.output, metadata={"Date": None} if args.output.endswith(".svg") else None)


if __name__ == "__main__":
    main()
