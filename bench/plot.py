#!/usr/bin/env python3
"""Plots the tables of docs/benchmarks.md as SVG bar charts (no third-party packages).

Usage: plot.py BENCHMARKS_MD OUT_DIR

For every bench section (`<!-- bench:NAME -->`), each Markdown table with a column whose
header mentions a rate ("/s") or a cost per item ("/msg", "/packet", "/pkt", "/fd",
"/op", "ns", "µs") gets one horizontal bar chart per such column: one bar per row,
labelled by the row's non-numeric cells. Output: OUT_DIR/NAME-K.svg, K counting the
charts of that section. `cargo xtask bench` runs it and links the charts.
"""

import html
import os
import re
import sys

METRIC = re.compile(r"/s\b|/msg|/packet|/pkt|/fd|/op|\bns\b|µs|\bus\b|MB/s", re.IGNORECASE)
NUMBER = re.compile(r"^[~≈]?\s*(-?[0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKMG]?)")
SCALE = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_number(cell):
    m = NUMBER.match(cell.strip().strip("*"))
    if not m:
        return None
    return float(m.group(1).replace(",", "").replace("_", "")) * SCALE[m.group(2)]


def tables(text):
    rows = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            if len(rows) > 2:
                yield rows[0], rows[2:]
            rows = []


def chart(title, labels, values):
    bar_h, gap, label_w, bar_w = 18, 6, 330, 360
    height = 40 + len(values) * (bar_h + gap)
    top = max(values) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 110}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="4" y="18" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 30 + i * (bar_h + gap)
        width = max(1.0, bar_w * value / top)
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{html.escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}" fill="#4a78b5"/>')
        shown = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
        out.append(f'<text x="{label_w + width + 4:.1f}" y="{y + 13}">{shown}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    md_path, out_dir = sys.argv[1], sys.argv[2]
    text = open(md_path, encoding="utf-8").read()
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.endswith(".svg"):
            os.remove(os.path.join(out_dir, old))
    for chunk in text.split("<!-- bench:")[1:]:
        name, _, body = chunk.partition(" -->")
        count = 0
        for header, rows in tables(body):
            for col, head in enumerate(header):
                if not METRIC.search(head):
                    continue
                values = [parse_number(r[col]) if col < len(r) else None for r in rows]
                keep = [(r, v) for r, v in zip(rows, values) if v is not None]
                if len(keep) < 2:
                    continue
                labels = [" · ".join(c for c in r if parse_number(c) is None)[:60] for r, _ in keep]
                count += 1
                path = os.path.join(out_dir, f"{name}-{count}.svg")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(chart(f"{name}: {head}", labels, [v for _, v in keep]))
                print(path)


if __name__ == "__main__":
    main()
