"""Seconds per optimizer step and peak memory: 05_train_kto.py against TRL's KTOTrainer and DPOTrainer, one run.

Same tiny model (tinylm: 2-layer, 64-wide Llama, float32 on both sides), same data, batch 8, max length 512.
TRL runs at its defaults (reference model forwarded every step) and with precompute_ref_log_probs=True (its
fastest); bf16 is off on both sides so the precision is the same. Every configuration runs in its own process, so
the peak memory (process peak RSS on CPU, torch peak allocated on CUDA) is its own. Step time is the median of
the steps after --warmup; the first loss of each run is printed (all start from policy == reference, so KTO's is
λ/2 per example and DPO's is log 2).

    python bench/bench_train.py                       # the full comparison (the lead's timed run)
    python bench/bench_train.py --steps 4 --examples 32 --warmup 1     # a quick check that it runs
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per configuration")
    p.add_argument("--warmup", type=int, default=3, help="steps left out of the median")
    p.add_argument("--examples", type=int, default=256)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--max_length", type=int, default=512)
    p.add_argument("--vocab", type=int, default=None,
                   help="widen the model's vocabulary to this size (e.g. 32000, 151936: a real model's LM head; the "
                        "tokenizer keeps its 512 tokens, so only the logits grow)")
    p.add_argument("--only", default=None, help="comma-separated configuration names")
    p.add_argument("--repeats", type=int, default=2,
                   help="run the configurations this many times, interleaved, and keep each one's best median "
                        "(a shared machine's load spikes hit one repeat, not all)")
    p.add_argument("--_one", default=None, help=argparse.SUPPRESS)  # internal: run one configuration
    p.add_argument("--_dir", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def make_world(d, n, max_length, seed=0, vocab=None):
    """The tiny model and KTO/DPO files whose rows fill 40-100% of max_length (prompt ~1/4 of it)."""
    sys.path.insert(0, REPO)
    from tinylm import build_tiny_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = build_tiny_model(os.path.join(d, "model"))
    if vocab:
        m = AutoModelForCausalLM.from_pretrained(model)
        m.resize_token_embeddings(vocab, mean_resizing=False)
        m.save_pretrained(model)
    tok = AutoTokenizer.from_pretrained(model)
    rng = random.Random(seed)
    words = ["def", "return", "x", "y", "for", "in", "range", "if", "else", "print", "assert", "list", "max", "(", ")",
             ":", "+", "-", "==", "0", "1", "2", "\n    ", "\n"]

    def text(n_tokens):
        s = ""
        while len(tok(s)["input_ids"]) < n_tokens:
            s += " ".join(rng.choice(words) for _ in range(16)) + " "
        ids = tok(s)["input_ids"][:n_tokens]
        return tok.decode(ids)

    kto, dpo = [], []
    for i in range(n):
        total = rng.randint(int(0.4 * max_length), max_length - 8)
        p = text(total // 4)
        c1, c2 = text(total - total // 4), text(rng.randint(total // 2, total - total // 4))
        kto.append({"task_id": f"t{i}", "sample_id": 0, "prompt": p, "completion": c1, "label": i % 2 == 0})
        dpo.append({"task_id": f"t{i}", "prompt": p, "chosen": c1, "rejected": c2})
    for name, recs in (("kto", kto), ("dpo", dpo)):
        with open(os.path.join(d, f"{name}.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in recs)
    return model


def peak_mb():
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2 ** 20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(args, loss, *extra):
    d = args._dir
    out = os.path.join(d, f"ours-{loss}")
    cmd = [sys.executable, os.path.join(REPO, "05_train_kto.py"), "--model", os.path.join(d, "model"), "--data",
           os.path.join(d, f"{loss}.jsonl"), "--output_dir", out, "--overwrite", "--loss", loss,
           "--max_steps", str(args.steps), "--batch_size", str(args.batch_size), "--max_length", str(args.max_length),
           "--save_every", "0", "--no_plot", "--no_shuffle", *extra]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    m = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return {"step_s": [x["seconds"] for x in m], "first_loss": m[0]["loss"], "peak_mb": m[-1]["memory_mb"],
            "wall_s": time.time() - t0}


def run_trl(args, loss, precompute):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    d = args._dir
    tok = AutoTokenizer.from_pretrained(os.path.join(d, "model"))
    model = AutoModelForCausalLM.from_pretrained(os.path.join(d, "model"), dtype=torch.float32)
    recs = [json.loads(line) for line in open(os.path.join(d, f"{loss}.jsonl"))]
    times = []

    class Timer(TrainerCallback):
        # a step is the interval between two step ends: it holds the batch's loading and collation and the
        # previous step's logging, as 05's "seconds" does (on_step_begin fires after the batch is loaded)
        def on_train_begin(self, *a, **k):
            self.t = time.time()

        def on_step_end(self, *a, **k):
            now = time.time()
            times.append(now - self.t)
            self.t = now

    common = dict(output_dir=os.path.join(d, "trl"), per_device_train_batch_size=args.batch_size,
                  max_length=args.max_length, max_steps=args.steps, logging_steps=1, report_to=[],
                  save_strategy="no", learning_rate=5e-7, bf16=False, precompute_ref_log_probs=precompute,
                  use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
    t0 = time.time()
    if loss == "kto":
        from trl import KTOConfig, KTOTrainer
        ds = Dataset.from_list([{k: r[k] for k in ("prompt", "completion", "label")} for r in recs])
        trainer = KTOTrainer(model=model, args=KTOConfig(**common), train_dataset=ds, processing_class=tok,
                             callbacks=[Timer()])
    else:
        from trl import DPOConfig, DPOTrainer
        ds = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in recs])
        trainer = DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=ds, processing_class=tok,
                             callbacks=[Timer()])
    trainer.train()
    first = next(h["loss"] for h in trainer.state.log_history if "loss" in h)
    return {"step_s": times, "first_loss": first, "peak_mb": peak_mb(), "wall_s": time.time() - t0}


CONFIGS = {
    "ours-kto": lambda a: run_ours(a, "kto"),  # defaults: rows packed, KL rows in a no-grad pass
    "ours-kto-padded": lambda a: run_ours(a, "kto", "--no_packing"),
    "ours-kto-samepass": lambda a: run_ours(a, "kto", "--no_packing", "--kl_pass", "same"),  # the first session's
    "trl-kto-default": lambda a: run_trl(a, "kto", False),
    "trl-kto-precompute": lambda a: run_trl(a, "kto", True),
    "ours-dpo": lambda a: run_ours(a, "dpo"),
    "ours-dpo-padded": lambda a: run_ours(a, "dpo", "--no_packing"),
    "trl-dpo-default": lambda a: run_trl(a, "dpo", False),
    "trl-dpo-precompute": lambda a: run_trl(a, "dpo", True),
}


def main():
    args = parse_args()
    if args._one:  # a child process: one configuration, its result as the last line of stdout
        print(json.dumps(CONFIGS[args._one](args)))
        return
    names = args.only.split(",") if args.only else list(CONFIGS)
    with tempfile.TemporaryDirectory() as d:
        make_world(d, args.examples, args.max_length, vocab=args.vocab)
        results = {}
        for name in [n for _ in range(args.repeats) for n in names]:
            cmd = [sys.executable, __file__, "--_one", name, "--_dir", d, "--steps", str(args.steps), "--examples",
                   str(args.examples), "--batch_size", str(args.batch_size), "--max_length", str(args.max_length)]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if r.returncode:
                print(f"{name}: failed\n{r.stderr[-3000:]}", file=sys.stderr)
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
            steps = res["step_s"][args.warmup:] or res["step_s"]
            res["median_step_s"] = statistics.median(steps)
            if name not in results or res["median_step_s"] < results[name]["median_step_s"]:
                results[name] = res
            print(f"{name:20s} {res['median_step_s']:.4f} s/step  peak {res['peak_mb']:.0f} MB  first loss "
                  f"{res['first_loss']:.4f}  ({len(res['step_s'])} steps, {res['wall_s']:.1f}s wall)", flush=True)
    print(f"\nbest median of {args.repeats} repeat(s), seconds per optimizer step and peak memory:")
    for name, res in results.items():
        print(f"| {name} | {res['median_step_s']:.3f} | {res['peak_mb']:.0f} MB | {res['first_loss']:.4f} |")
    for loss in ("kto", "dpo"):
        ours = results.get(f"ours-{loss}")
        trl = [v for k, v in results.items() if k.startswith(f"trl-{loss}")]
        if ours and trl:
            fastest = min(trl, key=lambda v: v["median_step_s"])
            lowest = min(v["peak_mb"] for v in trl)
            print(f"{loss}: ours / TRL fastest step time = {ours['median_step_s'] / fastest['median_step_s']:.2f} "
                  f"(goal <= 0.5); peak memory ours / TRL lowest = {ours['peak_mb'] / lowest:.2f} (goal < 1); "
                  f"first losses {ours['first_loss']:.4f} vs "
                  + ", ".join(f"{v['first_loss']:.4f}" for v in trl))


if __name__ == "__main__":
    main()
