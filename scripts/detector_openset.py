#!/usr/bin/env python3
"""The cry detector's open-set evaluation protocol (docs/detector.md, "Open-set protocol").

Nights whose distractor CLASSES the detector never trained on, cries from families (app
installs, recordings) it never heard, and cries from sources it never trained on at all.

    scripts/detector-eval open-set prepare  --out W            # splits and nights (no training)
    scripts/detector-eval open-set train    --out W --recipe R --seed S [-- detect-set/train options]
    scripts/detector-eval open-set measure  --out W --model M --name N
    scripts/detector-eval open-set report   --out W [--names N1,N2]

Partition (fixed, documented; CPU forbids k folds here): the 30 distractor classes of
../shared/data (esc10 without baby_cry, giulbia/baby_laugh, esc50_home) fall into
  SEEN   classes: their recordings split 60/20/20 into training / validation night / test night;
  VAL    classes: only on the validation night (never trained on);
  TEST   classes: only on the test night (never trained on, never used for a decision).
Cries: Donate-a-Cry families (app-install id) split 60/20/20; esc10/baby_cry and
giulbia/crying_baby_own are never trained on in the protocol (cross-source check): half their
recordings go to the validation night, half to the test night.

Every decision (recipe, size, operating point) reads the validation night's UNSEEN-class
figures only; the test night is measured once per model and reported.
"""
import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
from collections import defaultdict

SEEN = ["chainsaw", "dog_bark", "helicopter", "person_sneeze", "rain", "sea_waves", "baby_laugh",
        "snoring", "vacuum_cleaner", "keyboard_typing", "door_wood_knock", "brushing_teeth", "washing_machine"]
VAL = ["rooster", "fire_crackling", "coughing", "breathing", "pouring_water", "footsteps", "can_opening",
       "clapping", "drinking_sipping"]
# clock_tick and clock_alarm share a recording (Freesound 209698): both here.
TEST = ["cat", "clock_alarm", "clock_tick", "laughing", "glass_breaking", "door_wood_creaks", "toilet_flush",
        "mouse_click"]
CLASS_DIRS = {c: "esc10/" + c for c in ["chainsaw", "dog_bark", "helicopter", "person_sneeze", "rain", "sea_waves",
                                          "rooster", "fire_crackling", "clock_tick"]}
CLASS_DIRS["baby_laugh"] = "giulbia/baby_laugh"
for c in SEEN + VAL + TEST:
    CLASS_DIRS.setdefault(c, "esc50_home/" + c)
DONATEACRY_CAUSES = ["hungry", "tired", "belly_pain", "discomfort", "burping"]
CROSS_SOURCES = {"baby_cry": "esc10/baby_cry", "crying_baby_own": "giulbia/crying_baby_own"}
NIGHT_MINUTES = 120
NIGHT_SEEDS = {"val": 6, "test": 5}
THRESHOLDS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998]


def recording(name):
    """The recording (group) of a file name, as NightClip.group(ofFileName:) has it."""
    stem = name[:-4] if name.endswith(".wav") else name
    if len(stem) >= 36 and all(stem[i] == "-" for i in (8, 13, 18, 23)):
        return stem[:36].lower()
    parts = stem.split("-")
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        return parts[0] + "-" + parts[1]
    if ".m4a" in stem:
        return stem[:stem.index(".m4a")]
    if "_" in stem and stem.rsplit("_", 1)[1].isdigit():
        return stem.rsplit("_", 1)[0]
    return stem


def split_groups(groups, shares, seed):
    """Groups shuffled by `seed` and cut by `shares` (a list summing to 1); sources of at most
    two recordings stay whole in the first part (training)."""
    groups = sorted(groups)
    if len(groups) <= 2:
        return [groups] + [[] for _ in shares[1:]]
    random.Random(seed).shuffle(groups)
    parts, start = [], 0
    for i, s in enumerate(shares):
        n = len(groups) - start if i == len(shares) - 1 else max(1, round(s * len(groups)))
        parts.append(groups[start:start + n])
        start += n
    return parts


def source_of(cause):
    return "donateacry" if cause in DONATEACRY_CAUSES else cause


