#!/usr/bin/env python3
"""Prints the halving benchmark's markdown table from the files bench/halving/run leaves.

    bench/halving/table.py RESULTS_DIR

Reads, per seed S: full-sS.json (`cyplam report --format json` of the full grid), whatif-sS-pP.json
(`cyplam report --what-if --format json`, one per early-stopping patience P), curves-sS.csv (every
model's validation curve), and, when the real halving run was made, halving-run-sS.json and
curves-sS-sh.csv. Standard library only.

Compute is training plus validation seconds (the workers' recorded elapsed time up to each stop)
and training iterations, as a fraction of the full grid's. The halving run's seconds are its own
workers' times, measured in another run (another load on the machine), so its iterations are the
steadier figure.
"""
import csv
import glob
import json
import math
import os
import re
import sys
from collections import defaultdict

TOP = 10
# The targets (issue: successive halving).
HALVING_MAX_FRACTION = 0.30
HALVING_MAX_LOSS = 0.005
ES_MIN_SAVING = 0.40
ES_MAX_LOSS = 0.01
# The patience the summary judges early stopping by (the others are shown too).
ES_PATIENCE = 10


def load_curves(path):
    """model -> [(iteration, validation_accuracy20, elapsed_seconds)], in iteration order."""
    curves = defaultdict(list)
    if not os.path.exists(path):
        return curves
    for r in csv.DictReader(open(path)):
        a = r["validation_accuracy20"]
        acc = float(a) if a not in ("", "nan", "NaN") else float("nan")
        curves[r["model"]].append((int(r["iteration"]), acc, float(r["elapsed_seconds"])))
    for c in curves.values():
        c.sort()
    return curves


def best_until(curve, iteration):
    """Best validation Accuracy20% over the snapshots at or before `iteration` (None if none)."""
    vals = [a for i, a, _ in curve if i <= iteration and not math.isnan(a)]
    return max(vals) if vals else None


def ranked(best):
    """Names ranked by best (descending), ties and missing by name (= model index)."""
    return sorted(best, key=lambda m: (best[m] is None, -(best[m] or 0.0), m))


def fmt(x, nd=3):
    return "" if x is None else f"{x:.{nd}f}"


