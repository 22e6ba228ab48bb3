#!/usr/bin/env python3
"""Confidence intervals, paired comparisons and a reliability diagram for a repeated grouped
cross-validation of cause models (`crymodel experiment --folds K --seeds ... --out DIR`).

Input: DIR/predictions/<model>-seed<S>.tsv, the out-of-fold predictions (file, group, truth,
fold, one probability per class; also the baseline's from scripts/cause-baseline.py).
For each file, `crymodel calibrate --cross-fitted` calibrates every fold with a fit on the
other folds (what the shipped calibration does on families it was not fitted on).

Figures per model, averaged over the seeds (repeats):
- UAR and macro-F1 of the class-balanced decision (the network's own argmax);
- log-loss, Brier and ECE (10 bins) of the cross-fitted calibrated posteriors, and the
  log-loss of answering the prior of the other folds (prior_log_loss).
Intervals: 95% percentile intervals of a bootstrap over families (app-install ids; 2000
resamples, the same resamples for every model, so differences are paired). A difference is
called real when its interval excludes 0.

    scripts/cause-cv-analysis.py --crymodel .build/release/crymodel --dir docs/experiment/repeated-cv \
        --reference LSTM --reliability deepf_1 > docs/experiment/repeated-cv/analysis.md
Needs numpy only. Writes DIR/reliability.svg.
"""
import argparse
import collections
import csv
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

RESAMPLES = 2000


def read_tsv(path):
    with open(path) as f:
        rows = list(csv.reader(f, delimiter="\t"))
    header, rows = rows[0], rows[1:]
    has_fold = header[3] == "fold"
    classes = header[4:] if has_fold else header[3:]
    start = 4 if has_fold else 3
    return {
        "classes": classes,
        "file": [r[0] for r in rows],
        "group": [r[1] for r in rows],
        "y": np.array([classes.index(r[2]) for r in rows]),
        "p": np.array([[float(x) for x in r[start:]] for r in rows]),
    }


def metrics(y, p_raw, q, prior_loss, w, k):
    """Weighted (bootstrap) UAR, macro-F1 of argmax p_raw; log-loss, Brier, ECE of q."""
    pred = p_raw.argmax(axis=1)
    recalls, f1s = [], []
    for c in range(k):
        support = w[y == c].sum()
        if support == 0:
            continue
        tp = w[(y == c) & (pred == c)].sum()
        predicted = w[pred == c].sum()
        r = tp / support
        prec = tp / predicted if predicted > 0 else 0.0
        recalls.append(r)
        f1s.append(2 * prec * r / (prec + r) if prec + r > 0 else 0.0)
    total = w.sum()
    qy = np.maximum(q[np.arange(len(y)), y], 1e-7)
    log_loss = (w * -np.log(qy)).sum() / total
    onehot = np.eye(k)[y]
    brier = (w * ((q - onehot) ** 2).sum(axis=1)).sum() / total
    conf = q.max(axis=1)
    hit = (q.argmax(axis=1) == y).astype(float)
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = 0.0
    for b in range(10):
        m = bins == b
        wb = w[m].sum()
        if wb > 0:
            ece += wb / total * abs((w[m] * hit[m]).sum() / wb - (w[m] * conf[m]).sum() / wb)
    prior = (w * prior_loss).sum() / total
    return {"uar": np.mean(recalls), "macro_f1": np.mean(f1s), "log_loss": log_loss, "brier": brier,
            "ece": ece, "prior_log_loss": prior}


