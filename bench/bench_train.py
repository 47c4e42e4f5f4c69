"""Seconds per optimizer step and peak memory: 05_train_kto.py against TRL's KTOTrainer and DPOTrainer, one run.

Same tiny model (tinylm: 2-layer, 64-wide Llama, float32 on both sides), same data, batch 8, max length 512.
TRL runs at its defaults (reference model forwarded every step) and with precompute_ref_log_probs=True (its
fastest); bf16 is off on both sides so the precision is the same. Every configuration runs in its own process, so
the peak memory (process peak RSS on CPU, torch peak allocated on CUDA) is its own. Step time is the median of
the steps after --warmup; the first loss of each run is printed (all start from policy == reference, so KTO's is
λ/2 per example and DPO's is log 2).

    python bench/bench_train.py                       # the full comparison (the lead's timed run)
    python bench/bench_train.py --steps 4 --examples 32 --warmup 1     # a quick check that it runs
    OMP_NUM_THREADS=1 python bench/bench_train.py --shape qwen2.5-0.5b  # real shapes (below)

--shape qwen2.5-0.5b: Qwen2.5-Coder-0.5B-Instruct itself (its config, weights and tokenizer: 24 layers, 896 wide,
151,936-token untied LM head, 494M matmul parameters; `python bench/get_real_model.py --model
qwen2.5-coder-0.5b-instruct` puts it in ~/.cache/plum-models), real MBPP-train rows (the instruction and its tests in
the model's chat template; the reference program in a fence as the completion: 150-400 tokens a row), batch 8, full
fine-tuning and LoRA (05's defaults: r 16, alpha 32, every linear layer; TRL gets the same peft LoraConfig). TRL runs
with precompute_ref_log_probs=True (its fastest); its reference pass over the data happens before the first step,
so its per-step time is shown without it and with it spread over the steps ("+ref"). Each configuration also
measures this machine's matmul throughput in its own process (float32 torch.mm at the model's MLP shape, same
threads) and reports a CPU "MFU": the training FLOPs a step needs (6 x params x the step's policy tokens for full
fine-tuning, 4 x for LoRA, whose frozen weights need no weight gradient; the reference and KL forward passes are
counted as overhead, not as useful work) over the step time, as a share of that throughput.
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
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per configuration (tiny 20, qwen 3)")
    p.add_argument("--warmup", type=int, default=None, help="steps left out of the median (tiny 3, qwen 1)")
    p.add_argument("--examples", type=int, default=256)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--max_length", type=int, default=512)
    p.add_argument("--vocab", type=int, default=None,
                   help="widen the model's vocabulary to this size (e.g. 32000, 151936: a real model's LM head; the "
                        "tokenizer keeps its 512 tokens, so only the logits grow)")
    p.add_argument("--only", default=None, help="comma-separated configuration names")
    p.add_argument("--shape", choices=["tiny", "qwen2.5-0.5b"], default="tiny",
                   help="tiny: tinylm's 2-layer 64-wide Llama on synthetic rows; qwen2.5-0.5b: the real model on "
                        "real MBPP rows (defaults then: --steps 3 --warmup 1 --repeats 1, LoRA configurations added)")
    p.add_argument("--model", default=os.path.expanduser(
                       "~/.cache/plum-models/hf/qwen2.5-coder-0.5b-instruct-float32"),
                   help="--shape qwen2.5-0.5b: the checkpoint folder")
    p.add_argument("--repeats", type=int, default=None,
                   help="run the configurations this many times, interleaved, and keep each one's best median "
                        "(a shared machine's load spikes hit one repeat, not all; tiny 2, qwen 1)")
    p.add_argument("--_one", default=None, help=argparse.SUPPRESS)  # internal: run one configuration
    p.add_argument("--_dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    real = args.shape != "tiny"
    for k, tiny, qwen in (("steps", 20, 3), ("warmup", 3, 1), ("repeats", 2, 1)):
        if getattr(args, k) is None:
            setattr(args, k, qwen if real else tiny)
    if real and args.examples == 256:
        args.examples = args.steps * args.batch_size   # TRL's reference pre-pass covers every row: one epoch's worth
    return args


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


def make_real_world(d, n, model, seed=0):
    """Real MBPP-train rows for the real model: the prompt 02 would give (the instruction and its tests in the chat
    template), the reference program as the completion (KTO: every other row labelled undesirable; DPO: rejected =
    another task's reference). Writes the rows and their token counts (tokens.json) for the FLOP count."""
    sys.path.insert(0, REPO)
    from transformers import AutoTokenizer
    from common import solution_request
    tok = AutoTokenizer.from_pretrained(model)
    path = os.path.join(REPO, "..", "shared", "data", "mbpp", "mbpp.jsonl")
    rows = [json.loads(line) for line in open(path)]
    rows = [r for r in rows if 601 <= int(r["task_id"]) <= 974][:n]
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} MBPP-train rows in {path}; ask for fewer --examples")
    rng = random.Random(seed)
    kto, dpo, tokens = [], [], {"kto": [], "dpo": []}
    for i, r in enumerate(rows):
        task = {"instruction": r["text"], "entry_point": None, "tests": r["test_list"]}
        prompt = tok.apply_chat_template([{"role": "user", "content": solution_request(task, chat=True).text}],
                                         tokenize=False, add_generation_prompt=True)
        code = r["code"].replace("\r\n", "\n")
        other = rows[(i + 1 + rng.randrange(n - 1)) % n]["code"].replace("\r\n", "\n")
        good, bad = f"```python\n{code}\n```", f"```python\n{other}\n```"
        kto.append({"task_id": f"t{i}", "sample_id": 0, "prompt": prompt, "completion": good, "label": i % 2 == 0})
        dpo.append({"task_id": f"t{i}", "prompt": prompt, "chosen": good, "rejected": bad})
        n_p, n_g, n_b = (len(tok(x, add_special_tokens=False)["input_ids"]) for x in (prompt, good, bad))
        tokens["kto"].append(n_p + n_g + 1)                    # + the end token 05 appends
        tokens["dpo"].append(2 * n_p + n_g + n_b + 2)          # both rows of the pair
    for name, recs in (("kto", kto), ("dpo", dpo)):
        with open(os.path.join(d, f"{name}.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in recs)
    with open(os.path.join(d, "tokens.json"), "w") as f:
        json.dump(tokens, f)
    return model


def matmul_gflops(seconds=3.0):
    """This process's float32 matmul throughput at the model's MLP shape (the physical ceiling a step is measured
    against): 1,600 rows (a batch of 8 real rows) times an 896 x 4,864 weight, repeated for `seconds`."""
    import torch
    a, b = torch.randn(1600, 896), torch.randn(896, 4864)
    torch.mm(a, b)
    n, t0 = 0, time.time()
    while time.time() - t0 < seconds:
        torch.mm(a, b)
        n += 1
    return 2 * 1600 * 896 * 4864 * n / (time.time() - t0) / 1e9


def matmul_params(model):
    """Parameters that take part in matmuls (every linear layer and the LM head; not the embedding lookup)."""
    c = json.load(open(os.path.join(model, "config.json")))
    h, i, L, v = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    kv = h // c["num_attention_heads"] * c["num_key_value_heads"]
    return L * (2 * h * h + 2 * h * kv + 3 * h * i) + h * v


def peak_mb():
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2 ** 20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_dir(args):
    return args.model if args.shape != "tiny" else os.path.join(args._dir, "model")


def run_ours(args, loss, *extra):
    d = args._dir
    out = os.path.join(d, f"ours-{loss}")
    cmd = [sys.executable, os.path.join(REPO, "05_train_kto.py"), "--model", model_dir(args), "--data",
           os.path.join(d, f"{loss}.jsonl"), "--output_dir", out, "--overwrite", "--loss", loss,
           "--max_steps", str(args.steps), "--batch_size", str(args.batch_size), "--max_length", str(args.max_length),
           "--save_every", "0", "--no_plot", "--no_shuffle", *extra]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    m = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return {"step_s": [x["seconds"] for x in m], "first_loss": m[0]["loss"], "peak_mb": m[-1]["memory_mb"],
            "wall_s": time.time() - t0, "ref_s": 0.0}


def run_trl(args, loss, precompute, lora=False):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    d = args._dir
    tok = AutoTokenizer.from_pretrained(model_dir(args))
    model = AutoModelForCausalLM.from_pretrained(model_dir(args), dtype=torch.float32)
    peft = {}
    if lora:  # 05's LoRA defaults
        from peft import LoraConfig
        peft = {"peft_config": LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                          task_type="CAUSAL_LM")}
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
        from trl import KTOConfig as Config, KTOTrainer as Trainer
        ds = Dataset.from_list([{k: r[k] for k in ("prompt", "completion", "label")} for r in recs])
    else:
        from trl import DPOConfig as Config, DPOTrainer as Trainer
        ds = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in recs])
    # the reference pre-pass runs inside the trainer's constructor: time it, to spread it over the steps
    ref_s, pre = [0.0], Trainer._precompute_ref_logps

    def timed(self, *a, **k):
        t = time.time()
        try:
            return pre(self, *a, **k)
        finally:
            ref_s[0] += time.time() - t
    Trainer._precompute_ref_logps = timed
    trainer = Trainer(model=model, args=Config(**common), train_dataset=ds, processing_class=tok,
                      callbacks=[Timer()], **peft)
    trainer.train()
    first = next(h["loss"] for h in trainer.state.log_history if "loss" in h)
    return {"step_s": times, "first_loss": first, "peak_mb": peak_mb(), "wall_s": time.time() - t0,
            "ref_s": ref_s[0]}


