"""Prints bench/run's table from its JSON lines: medians over rounds, and speed ratios
(cyplam's rate / PyTorch's rate, so above 1 means cyplam is faster)."""
import json, statistics, sys
from collections import defaultdict

vals = defaultdict(list)
extra = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    key = (r["threads"], r["model"], r["impl"], r["what"])
    vals[key].append(r.get("ms_per_it", r.get("frames_per_s")))
    if "batch" in r:
        extra[key] = f'{r["batch"]}/{"CL" if r["layout"] == "channels_last" else "NCHW"}'

def med(*k):
    v = vals.get(k)
    return statistics.median(v) if v else None

def f(x, fmt="{:.1f}"):
    return "-" if x is None else fmt.format(x)

def ratio(a, b):
    return None if a is None or b is None else a / b

configs = sorted({(k[0], k[1]) for k in vals}, key=lambda c: (c[0], [int(x) for x in c[1].split("-")]))
print("\nTraining step, ms per iteration (batch 128); ratio = cyplam iterations/s / PyTorch reference iterations/s")
print(f'{"thr":>3} {"model":<15} {"torch ref":>9} {"torch fused":>11} {"cyplam fp32":>11} {"ratio":>6} {"torch bf16":>10} {"cyplam bf16":>11} {"ratio":>6}')
for t, m in configs:
    ref = med(t, m, "pytorch", "train_fp32")
    cy = med(t, m, "cyplam", "train_fp32")
    cyb = med(t, m, "cyplam", "train_bf16")
    print(f'{t:>3} {m:<15} {f(ref):>9} {f(med(t, m, "pytorch-tuned", "train_fp32")):>11} {f(cy):>11} {f(ratio(ref, cy), "{:.2f}x"):>6}'
          f' {f(med(t, m, "pytorch-tuned", "train_bf16")):>10} {f(cyb):>11} {f(ratio(ref, cyb), "{:.2f}x"):>6}')
print("\nValidation pass, frames/s; ratio = cyplam / PyTorch reference (no_grad, batch 4096, NCHW); tuned = best batch/layout")
print("(cyplam validates in fp32 under either training precision; tuned bf16 is PyTorch's autocast, for comparison)")
print(f'{"thr":>3} {"model":<15} {"torch ref":>9} {"torch tuned":>11} {"batch/lay":>10} {"cyplam fp32":>11} {"ratio":>6} {"tuned bf16":>10}')
for t, m in configs:
    ref = med(t, m, "pytorch", "eval_fp32")
    cy = med(t, m, "cyplam", "eval_fp32")
    print(f'{t:>3} {m:<15} {f(ref, "{:.0f}"):>9} {f(med(t, m, "pytorch-tuned", "eval_fp32"), "{:.0f}"):>11} {extra.get((t, m, "pytorch-tuned", "eval_fp32"), "-"):>10}'
          f' {f(cy, "{:.0f}"):>11} {f(ratio(cy, ref), "{:.2f}x"):>6} {f(med(t, m, "pytorch-tuned", "eval_bf16"), "{:.0f}"):>10}')
