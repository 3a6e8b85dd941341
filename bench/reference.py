"""Reference PyTorch implementations of SPEC.md's protocol, timed the same way as cyplam's
worker bench (crates/cyplam-worker/src/bin/cyplam-worker-bench.rs). Prints one JSON object a line.

"reference": what a user would write: nn.Module, torch.optim.Adam (default, fp32), random batches
of 128 made up front (no DataLoader), model.eval() + torch.no_grad() over batches of 4096 frames.
"tuned": torch.optim.Adam(fused=True), torch.inference_mode() with channels_last and the fastest
inference batch among a few, and (for bf16) torch.autocast("cpu", dtype=torch.bfloat16).
"""
import argparse, json, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, wc1, ncv1, wc2, ncv2, nfc1, keep=0.75):
        super().__init__()
        self.conv1 = nn.Conv2d(1, ncv1, wc1, padding=(wc1 - 1) // 2)
        self.conv2 = nn.Conv2d(ncv1, ncv2, wc2, padding=(wc2 - 1) // 2)
        self.fc1 = nn.Linear(7 * 7 * ncv2, nfc1)
        self.fc2 = nn.Linear(nfc1, 2)
        self.drop = nn.Dropout(1 - keep)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x.view(-1, 1, 28, 28)), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = self.drop(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


def median_rate(fn, reps):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def bench_train(arch, iters, reps, fused, bf16):
    torch.manual_seed(0)
    net = Net(*arch)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-5, fused=True) if fused else torch.optim.Adam(net.parameters(), lr=1e-5)
    batches = [(torch.rand(128, 1, 28, 28), 1 + 0.1 * torch.randn(128, 2)) for _ in range(16)]

    def run(n):
        for i in range(n):
            x, y = batches[i % len(batches)]
            opt.zero_grad()
            if bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    pred = net(x)
                loss = ((pred.float() - y) ** 2).mean()
            else:
                loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            loss.item()

    run(5)
    return 1000 * median_rate(lambda: run(iters), reps) / iters


def bench_eval(arch, frames, reps, tuned, bf16):
    torch.manual_seed(0)
    net = Net(*arch).eval()
    x = torch.rand(frames, 1, 28, 28)
    y = 1 + 0.1 * torch.randn(frames, 2)

    def evaluate(batch, cl):
        m = net
        sq, hits = 0.0, 0
        ctx = torch.inference_mode() if tuned else torch.no_grad()
        with ctx:
            for s in range(0, frames, batch):
                xb = x[s:s + batch]
                if cl:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                if bf16:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        p = m(xb).float()
                else:
                    p = m(xb)
                yb = y[s:s + batch]
                sq += ((p - yb) ** 2).sum().item()
                hits += int(((yb / p - 1).abs().amax(1) < 0.2).sum())
        return sq, hits

    if not tuned:
        evaluate(4096, False)
        return frames / median_rate(lambda: evaluate(4096, False), reps), 4096, "nchw"
    net = net.to(memory_format=torch.channels_last)
    best = None
    for batch in (128, 512, 2048):
        for cl in (True, False):
            evaluate(batch, cl)
            r = frames / median_rate(lambda: evaluate(batch, cl), max(1, reps // 2))
            if best is None or r > best[0]:
                best = (r, batch, cl)
    r = frames / median_rate(lambda: evaluate(best[1], best[2]), reps)
    return r, best[1], "channels_last" if best[2] else "nchw"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="5-8-5-32-100,5-8-5-32-700,5-32-5-64-1000")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--eval-frames", type=int, default=8192)
    ap.add_argument("--bf16", action="store_true", help="also time bf16 autocast")
    a = ap.parse_args()
    torch.set_num_interop_threads(1)
    for t in [int(s) for s in a.threads.split(",")]:
        torch.set_num_threads(t)
        for m in a.models.split(","):
            arch = [int(v) for v in m.split("-")]
            def emit(impl, what, **kw):
                print(json.dumps(dict(impl=impl, model=m, threads=t, what=what, **kw)), flush=True)
            emit("pytorch", "train_fp32", ms_per_it=bench_train(arch, a.iters, a.reps, False, False))
            emit("pytorch-tuned", "train_fp32", ms_per_it=bench_train(arch, a.iters, a.reps, True, False))
            if a.bf16:
                emit("pytorch-tuned", "train_bf16", ms_per_it=bench_train(arch, a.iters, a.reps, True, True))
            r, b, l = bench_eval(arch, a.eval_frames, a.reps, False, False)
            emit("pytorch", "eval_fp32", frames_per_s=r, batch=b, layout=l)
            r, b, l = bench_eval(arch, a.eval_frames, a.reps, True, False)
            emit("pytorch-tuned", "eval_fp32", frames_per_s=r, batch=b, layout=l)
            if a.bf16:
                r, b, l = bench_eval(arch, a.eval_frames, a.reps, True, True)
                emit("pytorch-tuned", "eval_bf16", frames_per_s=r, batch=b, layout=l)


if __name__ == "__main__":
    main()