def seeds_in(d):
    s = set()
    for p in glob.glob(os.path.join(d, "full-s*.json")):
        m = re.match(r"full-s(\d+)\.json$", os.path.basename(p))
        if m:
            s.add(int(m.group(1)))
    return sorted(s)


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    d = sys.argv[1]
    seeds = seeds_in(d)
    if not seeds:
        raise SystemExit(f"{d}: no full-s*.json")

    rows = []          # the main table
    verdicts = []      # per seed: (seed, halving ok, es ok, details)
    curve_tables = []  # per seed: the top models' curves at 10%, 20%, ... of the run
    peaks = []         # per seed: where the top 10 peaked, % of the run
    checks = []        # real halving run against the full grid's curves
    traces = []        # per seed: where the full grid's best stood at each rung
    datas = []         # per seed: the data set's frames and tracks
    for s in seeds:
        full = json.load(open(os.path.join(d, f"full-s{s}.json")))
        curves = load_curves(os.path.join(d, f"curves-s{s}.csv"))
        full_best = {r["name"]: r["best_accuracy20"] for r in full}
        total_iters = {r["name"]: r["iterations_done"] for r in full}
        full_rank = ranked(full_best)
        full_top = full_rank[:TOP]
        best_name = full_rank[0]
        best_acc = full_best[best_name]
        full_secs = sum(c[-1][2] for c in curves.values())
        full_iters = sum(c[-1][0] for c in curves.values())

        whatifs = {}
        for p in sorted(glob.glob(os.path.join(d, f"whatif-s{s}-p*.json"))):
            pat = int(re.search(r"-p(\d+)\.json$", p).group(1))
            whatifs[pat] = json.load(open(p))
        if not whatifs:
            raise SystemExit(f"{d}: no whatif-s{s}-p*.json")
        any_w = whatifs[min(whatifs)]["policies"]
        # The replays' full grid row: its seconds are the recorded elapsed time, as ours.
        for pol in any_w:
            if pol["policy"] == "full grid":
                full_secs = pol["seconds"]
                full_iters = pol["iterations"]

        def add(policy, secs, iters, found, found_full, overlap, top_loss=None):
            rows.append([str(s), policy, fmt(secs / full_secs), fmt(iters / full_iters), f"{secs:.0f}", f"{iters:.0f}",
                         found or "", fmt(found_full, 4), fmt(None if found_full is None else found_full - best_acc, 4),
                         f"{overlap}/{len(full_top)}", "" if top_loss is None else fmt(top_loss, 4)])

        add("full grid", full_secs, full_iters, best_name, best_acc, len(full_top), 0.0)

        # Halving, replayed (the same for every patience).
        h = next(p for p in any_w if p["policy"].startswith("halving"))
        h_loss = None if h["best_model_full_accuracy20"] is None else best_acc - h["best_model_full_accuracy20"]
        add(h["policy"] + ", replay", h["seconds"], h["iterations"], h["best_model"], h["best_model_full_accuracy20"], h["top10_overlap"])
        h_ok = h["seconds_fraction"] <= HALVING_MAX_FRACTION and h["iterations_fraction"] <= HALVING_MAX_FRACTION and h_loss is not None and h_loss <= HALVING_MAX_LOSS

        es_ok = None
        es_detail = ""
        for pat in sorted(whatifs):
            e = next(p for p in whatifs[pat]["policies"] if p["policy"].startswith("early stopping"))
            # Each of the full grid's top 10: its best up to where early stopping stopped it.
            losses = []
            for st in e["full_top10_stopped_at"]:
                b = best_until(curves[st["model"]], st["iteration"])
                losses.append(full_best[st["model"]] - (b if b is not None else 0.0))
            worst = max(losses) if losses else None
            add(e["policy"] + ", replay", e["seconds"], e["iterations"], e["best_model"], e["best_model_full_accuracy20"], e["top10_overlap"], worst)
            if pat == ES_PATIENCE or (ES_PATIENCE not in whatifs and es_ok is None):
                saving = 1.0 - e["seconds_fraction"]
                es_ok = saving >= ES_MIN_SAVING and (1.0 - e["iterations_fraction"]) >= ES_MIN_SAVING and worst is not None and worst <= ES_MAX_LOSS
                es_detail = f"patience {pat}: saves {saving:.0%} of the seconds, {1 - e['iterations_fraction']:.0%} of the iterations; worst top-10 loss {fmt(worst, 4)}"

        # The real halving run, when there is one.
        hr_path = os.path.join(d, f"halving-run-s{s}.json")
        hr_ok = None
        if os.path.exists(hr_path):
            hr = json.load(open(hr_path))
            hr_curves = load_curves(os.path.join(d, f"curves-s{s}-sh.csv"))
            secs = sum(c[-1][2] for c in hr_curves.values()) if hr_curves else sum(r["train_seconds"] or 0.0 for r in hr)
            iters = sum(r["iterations_done"] for r in hr)
            hr_best = {r["name"]: r["best_accuracy20"] for r in hr}
            hr_rank = ranked(hr_best)
            found = hr_rank[0]
            overlap = len(set(hr_rank[:TOP]) & set(full_top))
            add("halving (eta 3, 4 rungs), real run", secs, iters, found, full_best.get(found), overlap)
            hr_loss = best_acc - full_best[found]
            # cyplam run's own account (halving-run-sS.txt): the seconds against what the full grid
            # would take at the speeds of this run, which the measured full grid (another run,
            # another load on the machine) is not.
            same_speed = None
            txt = os.path.join(d, f"halving-run-s{s}.txt")
            if os.path.exists(txt):
                m = re.search(r"spent ([0-9.]+) s .*?\(([0-9.]+) % of the ([0-9.]+) s the full grid would take at the same speeds\)", open(txt).read())
                if m:
                    same_speed = float(m.group(1)) / float(m.group(3))
            sec_frac = same_speed if same_speed is not None else secs / full_secs
            hr_ok = sec_frac <= HALVING_MAX_FRACTION and iters / full_iters <= HALVING_MAX_FRACTION and hr_loss <= HALVING_MAX_LOSS
            # Same seed, same model: the run's curve should be the full grid's, cut where it stopped.
            diffs = []
            for m, c in hr_curves.items():
                fc = {i: a for i, a, _ in curves.get(m, [])}
                diffs += [abs(a - fc[i]) for i, a, _ in c if i in fc and not math.isnan(a)]
            stopped = defaultdict(int)
            for r in hr:
                stopped[r["iterations_done"]] += 1
            checks.append(f"seed {s}: real halving run: models per stop iteration {dict(sorted(stopped.items()))}; "
                          + ("" if same_speed is None else f"seconds {same_speed:.1%} of what the full grid would take at this run's speeds (cyplam run's account; {secs / full_secs:.1%} of the full grid's measured seconds); ")
                          +
                          f"its curves against the full grid's at the same snapshots: max |difference| "
                          f"{fmt(max(diffs) if diffs else None, 4)} over {len(diffs)} snapshots")
        data_path = os.path.join(d, f"data-s{s}.json")
        if os.path.exists(data_path):
            ds = json.load(open(data_path))["sets"]
            datas.append(f"seed {s}: " + ", ".join(f"{x['name']} {x['frames']} frames from {len(x['tracks'])} tracks" for x in ds))
        verdicts.append((s, h, h_loss, h_ok, es_ok, es_detail, hr_ok))
        traces.append((s, halving_trace(curves, best_name, h["best_model"])))

        # Where the top 10 peaked, and the top 5's curves at 10%, ..., 100% of the run.
        pk = []
        for m in full_top:
            best_it = next(r["best_iteration"] for r in full if r["name"] == m)
            pk.append(100.0 * best_it / total_iters[m])
        peaks.append((s, sorted(pk)))
        lines = []
        for m in full_top[:5]:
            c = curves[m]
            n = c[-1][0]
            pts = []
            for q in range(1, 11):
                at = max((r for r in c if r[0] <= n * q / 10), default=None, key=lambda r: r[0])
                pts.append(fmt(at[1], 3) if at else "")
            spec = next(r for r in full if r["name"] == m)
            arch = f"{spec['ncv1']}-{spec['ncv2']}-{spec['nfc1']}"
            best_it = spec["best_iteration"]
            lines.append([m, arch, fmt(full_best[m], 4), f"{best_it} ({100 * best_it / n:.0f}%)"] + pts + [spark(c)])
        curve_tables.append((s, lines))

    print("| seed | policy | seconds of full | iterations of full | seconds | iterations | best model found | its full-length best Acc20 | vs full grid's best | top-10 overlap | worst top-10 loss |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print("Seconds: training plus validation, the workers' recorded elapsed time up to each stop. "
          "'vs full grid's best': the found model's full-length best Accuracy20% minus the full grid's best. "
          "'worst top-10 loss': the most any of the full grid's top 10 lost (full-length best minus best before the policy stopped it).")
    print()
    print("Targets: halving finds the full grid's best, or one within "
          f"{HALVING_MAX_LOSS} Accuracy20%, for <= {HALVING_MAX_FRACTION:.0%} of the compute; early stopping "
          f"(patience {ES_PATIENCE}) saves >= {ES_MIN_SAVING:.0%} with each top-10 model's best within {ES_MAX_LOSS} of its full-length best.")
    print()
    yes = lambda b: "n/a" if b is None else ("met" if b else "MISSED")
    for s, h, h_loss, h_ok, es_ok, es_detail, hr_ok in verdicts:
        print(f"- seed {s}: halving replay {yes(h_ok)} ({h['seconds_fraction']:.0%} of the seconds, {h['iterations_fraction']:.0%} of the iterations, "
              f"found {h['best_model']}, {fmt(h_loss, 4)} below the best); early stopping {yes(es_ok)} ({es_detail})"
              + ("" if hr_ok is None else f"; real halving run {yes(hr_ok)}"))
    n_h = sum(1 for v in verdicts if v[3])
    n_e = sum(1 for v in verdicts if v[4])
    n_r = [v[6] for v in verdicts if v[6] is not None]
    print(f"- summary: halving replay met the target on {n_h} of {len(verdicts)} seeds, early stopping on {n_e} of {len(verdicts)}"
          + (f", the real halving run on {sum(n_r)} of {len(n_r)}" if n_r else "; no real halving run (this cyplam does not accept [halving])"))
    for c in checks:
        print(f"- {c}")
    print()
    print("Halving, rung by rung (eta 3, 4 rungs; replayed here from the curves, ranked by best validation Accuracy20% so far): "
          "where the full grid's best stood, and the line it had to beat:")
    print()
    for s, tr in traces:
        print(f"- seed {s}: {tr}")
    print()
    sens = []
    for s in seeds:
        for p in sorted(glob.glob(os.path.join(d, f"sensitivity-s{s}-eta*-rungs*.json"))):
            m = re.search(r"-eta(\d+)-rungs(\d+)\.json$", p)
            w = json.load(open(p))
            h = next(x for x in w["policies"] if x["policy"].startswith("halving"))
            loss = None if h["best_model_full_accuracy20"] is None else h["full_grid_best_accuracy20"] - h["best_model_full_accuracy20"]
            sens.append((int(m.group(1)), int(m.group(2)), s, w["halving_rungs"], h, loss))
    if sens:
        print("Halving with other eta and rungs, replayed on the same curves:")
        print()
        print("| eta | rungs | seed | models per rung | seconds of full | iterations of full | best model found | below the full grid's best | top-10 overlap | target |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for e, r, s, per, h, loss in sorted(sens, key=lambda x: (-x[0], -x[1], x[2])):
            ok = h["seconds_fraction"] <= HALVING_MAX_FRACTION and h["iterations_fraction"] <= HALVING_MAX_FRACTION and loss is not None and loss <= HALVING_MAX_LOSS
            print(f"| {e} | {r} | {s} | {'-'.join(map(str, per))} | {h['seconds_fraction']:.3f} | {h['iterations_fraction']:.3f} | {h['best_model']} | {fmt(loss, 4)} | {h['top10_overlap']}/{len(h['full_top10_stopped_at'])} | {'met' if ok else 'MISSED'} |")
        print()
    if datas:
        print("Data (`cyplam data synth`, thinned by thin.py):")
        print()
        for x in datas:
            print(f"- {x}")
        print()
    print("Where the full grid's top 10 peaked (best validation Accuracy20% iteration, % of the run):")
    print()
    for s, pk in peaks:
        print(f"- seed {s}: " + ", ".join(f"{p:.0f}%" for p in pk) + f" (median {pk[len(pk) // 2]:.0f}%)")
    print()
    print("Validation Accuracy20% of each seed's top 5 at 10%, 20%, ..., 100% of the run (the last snapshot at or before), and the whole curve (one character a snapshot, from the curve's best minus 0.10 or lower, ▁, to its best, █):")
    for s, lines in curve_tables:
        print()
        print(f"seed {s}:")
        print()
        print("| model | ncv1-ncv2-nfc1 | best | at | " + " | ".join(f"{q * 10}%" for q in range(1, 11)) + " | curve |")
        print("|---|---|---|---|" + "---|" * 10 + "---|")
        for l in lines:
            print("| " + " | ".join(l) + " |")


def halving_trace(curves, best_name, whatif_found, eta=3, rungs=4):
    """Replays halving (as cyplam_core::halving::replay does) to say where the full grid's best stood."""
    any_curve = next(iter(curves.values()))
    iters = [i for i, _, _ in any_curve]
    total = iters[-1]
    ends = []
    for k in range(rungs):
        target = total * eta ** -(rungs - 1 - k)
        ends.append(next(i for i in iters if i >= target - 1e-9))
    alive = sorted(curves)
    parts = []
    for k, end in enumerate(ends[:-1]):
        best = {m: best_until(curves[m], end) for m in alive}
        order = ranked(best)
        keep = math.ceil(len(alive) / eta)
        cut = best[order[keep - 1]]
        if best_name in order:
            r = order.index(best_name) + 1
            parts.append(f"rung {k} (iteration {end}): {best_name} {r} of {len(alive)} with {fmt(best[best_name], 4)}, "
                         f"the last kept (#{keep}) had {fmt(cut, 4)}" + ("" if r <= keep else " -> dropped"))
        alive = order[:keep]
    found = ranked({m: best_until(curves[m], ends[-1]) for m in alive})[0]
    parts.append(f"found {found}" + ("" if found == whatif_found else f" (cyplam's replay says {whatif_found}: differs!)"))
    return "; ".join(parts)


BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_RANGE = 0.10


def spark(curve):
    """The curve as one line of block characters, from its best minus SPARK_RANGE (and below) to its best."""
    vals = [a for _, a, _ in curve if not math.isnan(a)]
    if not vals:
        return ""
    hi = max(vals)
    lo = max(min(vals), hi - SPARK_RANGE)
    span = hi - lo or 1.0
    return "`" + "".join(BLOCKS[max(0, min(len(BLOCKS) - 1, int((a - lo) / span * len(BLOCKS))))] if not math.isnan(a) else " " for _, a, _ in curve) + "`"


if __name__ == "__main__":
    main()