def cross_fit(crymodel, path, tmp):
    out = os.path.join(tmp, os.path.basename(path) + ".cf")
    res = subprocess.run([crymodel, "calibrate", "--predictions", path, "--json", "--cross-fitted", out],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    return read_tsv(out), json.loads(res[0])


def reliability_svg(series, path, title):
    """series: [(name, colour, [(count, confidence, accuracy)] per bin)]"""
    w, h, m = 520, 500, 60
    size = 380

    def x(v):
        return m + v * size

    def yy(v):
        return m + (1 - v) * size

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{w / 2}" y="24" text-anchor="middle" font-size="14">{title}</text>',
         f'<rect x="{m}" y="{m}" width="{size}" height="{size}" fill="none" stroke="#444"/>',
         f'<line x1="{x(0)}" y1="{yy(0)}" x2="{x(1)}" y2="{yy(1)}" stroke="#999" stroke-dasharray="4,4"/>']
    for t in range(0, 11, 2):
        v = t / 10
        s.append(f'<text x="{x(v)}" y="{m + size + 16}" text-anchor="middle">{v:.1f}</text>')
        s.append(f'<text x="{m - 8}" y="{yy(v) + 4}" text-anchor="end">{v:.1f}</text>')
    s.append(f'<text x="{m + size / 2}" y="{m + size + 36}" text-anchor="middle">confidence (top probability)</text>')
    s.append(f'<text x="16" y="{m + size / 2}" text-anchor="middle" transform="rotate(-90 16 {m + size / 2})">accuracy of the top class</text>')
    total = max(1, max(sum(b[0] for b in bins) for _, _, bins in series))
    for i, (name, colour, bins) in enumerate(series):
        pts = [(c, a, n) for n, c, a in bins if n > 0]
        if len(pts) > 1:
            s.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (
                colour, " ".join(f"{x(c):.1f},{yy(a):.1f}" for c, a, _ in pts)))
        for c, a, n in pts:
            r = 3 + 9 * (n / total) ** 0.5
            s.append(f'<circle cx="{x(c):.1f}" cy="{yy(a):.1f}" r="{r:.1f}" fill="{colour}" fill-opacity="0.5" stroke="{colour}"/>')
        lx, ly = m + 0.42 * size, m + 0.62 * size
        s.append(f'<rect x="{lx}" y="{ly + 18 * i}" width="12" height="12" fill="{colour}"/>')
        s.append(f'<text x="{lx + 18}" y="{ly + 10 + 18 * i}">{name}</text>')
    s.append(f'<text x="{m + 0.42 * size}" y="{m + 0.62 * size + 18 * len(series) + 12}" fill="#555" font-size="11">circle area: clips in the bin</text>')
    s.append(f'<text x="{m + 0.42 * size}" y="{m + 0.62 * size + 18 * len(series) + 26}" fill="#555" font-size="11">dashed: perfect calibration</text>')
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


