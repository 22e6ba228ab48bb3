#!/usr/bin/env python3
"""The home-adaptation simulation (docs/adaptation.md), driving the real programs as a parent would.

For each (night seed, adaptation seed):
  1. `crymodel night` builds a night whose distractors come from classes the shipped detector
     never trained on (../shared/data/esc50_home); the night is cut in two halves.
  2. The first half is replayed through `babymonitord --pace fast --keep-running` with episodes
     kept; for every episode this script asks `monitorctl label`: `not-cry` when it overlaps no
     labelled cry (a false alarm), else the cause of the cry it overlaps.
  3. `crymodel adapt` adapts the shipped models to those labels; `monitorctl reload` loads them.
  4. The second half is replayed twice through the daemon, with the shipped models and with the
     adapted ones; false alarms per hour and recall (an episode overlapping a labelled cry finds
     it; an episode overlapping none is a false alarm) and the cause UAR over found cries (the
     top cause of the episode's final need, also where the daemon shows "unsure") are computed
     from the event logs.
Prints one JSON line per run and a summary (mean and spread over runs).
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAUSES = ["hungry", "tired", "belly_pain", "discomfort", "burping"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def labels_tsv(path, start, end):
    out = []
    for line in open(path):
        a, b, cause = line.rstrip("\n").split("\t")[:3]
        a, b = float(a), float(b)
        if a >= start and b <= end:
            out.append((a - start, b - start, cause))
    return out


def episodes(log):
    eps, need = {}, {}
    for line in open(log):
        e = json.loads(line)
        n = e.get("episode")
        if e["type"] == "cry_start":
            eps[n] = [e["t_audio"], None]
        elif e["type"] == "cry_end" and n in eps:
            eps[n][1] = e["t_audio"]
        elif e["type"] == "need" and e.get("final"):
            # The top cause, also where the daemon shows "unsure" ([classifier] min_confidence).
            probs = e.get("probs") or {}
            need[n] = max(probs, key=probs.get) if probs else e["label"]
    return [(n, a, b, need.get(n)) for n, (a, b) in sorted(eps.items()) if b is not None]


def overlap(a, b, c, d):
    return min(b, d) - max(a, c) > 0


def score(eps, cries, hours):
    fa = sum(1 for _, a, b, _ in eps if not any(overlap(a, b, c, d) for c, d, _ in cries))
    found, pairs = 0, []
    for c, d, cause in cries:
        hits = [e for e in eps if overlap(e[1], e[2], c, d)]
        if hits:
            found += 1
            pairs.append((cause, hits[0][3]))
    recalls = []
    for k in CAUSES:
        truth = [p for p in pairs if p[0] == k]
        if truth:
            recalls.append(sum(1 for t, p in truth if t == p) / len(truth))
    return {"fa_per_h": fa / hours, "false_alarms": fa, "recall": found / max(1, len(cries)), "cries": len(cries),
            "cause_uar": statistics.mean(recalls) if recalls else None}


class Daemon:
    def __init__(self, bin_dir, wav, state, log, sock, config):
        self.sock = sock
        self.p = subprocess.Popen([f"{bin_dir}/babymonitord", "--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                   "--keep-running", "--state-dir", state, "--event-log", log, "--socket", sock],
                                  stdout=subprocess.DEVNULL, stderr=open(log + ".stderr", "w"))
        self.ctl = [f"{bin_dir}/monitorctl", "--socket", sock]

    def status(self):
        r = subprocess.run(self.ctl + ["status", "--json"], text=True, capture_output=True)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def wait_finished(self):
        while True:
            s = self.status()
            if s and s["state"] == "finished" and s["episodes"]["writing"] == 0:
                return s
            if self.p.poll() is not None:
                raise RuntimeError("babymonitord exited: " + open(self.p.args[-1] + ".stderr").read() if False else "babymonitord exited")
            time.sleep(0.2)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait()


def one(args, night_seed, adapt_seed, work):
    bin_dir = args.bin
    d = os.path.join(work, f"night{night_seed}-adapt{adapt_seed}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    night = os.path.join(work, f"night{night_seed}")
    if not os.path.exists(os.path.join(night, "night.wav")):
        run([f"{bin_dir}/crymodel", "night", "--cries", args.cries, "--others", args.others, "--minutes", str(args.minutes),
             "--seed", str(night_seed), "--out", night])
        half = args.minutes * 30
        run(["sox", os.path.join(night, "night.wav"), os.path.join(night, "first.wav"), "trim", "0", str(half)])
        run(["sox", os.path.join(night, "night.wav"), os.path.join(night, "second.wav"), "trim", str(half)])
    half = args.minutes * 30
    first_cries = labels_tsv(os.path.join(night, "labels.tsv"), 0, half)
    second_cries = labels_tsv(os.path.join(night, "labels.tsv"), half, 2 * half)
    config = os.path.join(ROOT, "config", "babymonitor.toml")
    models = os.path.join(ROOT, "config", "models")

    # 2. first half, kept and labelled (with --reuse-labels: the labelled episodes of an
    # earlier run on this night, which are the same: the shipped models decide the first half)
    state = os.path.join(d, "state")
    cached = os.path.join(night, "labelled-episodes")
    first = None
    labelled = {"not-cry": 0, "cry": 0}
    if args.reuse_labels and os.path.isdir(cached):
        shutil.copytree(cached, os.path.join(state, "episodes"))
        for f in os.listdir(cached):
            if f.endswith(".json"):
                labs = json.load(open(os.path.join(cached, f))).get("labels") or []
                if labs:
                    last = labs[-1]["label"] if isinstance(labs[-1], dict) else labs[-1]
                    labelled["not-cry" if last == "not-cry" else "cry"] += 1
    else:
        first = Daemon(bin_dir, os.path.join(night, "first.wav"), state, os.path.join(d, "first.jsonl"), os.path.join(d, "a.sock"), config)
        first.wait_finished()
        for n, a, b, _ in episodes(os.path.join(d, "first.jsonl")):
            hit = [c for c in first_cries if overlap(a, b, c[0], c[1])]
            label = hit[0][2] if hit else "not-cry"
            if label not in CAUSES and label != "not-cry":
                label = "cry"
            r = subprocess.run(first.ctl + ["label", str(n), label], text=True, capture_output=True)
            if r.returncode != 0:
                raise RuntimeError(f"monitorctl label {n} {label}: {r.stdout}{r.stderr}")
            labelled["not-cry" if label == "not-cry" else "cry"] += 1
        shutil.rmtree(cached, ignore_errors=True)
        shutil.copytree(os.path.join(state, "episodes"), cached)

    # 3. adapt, reload
    if args.prepare_only:
        if first:
            first.stop()
        hours = half / 3600
        log = os.path.join(night, "second-shipped.jsonl")
        if not os.path.exists(log):
            dm = Daemon(bin_dir, os.path.join(night, "second.wav"), os.path.join(d, "shipped-state"), log,
                        os.path.join(d, "b.sock"), config)
            dm.wait_finished()
            dm.stop()
        return {"night_seed": night_seed, "labelled": labelled, "before": score(episodes(log), second_cries, hours)}
    t0 = time.time()
    a = subprocess.run(["nice", "-n", "10", f"{bin_dir}/crymodel", "adapt", "--episodes", os.path.join(state, "episodes"),
                        "--detector", models + "/detector.safetensors", "--cause", models + "/cause.safetensors",
                        "--out-dir", os.path.join(state, "models"), "--seed", str(adapt_seed), "--json"]
                       + args.adapt_args.split()
                       + (["--no-evaluate"] if not args.evaluate else []), text=True, capture_output=True)
    adapt_seconds = time.time() - t0
    if a.returncode not in (0, 1):
        raise RuntimeError("crymodel adapt: " + a.stderr)
    report = json.loads(a.stdout)
    reload = None
    if first:
        reload = subprocess.run(first.ctl + ["reload"], text=True, capture_output=True)
        first.stop()

    # 4. second half: shipped vs adapted
    hours = half / 3600
    out = {"night_seed": night_seed, "adapt_seed": adapt_seed, "labelled": labelled,
           "adapt_seconds": round(adapt_seconds, 1), "adapt": report, "reload": reload.stdout.strip() if reload else "(labels reused: the daemon loads the adapted models at start)"}
    for name, st in (("before", os.path.join(d, "shipped-state")), ("after", state)):
        log = os.path.join(d, f"second-{name}.jsonl")
        shipped_log = os.path.join(night, "second-shipped.jsonl")
        if name == "before" and args.reuse_labels and os.path.exists(shipped_log):
            shutil.copy(shipped_log, log)
            out[name] = score(episodes(log), second_cries, hours)
            out[name]["models_adapted"] = []
            continue
        dm = Daemon(bin_dir, os.path.join(night, "second.wav"), st, log, os.path.join(d, "b.sock"), config)
        s = dm.wait_finished()
        dm.stop()
        out[name] = score(episodes(log), second_cries, hours)
        out[name]["models_adapted"] = s.get("models_adapted", [])
        if name == "before":
            shutil.copy(log, shipped_log)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--cries", default=os.path.join(ROOT, "..", "shared", "data", "donateacry"))
    ap.add_argument("--others", default=os.path.join(ROOT, "..", "shared", "data", "esc50_home"))
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--nights", default="1,2,3")
    ap.add_argument("--adapt-seeds", default="1,2")
    ap.add_argument("--evaluate", action="store_true", help="also compute crymodel adapt's held-out figures")
    ap.add_argument("--adapt-args", default="", help="extra crymodel adapt options (settings chosen on night 1)")
    ap.add_argument("--reuse-labels", action="store_true",
                    help="reuse a night's labelled first half and shipped second-half replay from an earlier run")
    ap.add_argument("--prepare-only", action="store_true",
                    help="only build the nights, label the first halves and replay the second halves with the shipped models")
    ap.add_argument("--work", default="/tmp/babymonitor-adaptation-sim")
    args = ap.parse_args()
    if not os.path.isdir(args.cries) or not os.path.isdir(args.others):
        sys.exit(f"adaptation-sim: {args.cries} or {args.others} missing (../shared/data)")
    os.makedirs(args.work, exist_ok=True)
    results = []
    for ns in [int(x) for x in args.nights.split(",")]:
        for s in [int(x) for x in args.adapt_seeds.split(",")]:
            r = one(args, ns, s, args.work)
            print(json.dumps(r), flush=True)
            results.append(r)

    if args.prepare_only:
        return

    def summary(key, field):
        v = [r[key][field] for r in results if r[key][field] is not None]
        return (statistics.mean(v), statistics.pstdev(v)) if v else (float("nan"), 0)
    print("# runs", len(results))
    for field in ("fa_per_h", "recall", "cause_uar"):
        b, a = summary("before", field), summary("after", field)
        print(f"# {field}: before {b[0]:.3f} +- {b[1]:.3f}, after {a[0]:.3f} +- {a[1]:.3f}")
    print(f"# adapt seconds: {statistics.mean(r['adapt_seconds'] for r in results):.1f} mean, "
          f"labelled episodes {statistics.mean(sum(r['labelled'].values()) for r in results):.1f} mean")


if __name__ == "__main__":
    main()
