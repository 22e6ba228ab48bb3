#!/usr/bin/env python3
"""The "traditional" cause baseline on the folds of a `crymodel experiment --folds` run.

IS09-style features: the project's 32 frame-level LLDs (16 low-level descriptors and their
deltas, `crymodel features`) summarised over the clip by the 12 functionals of the
INTERSPEECH 2009 Emotion Challenge set (max, min, range, relative position of max and min,
mean, linear-regression slope and offset and its quadratic error, standard deviation,
skewness, kurtosis): 32 x 12 = 384 features per clip, as in IS09.
Classifier: multinomial logistic regression with class-balanced weights (each class weighs
the same in the loss) and an L2 penalty chosen per outer fold by an inner grouped 4-fold
cross-validation on that fold's training part (UAR), never on the tested fold. Features
are standardised with the training part's mean and deviation.

It reads the fold of every clip from an out-of-fold predictions file that `crymodel
experiment --out DIR` wrote (DIR/predictions/<model>-seed<S>.tsv), so the baseline is tested
on exactly the same families per fold as the networks, and writes its own out-of-fold
predictions in the same form (OUT/IS09-LR-seed<S>.tsv), ready for `crymodel calibrate`.
Needs numpy only.

    scripts/cause-baseline.py --crymodel .build/release/crymodel \
        --folds docs/experiment/repeated-cv/predictions/deepf_1-seed1.tsv [--folds ...] \
        --out-dir docs/experiment/repeated-cv/predictions
"""
import argparse
import csv
import os
import subprocess
import sys

import numpy as np

LAMBDAS = [0.01, 0.1, 1.0, 10.0]


def lld_matrix(crymodel, path):
    out = subprocess.run([crymodel, "features", "--format", "tsv", path], check=True,
                         capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in out.splitlines()[1:] if line]
    return np.array([[float(x) for x in r[1:]] for r in rows], dtype=np.float64)


def functionals(x):
    """12 IS09 functionals of each column of x (frames x LLDs) -> 12 * LLDs values."""
    n = x.shape[0]
    t = np.arange(n, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    centred = x - mean
    safe = np.where(std > 1e-12, std, 1.0)
    skew = np.where(std > 1e-12, (centred ** 3).mean(axis=0) / safe ** 3, 0.0)
    kurt = np.where(std > 1e-12, (centred ** 4).mean(axis=0) / safe ** 4, 0.0)
    if n > 1:
        tc = t - t.mean()
        slope = (tc[:, None] * centred).sum(axis=0) / (tc ** 2).sum()
    else:
        slope = np.zeros(x.shape[1])
    offset = mean - slope * t.mean()
    err = ((x - (offset + slope * t[:, None])) ** 2).mean(axis=0)
    denom = max(1, n - 1)
    return np.concatenate([x.max(axis=0), x.min(axis=0), x.max(axis=0) - x.min(axis=0),
                           x.argmax(axis=0) / denom, x.argmin(axis=0) / denom, mean, slope, offset, err,
                           std, skew, kurt])


def fit_lr(x, y, k, lam, iterations=400):
    """Class-balanced multinomial logistic regression, L2 lam on the weights (not the bias).
    Loss: sum_n w_yn CE_n / sum_n w_yn + lam/2 |W|^2, w_c = 1 / count_c. Gradient descent with
    a fixed step (the loss is convex and the features standardised)."""
    n, d = x.shape
    counts = np.bincount(y, minlength=k).astype(np.float64)
    w_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    w = w_class[y]
    w = w / w.sum()
    onehot = np.eye(k)[y]
    W = np.zeros((d, k))
    b = np.zeros(k)
    step = 0.5 / (1 + lam)
    for _ in range(iterations):
        z = x @ W + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * w[:, None]
        W -= step * (x.T @ g + lam * W)
        b -= step * g.sum(axis=0)
    return W, b


def predict(W, b, x):
    z = x @ W + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def uar(y, pred, k):
    recalls = [np.mean(pred[y == c] == c) for c in range(k) if np.any(y == c)]
    return float(np.mean(recalls))


def standardise(train, *others):
    mu = train.mean(axis=0)
    sd = train.std(axis=0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    return [(a - mu) / sd for a in (train,) + others]


def group_folds(groups, k, seed):
    unique = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(unique)
    fold_of = {g: i % k for i, g in enumerate(unique)}
    return np.array([fold_of[g] for g in groups])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crymodel", required=True)
    ap.add_argument("--folds", action="append", required=True, help="out-of-fold predictions TSV with a fold column")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--name", default="IS09-LR")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    cache = {}
    for path in args.folds:
        with open(path) as f:
            rows = list(csv.reader(f, delimiter="\t"))
        header, rows = rows[0], rows[1:]
        if header[:4] != ["file", "group", "truth", "fold"]:
            sys.exit(f"{path}: expected columns file, group, truth, fold, classes...")
        classes = header[4:]
        k = len(classes)
        files = [r[0] for r in rows]
        groups = [r[1] for r in rows]
        y = np.array([classes.index(r[2]) for r in rows])
        fold = np.array([int(r[3]) for r in rows])
        for f in files:
            if f not in cache:
                cache[f] = functionals(lld_matrix(args.crymodel, f))
        x = np.stack([cache[f] for f in files])
        probs = np.zeros((len(rows), k))
        chosen = []
        seed = int(''.join(ch for ch in os.path.basename(path).split("seed")[-1] if ch.isdigit()) or 1)
        for f in sorted(set(fold)):
            tr, te = np.where(fold != f)[0], np.where(fold == f)[0]
            inner = group_folds([groups[i] for i in tr], 4, seed * 100 + f)
            best = None
            for lam in LAMBDAS:
                pred = np.zeros(len(tr), dtype=int)
                for j in range(4):
                    a, v = tr[inner != j], tr[inner == j]
                    xa, xv = standardise(x[a], x[v])
                    W, b = fit_lr(xa, y[a], k, lam)
                    pred[inner == j] = predict(W, b, xv).argmax(axis=1)
                score = uar(y[tr], pred, k)
                if best is None or score > best[0]:
                    best = (score, lam)
            chosen.append(best[1])
            xa, xt = standardise(x[tr], x[te])
            W, b = fit_lr(xa, y[tr], k, best[1])
            probs[te] = predict(W, b, xt)
        out = os.path.join(args.out_dir, f"{args.name}-seed{seed}.tsv")
        with open(out, "w") as f:
            f.write("\t".join(["file", "group", "truth", "fold"] + classes) + "\n")
            for i, r in enumerate(rows):
                f.write("\t".join(r[:4] + [f"{p:.6f}" for p in probs[i]]) + "\n")
        print(f"{out}: UAR {uar(y, probs.argmax(axis=1), k):.3f}; L2 per fold {chosen}")


if __name__ == "__main__":
    main()
