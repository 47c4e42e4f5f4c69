"""Completion-token log-probs from hidden states: kto_loss.linear_token_logps (chunks of the LM head, logits
recomputed in the backward) against the plain way (full logits, then kto_loss.token_logps), forward + backward.

    python bench/bench_logps.py                          # 3,000 rows, H 64, V 32,000 (bench_train --vocab 32000)
    python bench/bench_logps.py --rows 8192 --hidden 896 --vocab 151936   # Qwen2.5-0.5B's head, 8 rows x 1k tokens

Each variant runs in its own process (peak RSS is per process); prints the min and median of --repeats timed runs
after one warm-up, the peak memory, and the ratios. The two must agree (checked before timing).
"""

import argparse
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=3000, help="scored positions (N)")
    p.add_argument("--hidden", type=int, default=64, help="hidden size (H)")
    p.add_argument("--vocab", type=int, default=32000, help="vocabulary (V)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--_one", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_one(args):
    sys.path.insert(0, REPO)
    import torch
    from kto_loss import linear_token_logps, token_logps
    torch.manual_seed(0)
    h = torch.randn(args.rows, args.hidden, requires_grad=True)
    w = (torch.randn(args.vocab, args.hidden) * 0.05).requires_grad_()
    t = torch.randint(0, args.vocab, (args.rows,))
    f = {"full": lambda: token_logps(h @ w.T, t), "chunked": lambda: linear_token_logps(h, w, t)}[args._one]
    times = []
    for i in range(args.repeats + 1):
        h.grad = w.grad = None
        s = time.perf_counter()
        f().sum().backward()
        if i:  # the first run warms up
            times.append(time.perf_counter() - s)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{min(times):.4f} {times[len(times) // 2]:.4f} {peak:.0f}")


def main():
    args = parse_args()
    if args._one:
        return run_one(args)
    sys.path.insert(0, REPO)
    import torch
    from kto_loss import linear_token_logps, token_logps
    # agreement first, on a small slice in float64
    g = torch.Generator().manual_seed(1)
    h = torch.randn(64, args.hidden, generator=g, dtype=torch.float64)
    w = torch.randn(args.vocab, args.hidden, generator=g, dtype=torch.float64) * 0.05
    t = torch.randint(0, args.vocab, (64,), generator=g)
    assert torch.allclose(linear_token_logps(h, w, t, 7), token_logps(h @ w.T, t)), "the two disagree"
    res = {}
    for name in ("full", "chunked"):
        out = subprocess.run([sys.executable, __file__, "--_one", name, "--rows", str(args.rows), "--hidden",
                              str(args.hidden), "--vocab", str(args.vocab), "--repeats", str(args.repeats)],
                             capture_output=True, text=True, check=True).stdout.split()
        res[name] = tuple(map(float, out))
        print(f"{name:8s} min {res[name][0]:.3f} s  median {res[name][1]:.3f} s  peak {res[name][2]:.0f} MB")
    print(f"N {args.rows} H {args.hidden} V {args.vocab}: chunked / full time {res['chunked'][0] / res['full'][0]:.2f} "
          f"(min), peak memory {res['chunked'][2] / res['full'][2]:.2f}")


if __name__ == "__main__":
    main()