def link(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if not os.path.lexists(dst):
        os.symlink(src, dst)


def run(cmd, log=None):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    with open(log, "w") if log else open(os.devnull, "w") as err:
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=err if log else None, text=True).stdout
    return out


def crymodel():
    if os.environ.get("CRYMODEL"):
        return os.environ["CRYMODEL"]
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    return os.path.join(out, "crymodel")


def amr_code(src, dst, rate=8000):
    """src through AMR-NB (12.2 kbit/s, sox with libopencore-amrnb) and back, at `rate`, same length."""
    tmp = dst + ".amr"
    subprocess.run(["sox", "-q", src, "-r", "8000", "-c", "1", "-t", "amr-nb", "-C", "7", tmp], check=True)
    subprocess.run(["sox", "-q", tmp, "-r", str(rate), "-b", "16", dst], check=True)
    os.remove(tmp)


# ---------------------------------------------------------------------------------------------
def prepare(args):
    data, out = os.path.abspath(args.data), args.out
    split = {"train": defaultdict(list), "val": defaultdict(list), "test": defaultdict(list)}
    # Cries: Donate-a-Cry by family over all causes together.
    dac = {}
    for cause in DONATEACRY_CAUSES:
        d = os.path.join(data, "donateacry", cause)
        for f in sorted(os.listdir(d)):
            if f.endswith(".wav"):
                dac.setdefault(recording(f), []).append((cause, os.path.join(d, f)))
    parts = split_groups(list(dac), [0.6, 0.2, 0.2], args.seed)
    for part, groups in zip(["train", "val", "test"], parts):
        for g in groups:
            for cause, path in dac[g]:
                split[part]["cries/donateacry/" + cause].append(path)
    for name, rel in CROSS_SOURCES.items():
        d = os.path.join(data, rel)
        files = sorted(f for f in os.listdir(d) if f.endswith(".wav"))
        groups = sorted({recording(f) for f in files})
        random.Random(args.seed + 1).shuffle(groups)
        half = set(groups[:max(1, len(groups) // 2)])
        for f in files:
            split["val" if recording(f) in half else "test"]["cries/" + name + "/" + name].append(os.path.join(d, f))
    # Distractors.
    for c in SEEN + VAL + TEST:
        d = os.path.join(data, CLASS_DIRS[c])
        files = sorted(f for f in os.listdir(d) if f.endswith(".wav"))
        if c in SEEN:
            parts = split_groups({recording(f) for f in files}, [0.6, 0.2, 0.2], args.seed + 2)
            for part, groups in zip(["train", "val", "test"], parts):
                for f in files:
                    if recording(f) in groups:
                        split[part]["others/" + c].append(os.path.join(d, f))
        else:
            for f in files:
                split["val" if c in VAL else "test"]["others/" + c].append(os.path.join(d, f))
    for part, folders in split.items():
        for folder, paths in folders.items():
            for p in paths:
                link(p, os.path.join(out, "split", part, folder, os.path.basename(p)))
    # AMR-NB coded copies of the nights' distractors (same file names), for the channel check.
    for part in ["val", "test"]:
        for folder, paths in split[part].items():
            if folder.startswith("others/"):
                for p in paths:
                    dst = os.path.join(out, "split", part + "-coded", folder, os.path.basename(p))
                    if not os.path.exists(dst):
                        os.makedirs(os.path.dirname(dst), exist_ok=True)
                        amr_code(p, dst)
    cm = crymodel()
    for part in ["val", "test"]:
        for variant in ["", "-coded"]:
            base = os.path.join(out, "split", part)
            cmd = [cm, "night", "--minutes", str(NIGHT_MINUTES), "--seed", str(NIGHT_SEEDS[part]), "--cry-share", "0.35",
                   "--out", os.path.join(out, "nights", part + variant)]
            for s in sorted(os.listdir(os.path.join(base, "cries"))):
                cmd += ["--cries", os.path.join(base, "cries", s)]
            cmd += ["--others", os.path.join(out, "split", part + variant, "others")]
            print(run(cmd).strip())
    summary = {part: {k: len(v) for k, v in sorted(f.items())} for part, f in split.items()}
    summary["classes"] = {"seen": SEEN, "val": VAL, "test": TEST}
    summary["seed"] = args.seed
    json.dump(summary, open(os.path.join(out, "split.json"), "w"), indent=1)
    print(json.dumps(summary, indent=1))


# ---------------------------------------------------------------------------------------------
def train(args):
    """detect-set over the protocol's training part, then train; extra options after `--` go to
    detect-set (before `::`) and train (after `::`)."""
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    set_opts, train_opts = (extra[:extra.index("::")], extra[extra.index("::") + 1:]) if "::" in extra else (extra, [])
    cm = crymodel()
    parts = args.parts.split(",")
    base = os.path.join(args.out, "split", "+".join(parts))
    if len(parts) > 1:  # e.g. train,val: the pool a shipped model is trained on (the test night stays unheard)
        for part in parts:
            for root, _, files in os.walk(os.path.join(args.out, "split", part)):
                for f in files:
                    rel = os.path.relpath(os.path.join(root, f), os.path.join(args.out, "split", part))
                    link(os.path.realpath(os.path.join(root, f)), os.path.join(base, rel))
    rdir = os.path.join(args.out, "recipes", args.recipe)
    os.makedirs(rdir, exist_ok=True)
    setdir = os.path.join(rdir, "set-s%d" % args.set_seed)
    if not os.path.isdir(os.path.join(setdir, "train")):
        cmd = [cm, "detect-set", "--holdout", "0", "--seed", str(args.set_seed), "--copies", "3", "--out", setdir]
        for c in sorted(os.listdir(os.path.join(base, "cries"))):
            cmd += ["--cries", os.path.join(base, "cries", c)]
        for c in sorted(os.listdir(os.path.join(base, "others"))):
            cmd += ["--others", os.path.join(base, "others", c)]
        print(run(cmd + set_opts, os.path.join(rdir, "detect-set.log")).strip())
    if args.set_only:
        return
    model = os.path.join(rdir, "detector-s%d.safetensors" % args.seed)
    cmd = [cm, "train", "--task", "detect", "--data", os.path.join(setdir, "train"), "--cell", "attgate", "--depth", "1",
           "--hidden", "64,32", "--dense", "32", "--epochs", "40", "--patience", "10", "--min-crop", "1.0",
           "--seed", str(args.seed), "--threads", "2", "--out", model]
    # Later options win in ArgumentParser for single-valued options.
    run(cmd + train_opts, os.path.join(rdir, "train-s%d.log" % args.seed))
    print(model)


# ---------------------------------------------------------------------------------------------
def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def auc(pos, neg):
    """P(a cry's peak > a distractor's peak), ties half (Mann-Whitney)."""
    if not pos or not neg:
        return float("nan")
    ranked = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        r = (i + j + 1) / 2  # mean rank (1-based) of the tie block
        rank_sum += r * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    n1, n0 = len(pos), len(neg)
    return (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)


def overlap(a0, a1, b0, b1):
    return max(0.0, min(a1, b1) - max(a0, b0))


def score_night(night_dir, episodes_by_threshold, probs, duration, sweep_lines):
    """Per threshold: recall per cry source, false alarms split by distractor class (each
    false alarm to the placement it overlaps most, else `floor`), unseen/seen; and the AUC."""
    placements = read_tsv(os.path.join(night_dir, "placements.tsv"))
    cries = [p for p in placements if p["kind"] == "cry"]
    others = [p for p in placements if p["kind"] != "cry"]
    hours = duration / 3600
    unseen_classes = set(VAL + TEST)
    n_unseen = sum(1 for p in others if p["cause"] in unseen_classes)
    result = {"cries": len(cries), "distractors": len(others), "unseen_distractors": n_unseen,
              "hours": hours, "thresholds": {}}
    for th, eps in sorted(episodes_by_threshold.items()):
        found = defaultdict(lambda: [0, 0])
        for c in cries:
            s, e = float(c["start_s"]), float(c["end_s"])
            hit = any(overlap(s, e, a, b) > 0 for a, b, _ in eps)
            found[source_of(c["cause"])][1] += 1
            found[source_of(c["cause"])][0] += hit
        fa = defaultdict(int)
        for a, b, _ in eps:
            if any(overlap(a, b, float(c["start_s"]), float(c["end_s"])) > 0 for c in cries):
                continue
            best, cls = 0.0, "floor"
            for p in others:
                o = overlap(a, b, float(p["start_s"]), float(p["end_s"]))
                if o > best:
                    best, cls = o, p["cause"]
            fa[cls] += 1
        unseen = sum(v for k, v in fa.items() if k in unseen_classes)
        seen = sum(v for k, v in fa.items() if k not in unseen_classes and k != "floor")
        row = {"recall": sum(v[0] for v in found.values()) / max(1, len(cries)),
               "recall_by_source": {k: v for k, v in sorted(found.items())},
               "fa_per_hour": sum(fa.values()) / hours,
               "fa_unseen_per_hour": unseen / hours,
               # As if every distractor of the night were from an unseen class (the targets' reading).
               "fa_unseen_per_hour_all": unseen / hours * len(others) / max(1, n_unseen),
               "fa_seen_per_hour": seen / hours, "fa_floor": fa.get("floor", 0),
               "fa_by_class": dict(sorted(fa.items()))}
        row.update(sweep_lines.get(th, {}))
        result["thresholds"]["%g" % th] = row
    # Threshold-free: each placement's peak p(cry) over its audible span.
    step = probs[1][0] - probs[0][0] if len(probs) > 1 else 0.01

    def peak(p):
        a, b = int(float(p["start_s"]) / step), int(math.ceil(float(p["end_s"]) / step))
        return max((probs[t][1] for t in range(a, min(b, len(probs)))), default=0.0)
    cry_peaks = [peak(c) for c in cries]
    other_peaks = {i: peak(p) for i, p in enumerate(others)}
    result["auc_unseen"] = auc(cry_peaks, [v for i, v in other_peaks.items() if others[i]["cause"] in unseen_classes])
    result["auc_seen"] = auc(cry_peaks, [v for i, v in other_peaks.items() if others[i]["cause"] not in unseen_classes])
    result["auc_all"] = auc(cry_peaks, list(other_peaks.values()))
    result["peaks"] = {"cry": cry_peaks, "other": [(others[i]["cause"], v) for i, v in other_peaks.items()]}
    return result


def measure(args):
    cm = crymodel()
    mdir = os.path.join(args.out, "measure", args.name)
    os.makedirs(mdir, exist_ok=True)
    for night in args.nights.split(","):
        nd = os.path.join(args.out, "nights", night)
        probs_path = os.path.join(mdir, night + "-probs.tsv")
        eps_path = os.path.join(mdir, night + "-sweep-episodes.tsv")
        models = [a for m in args.model.split(",") for a in ("--model", m)]  # several: an ensemble (mean p(cry))
        out = run([cm, "detect"] + models + [os.path.join(nd, "night.wav"), "--labels",
                   os.path.join(nd, "labels.tsv"), "--sweep", "--sweep-episodes", eps_path,
                   "--probabilities", probs_path] + (["--on-threshold", str(args.on_threshold)] if args.on_threshold else [])
                  + (args.detect_args.split() if args.detect_args else []))
        open(os.path.join(mdir, night + "-detect.txt"), "w").write(out)
        sweep = {}
        for line in out.splitlines():
            f = line.split("\t")
            if f[0] == "# sweep" and f[1] != "on_threshold":
                sweep[float(f[1])] = {"recall_all": float(f[2]), "latency_median_s": float(f[4]),
                                      "latency_p90_s": float(f[5]), "non_cry_share": float(f[6])}
        eps = defaultdict(list)
        for r in read_tsv(eps_path):
            eps[float(r["on_threshold"])].append((float(r["start_s"]), float(r["end_s"]), float(r["confirmed_s"])))
        for th in sweep:
            eps.setdefault(th, [])
        probs = [(float(r["t_s"]), float(r["p_cry"])) for r in read_tsv(probs_path)]
        duration = len(probs) * (probs[1][0] - probs[0][0])
        res = score_night(nd, eps, probs, duration, sweep)
        json.dump(res, open(os.path.join(mdir, night + ".json"), "w"), indent=1)
        os.remove(probs_path)
        t = res["thresholds"]
        print("%s %s: AUC unseen %.3f seen %.3f; at 0.97 recall %.3f FA/h %.1f (unseen %.1f, seen %.1f)" % (
            args.name, night, res["auc_unseen"], res["auc_seen"], t["0.97"]["recall"], t["0.97"]["fa_per_hour"],
            t["0.97"]["fa_unseen_per_hour"], t["0.97"]["fa_seen_per_hour"]))


# ---------------------------------------------------------------------------------------------
def operating_point(val, min_recall=0.95, max_latency=1.0):
    """The validation night's rule: among on-thresholds with recall >= min_recall and a median
    onset latency <= max_latency s, the one with the fewest unseen-class false alarms (the
    lower threshold on ties); without one, the fewest unseen false alarms at the recall floor;
    without that, the best recall."""
    rows = [(float(k), r) for k, r in val["thresholds"].items()]
    ok = [kr for kr in rows if kr[1]["recall"] >= min_recall and kr[1].get("latency_median_s", 0) <= max_latency]
    ok = ok or [kr for kr in rows if kr[1]["recall"] >= min_recall]
    if not ok:
        return max(val["thresholds"], key=lambda k: val["thresholds"][k]["recall"])
    best = min(ok, key=lambda kr: (kr[1]["fa_unseen_per_hour"], kr[0]))
    return "%g" % best[0]


def mean_sd(xs):
    xs = [x for x in xs if x == x]
    if not xs:
        return "n/a"
    return "%.3g ± %.2g" % (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0)


def report(args):
    mroot = os.path.join(args.out, "measure")
    names = args.names.split(",") if args.names else sorted(os.listdir(mroot))
    groups = defaultdict(list)  # recipe -> [(name, val, test)]
    for n in names:
        d = os.path.join(mroot, n)
        load = lambda night: json.load(open(os.path.join(d, night + ".json"))) if os.path.exists(os.path.join(d, night + ".json")) else None
        groups[n.rsplit("-s", 1)[0] if "-s" in n else n].append((n, load("val"), load("test"), load("val-coded"), load("test-coded")))
    print("| model | night | AUC unseen | AUC seen | op. point (val rule) | recall | FA/h unseen (as if all unseen) | FA/h seen | FA/h total | latency median s | non-cry share | recall by source |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for recipe, runs in groups.items():
        agg = defaultdict(list)
        for n, val, test, vcoded, tcoded in runs:
            if val is None:
                continue
            op = args.on_threshold or operating_point(val)
            for night, r in [("val", val), ("test", test)]:
                if r is None:
                    continue
                t = r["thresholds"][op]
                src = ", ".join("%s %d/%d" % (k, v[0], v[1]) for k, v in t["recall_by_source"].items())
                print("| %s | %s | %.3f | %.3f | %s | %.3f | %.1f (%.1f) | %.1f | %.1f | %.2f | %.3f | %s |" % (
                    n, night, r["auc_unseen"], r["auc_seen"], op, t["recall"], t["fa_unseen_per_hour"],
                    t["fa_unseen_per_hour_all"], t["fa_seen_per_hour"], t["fa_per_hour"], t.get("latency_median_s", float("nan")),
                    t.get("non_cry_share", float("nan")), src))
                for k in ["recall", "fa_unseen_per_hour", "fa_unseen_per_hour_all", "fa_seen_per_hour", "latency_median_s", "non_cry_share"]:
                    agg[night + " " + k].append(t.get(k, float("nan")))
                agg[night + " auc_unseen"].append(r["auc_unseen"])
                agg[night + " op"].append(float(op))
        if len(runs) > 1:
            print("| **%s, mean ± sd over %d** | | %s / %s | | | %s / %s | %s / %s | | | | |" % (
                recipe, len(runs), mean_sd(agg["val auc_unseen"]), mean_sd(agg["test auc_unseen"]),
                mean_sd(agg["val recall"]), mean_sd(agg["test recall"]),
                mean_sd(agg["val fa_unseen_per_hour"]), mean_sd(agg["test fa_unseen_per_hour"])))
    # Trade-off rows for docs/detector-tradeoff.py: recall against unseen-class false alarms per
    # hour, scaled as if every distractor of the night were from an unseen class.
    pdir = os.path.join(args.out, "plots")
    os.makedirs(pdir, exist_ok=True)
    for recipe, runs in groups.items():
        for n, val, test, _, _ in runs:
            for night, r in [("val", val), ("test", test)]:
                if r is None:
                    continue
                with open(os.path.join(pdir, "%s-%s.txt" % (n, night)), "w") as f:
                    for th, t in sorted(r["thresholds"].items(), key=lambda kv: float(kv[0])):
                        f.write("# sweep\t%s\t%.3f\t%.3f\t%s\t%s\t%s\n" % (th, t["recall"], t["fa_unseen_per_hour_all"],
                                t.get("latency_median_s"), t.get("latency_p90_s"), t.get("non_cry_share")))
    print()
    print("False alarms per distractor class at each model's operating point (test night; val night):")
    for recipe, runs in groups.items():
        for n, val, test, vcoded, tcoded in runs:
            if val is None or test is None:
                continue
            op = args.on_threshold or operating_point(val)
            print("  %s @%s test: %s; val: %s" % (n, op, test["thresholds"][op]["fa_by_class"], val["thresholds"][op]["fa_by_class"]))
    print()
    print("Channel check: peak p(cry) of the same distractors uncoded vs AMR-NB coded (paired; mean diff, share |diff| < 0.1, FA/h at op):")
    for recipe, runs in groups.items():
        for n, val, test, vcoded, tcoded in runs:
            for night, a, b in [("val", val, vcoded), ("test", test, tcoded)]:
                if a is None or b is None:
                    continue
                pa = [v for _, v in a["peaks"]["other"]]
                pb = [v for _, v in b["peaks"]["other"]]
                k = min(len(pa), len(pb))
                diffs = [pb[i] - pa[i] for i in range(k)]
                op = args.on_threshold or operating_point(val)
                print("  %s %s: %d pairs, mean p uncoded %.3f coded %.3f, mean diff %+.3f, |diff|<0.1: %.0f%%, "
                      "AUC(coded vs uncoded peaks) %.3f, FA/h %.1f -> %.1f" % (
                          n, night, k, statistics.mean(pa[:k]), statistics.mean(pb[:k]), statistics.mean(diffs),
                          100 * sum(1 for d in diffs if abs(d) < 0.1) / max(1, k), auc(pb[:k], pa[:k]),
                          a["thresholds"][op]["fa_per_hour"], b["thresholds"][op]["fa_per_hour"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", default="out/openset")
    p.add_argument("--data", default=os.environ.get("BABYMONITOR_DATA", "../shared/data"))
    p.add_argument("--seed", type=int, default=11)
    p = sub.add_parser("train")
    p.add_argument("--out", default="out/openset")
    p.add_argument("--recipe", required=True)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--set-seed", type=int, default=21)
    p.add_argument("--set-only", action="store_true", help="build the training set, do not train")
    p.add_argument("--parts", default="train", help="split parts to train on: train (the protocol), or train,val (the pool)")
    p.add_argument("extra", nargs=argparse.REMAINDER)
    p = sub.add_parser("measure")
    p.add_argument("--out", default="out/openset")
    p.add_argument("--model", required=True, help="a detector model, or several separated by commas (an ensemble)")
    p.add_argument("--name", required=True)
    p.add_argument("--nights", default="val,val-coded,test,test-coded")
    p.add_argument("--on-threshold", type=float)
    p.add_argument("--detect-args", help="more `crymodel detect` options, e.g. '--confirm-frames 30' or '--smoothing 0.3'")
    p = sub.add_parser("report")
    p.add_argument("--out", default="out/openset")
    p.add_argument("--names")
    p.add_argument("--on-threshold", help="fixed operating point instead of the validation rule")
    a = ap.parse_args()
    if a.cmd in ("prepare",) and not os.path.isdir(os.path.join(a.data, "donateacry")):
        sys.exit("detector-openset: no corpus at %s (see ../shared/data/README.md)" % a.data)
    {"prepare": prepare, "train": train, "measure": measure, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
