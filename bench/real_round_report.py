"""The figures of one real PLUM round (bench/real_plum_round.sh): what each stage made of real text, and what it cost.

    python bench/real_round_report.py runs/real_round            # markdown on stdout

Reads the run folder run_plum.sh wrote (tests/, round-0/, round-1/) and the stage_times.tsv that
bench/real_plum_round.sh's wrapper appended (script, wall seconds, peak resident memory in KB, one line per stage
run, in order). Every figure is counted from the records, not from the logs.
"""

import collections
import json
import os
import sys


def jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/real_round"
    run = json.load(open(os.path.join(out, "run.json")))
    print(f"# One real PLUM round: {run['model']}\n")
    print(f"torch {run['environment']['torch']}, transformers {run['environment']['transformers']}, "
          f"OMP_NUM_THREADS {run['environment']['OMP_NUM_THREADS']}; settings: {out}/run.json\n")

    # 01: tests written by the model
    kept = jsonl(os.path.join(out, "tests", "tests.jsonl"))
    skipped = jsonl(os.path.join(out, "tests", "tests.skipped.jsonl"))
    asked = kept + skipped
    tot = collections.Counter()
    for r in asked:
        for k in ("n_generated", "n_parsed", "n_trivial", "n_kept"):
            tot[k] += r.get(k) or 0
    reasons = collections.Counter(r.get("reason", "?").split(":")[0] for r in skipped)
    print("## 01: tests written by the model\n")
    print(f"- instructions asked: {len(asked)}; kept (at least --min_tests tests): {len(kept)}; skipped: "
          f"{len(skipped)} {dict(reasons) if reasons else ''}")
    print(f"- assert statements found in the answers: {tot['n_generated']}; parsed (valid, unique, calling the entry "
          f"point): {tot['n_parsed']} ({tot['n_parsed'] / max(tot['n_generated'], 1):.0%})")
    failed_ref = tot["n_parsed"] - tot["n_trivial"] - tot["n_kept"]
    print(f"- dropped as trivial (passed by every stub): {tot['n_trivial']}; failed by MBPP's reference program: "
          f"{failed_ref}; kept: {tot['n_kept']} ({tot['n_kept'] / max(tot['n_parsed'], 1):.0%} of parsed), "
          f"{tot['n_kept'] / max(len(kept), 1):.1f} per kept instruction\n")

    # 02-04
    r1 = os.path.join(out, "round-1")
    samples = jsonl(os.path.join(r1, "samples.jsonl"))
    ex = jsonl(os.path.join(r1, "executions.jsonl"))
    finish = collections.Counter(s.get("finish_reason") for s in samples)
    no_code = sum(1 for s in samples if not s.get("code"))
    status = collections.Counter(e.get("status") for e in ex)
    by_task = collections.defaultdict(list)
    for e in ex:
        by_task[e["task_id"]].append(e.get("status") == "passed")
    mixed = sum(1 for v in by_task.values() if any(v) and not all(v))
    print("## 02-04: samples, verdicts, examples\n")
    print(f"- samples: {len(samples)} over {len({s['task_id'] for s in samples})} instructions; finish "
          f"{dict(finish)}; no code extracted: {no_code}")
    print(f"- verdicts against the model's own tests: {dict(status)}; instructions with passing and failing samples "
          f"(the ones that teach KTO both ways): {mixed} of {len(by_task)}")
    kto = jsonl(os.path.join(r1, "kto.jsonl"))
    labels = collections.Counter(bool(k.get("label")) for k in kto)
    print(f"- KTO examples: {len(kto)}: {labels[True]} desirable, {labels[False]} undesirable")
    stats_path = os.path.join(r1, "kto.jsonl.stats.json")
    if os.path.exists(stats_path):
        st = json.load(open(stats_path))
        keep = {k: v for k, v in st.items() if isinstance(v, (int, float)) and v}
        print(f"- 04's stats: {keep}")
    print()

    # 05
    metrics = jsonl(os.path.join(r1, "ckpt", "metrics.jsonl"))
    if metrics:
        print("## 05: one KTO round with LoRA\n")
        for m in metrics:
            print(f"- step {m.get('step')}: loss {m.get('loss'):.4f}, {m.get('seconds', 0):.1f} s, "
                  f"{m.get('memory_mb', 0):.0f} MB" + (f", margin {m['margin']:.4f}" if "margin" in m else ""))
        print()

    # 06 before and after
    print("## 06: held-out slice before and after (a pipeline check, not a claim of gain)\n")
    for r in ("round-0", "round-1"):
        p = os.path.join(out, r, "eval", "results.json")
        if os.path.exists(p):
            res = json.load(open(p))
            plus, base = res["pass@k"]["pass@1"], res["base_pass@k"]["pass@1"]
            print(f"- {r}: MBPP+ pass@1 {100 * plus:.1f}, MBPP (base tests) {100 * base:.1f} on the first "
                  f"{res['problems']} of {res['problems_total']} tasks, greedy")
    print()

    # time and memory
    tsv = os.path.join(out, "stage_times.tsv")
    if os.path.exists(tsv):
        print("## Time and peak memory per stage (one torch thread)\n")
        print("| stage | wall | peak memory |\n|---|---|---|")
        total = 0.0
        for line in open(tsv):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[0].endswith(".py"):
                continue   # /usr/bin/time's own notes (e.g. "Command exited with non-zero status")
            name, wall, kb = parts
            total += float(wall)
            print(f"| {name} | {float(wall) / 60:.1f} min | {int(kb) / 2 ** 20:.2f} GB |")
        print(f"| all | {total / 60:.1f} min | |")


if __name__ == "__main__":
    main()
