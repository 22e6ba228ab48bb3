#!/usr/bin/env python3
"""Recall / false-alarm trade-off plot (SVG, no dependencies) from `crymodel detect --sweep` outputs.

usage: detector-tradeoff.py NAME=FILE [NAME=FILE ...] > docs/detector-tradeoff.svg
Each FILE holds the stdout of `crymodel detect ... --labels L --sweep`; its '# sweep' rows are
(parameter, recall, false alarms per hour, ...). The x axis is log-scaled (0 is drawn at 0.1).
"""
import math, sys

W, H, L, R, T, B = 640, 420, 70, 20, 30, 60
XMIN, XMAX = 0.1, 1000.0
colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
# Optional leading options: --target=FA (the false-alarm target line, default 2), --xlabel=TEXT.
TARGET, XLABEL = 2.0, "false alarms per hour"
while len(sys.argv) > 1 and sys.argv[1].startswith("--"):
    k, v = sys.argv.pop(1)[2:].split("=", 1)
    if k == "target":
        TARGET = float(v)
    elif k == "xlabel":
        XLABEL = v

def x_of(fa):
    v = max(fa, XMIN)
    return L + (math.log10(v) - math.log10(XMIN)) / (math.log10(XMAX) - math.log10(XMIN)) * (W - L - R)

YMIN = 0.5  # recall axis from 0.5: every point of interest is above it; lower points sit on the axis

def y_of(recall):
    return T + (1 - max(recall, YMIN)) / (1 - YMIN) * (H - T - B)

out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>']
for d in range(-1, 4):
    x = x_of(10 ** d)
    out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H-B}" stroke="#ddd"/>')
    out.append(f'<text x="{x:.1f}" y="{H-B+16}" text-anchor="middle">{10**d:g}</text>')
for r in [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]:
    y = y_of(r)
    out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W-R}" y2="{y:.1f}" stroke="{"#f99" if r == 0.95 else "#ddd"}"/>')
    out.append(f'<text x="{L-6}" y="{y+4:.1f}" text-anchor="end">{r:g}</text>')
x2 = x_of(TARGET)
out.append(f'<line x1="{x2:.1f}" y1="{T}" x2="{x2:.1f}" y2="{H-B}" stroke="#f99" stroke-dasharray="4,3"/>')
out.append(f'<text x="{x2+4:.1f}" y="{H-B-8}" fill="#c44">target: recall &#8805; 0.95 at &#8804; {TARGET:g} FA/h (upper left)</text>')
out.append(f'<text x="{(L+W-R)/2}" y="{H-20}" text-anchor="middle">{XLABEL} (log; 0 drawn at 0.1)</text>')
out.append(f'<text x="18" y="{(T+H-B)/2}" text-anchor="middle" transform="rotate(-90 18 {(T+H-B)/2})">recall</text>')
for i, arg in enumerate(sys.argv[1:]):
    name, path = arg.split("=", 1)
    pts = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "# sweep" and f[1][0].isdigit() and f[2] != "nan":
            pts.append((float(f[3]), float(f[2]), f[1]))
    pts.sort()
    c = colors[i % len(colors)]
    out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (c, " ".join(f"{x_of(a):.1f},{y_of(b):.1f}" for a, b, _ in pts)))
    for a, b, p in pts:
        out.append(f'<circle cx="{x_of(a):.1f}" cy="{y_of(b):.1f}" r="3" fill="{c}"><title>{name} {p}: recall {b}, {a} FA/h</title></circle>')
    out.append(f'<text x="{W-R-10}" y="{H-B-30-16*i}" fill="{c}" text-anchor="end">{name}</text>')
out.append("</svg>")
print("\n".join(out))