REAL_CONFIGS = {   # --shape qwen2.5-0.5b: the defaults of each side, full and LoRA; TRL at its fastest
    "ours-kto": lambda a: run_ours(a, "kto"),
    "ours-kto-lora": lambda a: run_ours(a, "kto", "--lora"),
    "ours-kto-padded": lambda a: run_ours(a, "kto", "--no_packing"),   # where the memory goes: packing or not
    "trl-kto-precompute": lambda a: run_trl(a, "kto", True),
    "trl-kto-lora-precompute": lambda a: run_trl(a, "kto", True, lora=True),
    "ours-dpo": lambda a: run_ours(a, "dpo"),
    "ours-dpo-lora": lambda a: run_ours(a, "dpo", "--lora"),
    "trl-dpo-precompute": lambda a: run_trl(a, "dpo", True),
    "trl-dpo-lora-precompute": lambda a: run_trl(a, "dpo", True, lora=True),
}

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
    configs = CONFIGS if args.shape == "tiny" else REAL_CONFIGS
    if args._one:  # a child process: one configuration, its result as the last line of stdout
        res = configs[args._one](args)
        if args.shape != "tiny":   # the ceiling, measured in this process after its run, at its thread count
            res["mm_gflops"] = matmul_gflops()
        print(json.dumps(res))
        return
    if args.shape != "tiny" and not os.path.isfile(os.path.join(args.model, "config.json")):
        raise SystemExit(f"no model at {args.model}: python bench/get_real_model.py --model qwen2.5-coder-0.5b-instruct")
    names = args.only.split(",") if args.only else list(configs)
    with tempfile.TemporaryDirectory() as d:
        if args.shape == "tiny":
            make_world(d, args.examples, args.max_length, vocab=args.vocab)
            tokens = None
        else:
            make_real_world(d, args.examples, args.model)
            tokens = json.load(open(os.path.join(d, "tokens.json")))
            params = matmul_params(args.model)
            print(f"{args.model}: {params / 1e6:.0f}M matmul parameters; rows of {min(tokens['kto'])}-"
                  f"{max(tokens['kto'])} tokens (KTO), torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}",
                  flush=True)
        results = {}
        for name in [n for _ in range(args.repeats) for n in names]:
            cmd = [sys.executable, __file__, "--_one", name, "--_dir", d, "--steps", str(args.steps), "--examples",
                   str(args.examples), "--batch_size", str(args.batch_size), "--max_length", str(args.max_length),
                   "--shape", args.shape, "--model", args.model, "--warmup", str(args.warmup),
                   "--repeats", str(args.repeats)]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if r.returncode:
                print(f"{name}: failed\n{r.stderr[-3000:]}", file=sys.stderr)
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
            steps = res["step_s"][args.warmup:] or res["step_s"]
            res["median_step_s"] = statistics.median(steps)
            res["with_ref_s"] = res["median_step_s"] + res["ref_s"] / args.steps
            if tokens:
                loss = "kto" if "kto" in name else "dpo"
                useful = (4 if "lora" in name else 6) * params * statistics.mean(tokens[loss]) * args.batch_size
                res["mfu"] = useful / res["with_ref_s"] / (res["mm_gflops"] * 1e9)
            if name not in results or res["median_step_s"] < results[name]["median_step_s"]:
                results[name] = res
            extra = (f"  +ref {res['with_ref_s']:.2f} s  MFU {100 * res['mfu']:.1f}% of {res['mm_gflops']:.0f} GFLOP/s"
                     if tokens else "")
            print(f"{name:24s} {res['median_step_s']:.4f} s/step{extra}  peak {res['peak_mb']:.0f} MB  first loss "
                  f"{res['first_loss']:.4f}  ({len(res['step_s'])} steps, {res['wall_s']:.1f}s wall)", flush=True)
    print(f"\nbest median of {args.repeats} repeat(s), seconds per optimizer step and peak memory:")
    for name, res in results.items():
        real = (f" {res['with_ref_s']:.2f} | {100 * res['mfu']:.1f}% of {res['mm_gflops']:.0f} GFLOP/s |"
                if tokens else "")
        print(f"| {name} | {res['median_step_s']:.3f} |{real} {res['peak_mb']:.0f} MB | {res['first_loss']:.4f} |")
    key = "median_step_s" if not tokens else "with_ref_s"   # real shapes: TRL's reference pre-pass counted
    pairs = [("kto", "kto"), ("dpo", "dpo")] + ([("kto-lora", "kto-lora"), ("dpo-lora", "dpo-lora")] if tokens else [])
    for loss, trl_key in pairs:
        ours = results.get(f"ours-{loss}")
        trl = [v for k, v in results.items() if k.startswith(f"trl-{trl_key}")
               and ("lora" in k) == ("lora" in loss)]
        if ours and trl and tokens:
            fastest = min(trl, key=lambda v: v[key])
            print(f"{loss}: ours / TRL step time (reference pass included) = {ours[key] / fastest[key]:.2f} "
                  f"(goal <= 0.5); peak memory ours / TRL = {ours['peak_mb'] / fastest['peak_mb']:.2f}; "
                  f"MFU ours {100 * ours['mfu']:.1f}%, TRL {100 * fastest['mfu']:.1f}%; first losses "
                  f"{ours['first_loss']:.4f} vs {fastest['first_loss']:.4f}")
        elif ours and trl:
            fastest = min(trl, key=lambda v: v["median_step_s"])
            lowest = min(v["peak_mb"] for v in trl)
            print(f"{loss}: ours / TRL fastest step time = {ours['median_step_s'] / fastest['median_step_s']:.2f} "
                  f"(goal <= 0.5); peak memory ours / TRL lowest = {ours['peak_mb'] / lowest:.2f} (goal < 1); "
                  f"first losses {ours['first_loss']:.4f} vs "
                  + ", ".join(f"{v['first_loss']:.4f}" for v in trl))


if __name__ == "__main__":
    main()