def bins_of(y, q):
    conf = q.max(axis=1)
    hit = q.argmax(axis=1) == y
    b = np.minimum((conf * 10).astype(int), 9)
    return [(int((b == i).sum()), float(conf[b == i].mean()) if (b == i).any() else 0.0,
             float(hit[b == i].mean()) if (b == i).any() else 0.0) for i in range(10)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crymodel", required=True)
    ap.add_argument("--dir", required=True, help="experiment --out folder (with predictions/)")
    ap.add_argument("--reference", default="LSTM", help="model the others are compared with (paired)")
    ap.add_argument("--reliability", default="deepf_1", help="model of the reliability diagram")
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.dir, "predictions", "*-seed*.tsv")))
    by_model = collections.OrderedDict()
    for f in files:
        name, seed = re.match(r"(.+)-seed(\d+)\.tsv$", os.path.basename(f)).groups()
        by_model.setdefault(name, []).append((int(seed), f))
    order = ["LSTM", "GRU", "deepf_1", "deepf_2", "deepf_3"]
    models = [m for m in order if m in by_model] + [m for m in by_model if m not in order]
    tmp = tempfile.mkdtemp()
    data = {}
    for m in models:
        data[m] = []
        for seed, f in sorted(by_model[m]):
            raw = read_tsv(f)
            cf, summary = cross_fit(args.crymodel, f, tmp)
            # Align cross-fitted rows (grouped by fold) with the raw rows.
            index = {fn: i for i, fn in enumerate(cf["file"])}
            order_ix = np.array([index[fn] for fn in raw["file"]])
            q = cf["p"][order_ix]
            # prior_log_loss per clip: the cross-fitted prior is what calibrate reports in total;
            # per clip, use the prior of the other folds (recomputed here as calibrate does).
            folds = np.array([int(r) for r in _folds(f)])
            k = len(raw["classes"])
            prior_loss = np.zeros(len(raw["y"]))
            for fo in set(folds):
                other = raw["y"][folds != fo]
                counts = np.bincount(other, minlength=k).astype(float)
                prior = (counts + 1.0 / k) / (len(other) + 1)
                sel = folds == fo
                prior_loss[sel] = -np.log(prior[raw["y"][sel]])
            data[m].append({"seed": seed, "y": raw["y"], "p": raw["p"], "q": q, "prior_loss": prior_loss,
                            "group": raw["group"], "file": raw["file"], "k": k, "summary": summary})
    # Families, and a shared bootstrap: weight of each clip = draws of its family.
    groups = sorted(set(g for m in models for run in data[m] for g in run["group"]))
    gi = {g: i for i, g in enumerate(groups)}
    rng = np.random.default_rng(12)
    draws = rng.multinomial(len(groups), [1 / len(groups)] * len(groups), size=RESAMPLES)
    names = ["uar", "macro_f1", "log_loss", "brier", "ece", "prior_log_loss"]

    def stat(m, weights_of_group=None):
        vals = collections.defaultdict(list)
        for run in data[m]:
            gidx = np.array([gi[g] for g in run["group"]])
            w = np.ones(len(gidx)) if weights_of_group is None else weights_of_group[gidx].astype(float)
            r = metrics(run["y"], run["p"], run["q"], run["prior_loss"], w, run["k"])
            for n in names:
                vals[n].append(r[n])
        return {n: float(np.mean(v)) for n, v in vals.items()}

    point = {m: stat(m) for m in models}
    boot = {m: {n: np.empty(RESAMPLES) for n in names} for m in models}
    for b in range(RESAMPLES):
        for m in models:
            r = stat(m, draws[b])
            for n in names:
                boot[m][n][b] = r[n]

    def ci(v):
        lo, hi = np.percentile(v, [2.5, 97.5])
        return f"[{lo:.3f}, {hi:.3f}]"

    seeds = sorted(set(run["seed"] for m in models for run in data[m]))
    print(f"Seeds (repeats) {', '.join(map(str, seeds))}; {len(groups)} families; 95% intervals from {RESAMPLES} "
          f"family-bootstrap resamples (paired across models).\n")
    print("| model | repeats | UAR | macro-F1 | log-loss (calibrated) | prior log-loss | Brier | ECE | UAR per repeat |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in models:
        p, bt = point[m], boot[m]
        per = ", ".join(f"{metrics(r['y'], r['p'], r['q'], r['prior_loss'], np.ones(len(r['y'])), r['k'])['uar']:.3f}" for r in data[m])
        print(f"| {m} | {len(data[m])} | {p['uar']:.3f} {ci(bt['uar'])} | {p['macro_f1']:.3f} {ci(bt['macro_f1'])} | "
              f"{p['log_loss']:.3f} {ci(bt['log_loss'])} | {p['prior_log_loss']:.3f} | {p['brier']:.3f} {ci(bt['brier'])} | "
              f"{p['ece']:.3f} {ci(bt['ece'])} | {per} |")
    # Per-class recall of the decision (mean over repeats, unweighted): which causes a model finds at all.
    classes = read_tsv(by_model[models[0]][0][1])["classes"]
    first = data[models[0]][0]
    print("\nPer-class recall (mean over repeats; clips / families per class: "
          + ", ".join(f"{c} {int((first['y'] == i).sum())} / {len(set(g for g, y in zip(first['group'], first['y']) if y == i))}"
                      for i, c in enumerate(classes)) + "):\n")
    print("| model | " + " | ".join(classes) + " |")
    print("|---|" + "---|" * len(classes))
    for m in models:
        cells = []
        for c in range(len(classes)):
            rec = [((r["p"].argmax(axis=1) == c) & (r["y"] == c)).sum() / max(1, (r["y"] == c).sum()) for r in data[m]]
            cells.append(f"{np.mean(rec):.2f}")
        print(f"| {m} | " + " | ".join(cells) + " |")
    print("\nUncalibrated (the network's own posteriors), for comparison:\n")
    print("| model | log-loss | Brier | ECE |")
    print("|---|---|---|---|")
    for m in models:
        s = [r["summary"]["raw"] for r in data[m]]
        print(f"| {m} | {np.mean([x['log_loss'] for x in s]):.3f} | {np.mean([x['brier'] for x in s]):.3f} | {np.mean([x['ece'] for x in s]):.3f} |")
    print("\nDifferences (paired bootstrap; 'real' when the 95% interval excludes 0):\n")
    print("| comparison | UAR difference | real? | log-loss difference | real? |")
    print("|---|---|---|---|---|")

    def diff_row(label, a_u, b_u, a_l, b_l, point_u, point_l):
        du, dl = a_u - b_u, a_l - b_l
        lo_u, hi_u = np.percentile(du, [2.5, 97.5])
        lo_l, hi_l = np.percentile(dl, [2.5, 97.5])
        real_u = "yes" if lo_u > 0 or hi_u < 0 else "no"
        real_l = "yes" if lo_l > 0 or hi_l < 0 else "no"
        print(f"| {label} | {point_u:+.3f} [{lo_u:+.3f}, {hi_u:+.3f}] | {real_u} | {point_l:+.3f} [{lo_l:+.3f}, {hi_l:+.3f}] | {real_l} |")

    for m in models:
        if m == args.reference or args.reference not in models:
            continue
        diff_row(f"{m} - {args.reference}", boot[m]["uar"], boot[args.reference]["uar"],
                 boot[m]["log_loss"], boot[args.reference]["log_loss"],
                 point[m]["uar"] - point[args.reference]["uar"], point[m]["log_loss"] - point[args.reference]["log_loss"])
    for m in models:
        diff_row(f"{m} - chance (UAR 0.2) / - prior (log-loss)", boot[m]["uar"], np.full(RESAMPLES, 0.2),
                 boot[m]["log_loss"], boot[m]["prior_log_loss"],
                 point[m]["uar"] - 0.2, point[m]["log_loss"] - point[m]["prior_log_loss"])
    print("\nmin_confidence (cross-fitted calibrated posteriors, mean over repeats): share of cries given a cause, and how often that cause is the parents' label:\n")
    print("| model | " + " | ".join(f"{t['threshold']:.2f}" for t in data[models[0]][0]["summary"]["min_confidence"]) + " |")
    print("|---|" + "---|" * len(data[models[0]][0]["summary"]["min_confidence"]))
    for m in models:
        cells = []
        for i in range(len(data[m][0]["summary"]["min_confidence"])):
            shown = np.mean([r["summary"]["min_confidence"][i]["shown"] for r in data[m]])
            rights = [r["summary"]["min_confidence"][i]["right"] for r in data[m] if r["summary"]["min_confidence"][i]["right"] is not None]
            cells.append(f"{100 * shown:.0f}% / {100 * np.mean(rights):.0f}%" if rights else f"{100 * shown:.0f}% / -")
        print(f"| {m} | " + " | ".join(cells) + " |")
    if args.reliability in models:
        runs = data[args.reliability]
        y = np.concatenate([r["y"] for r in runs])
        raw = np.concatenate([r["p"] for r in runs])
        q = np.concatenate([r["q"] for r in runs])
        path = os.path.join(args.dir, "reliability.svg")
        reliability_svg([("network's own posteriors", "#d62728", bins_of(y, raw)),
                         ("calibrated (cross-fitted)", "#1f77b4", bins_of(y, q))],
                        path, f"Reliability, {args.reliability}, out-of-fold, {len(runs)} repeat(s), {len(y)} decisions")
        print(f"\nReliability diagram: {os.path.basename(path)}")


def _folds(path):
    with open(path) as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [r[3] for r in rows[1:]]


if __name__ == "__main__":
    sys.exit(main())
