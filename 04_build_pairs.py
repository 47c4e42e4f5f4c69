"""Stage 4: label each executed candidate and write KTO examples (unpaired) or DPO pairs for 05_train_kto.py.

A candidate is desirable when it passed every one of its task's tests (`passed` true and at least one test run);
anything else (a failed test, a timeout, an error, a crash) is undesirable. Identical completions within a task are
kept once. Per-task caps keep one task from dominating, and tasks where every candidate passed or none did can be
dropped (they teach KTO less and can never form a DPO pair). Nothing is left out silently: a program that ran has a
label, even where its record lacks test counts (an older sandbox wrote tests_total 0 for a program that crashed
mid-test: undesirable, counted as zero_test_failures); only a sample 03 never ran (no execution record, or a task
without tests) has none. Every candidate left out is counted by reason in the stats' `left_out` and the summary.

    python 04_build_pairs.py --executions runs/r0/executions.jsonl --samples runs/r0/samples.jsonl \\
        --output runs/r0/kto.jsonl
    python 04_build_pairs.py --executions 'runs/r0/executions.shard-*.jsonl' --samples 'runs/r0/samples.shard-*.jsonl' \\
        --output runs/r0/dpo.jsonl --format dpo --max_pairs_per_task 4
    python 04_build_pairs.py ... --output runs/r0/sft.jsonl --format sft                      # RFT: the passing ones
    python 04_build_pairs.py ... --output runs/r0/sft.jsonl --format sft --sft_filter none    # SFT on every sample
    python 04_build_pairs.py ... --output runs/r0/kto.jsonl --shuffle_labels    # control: verdicts carry no signal
    python 04_build_pairs.py ... --output runs/r0/grpo.jsonl --format grpo    # RL from the same tests (05 --loss grpo)
    sbatch --array=0-3 slurm/04_build_pairs.sbatch     # shards by task: kto.shard-0000K-of-00004.jsonl

Writes (all finished files, written to a temporary name and renamed):
  OUTPUT (--format kto), one line per kept candidate:
    task_id, sample_id, prompt, completion, label (bool: desirable), status, tests_passed, tests_total,
    finish_reason (02's: "eos", "stop", "length"; null when the samples do not say), eos_token_id (02's: the end
    token an "eos" completion ended with; null when not ended or not said), completion_ids (02's generated token
    ids, where it wrote them; 05 trains on them)
  OUTPUT (--format sft), one line per kept candidate that passed (--sft_filter none: every kept candidate), for
    05_train_kto.py --loss sft (rejection-sampling fine-tuning): the kto fields with `passed` (the verdict) in
    place of `label`, so 05 trains on every line written
  With --shuffle_labels (kto), the labels are permuted across the kept candidates (seeded by --seed): the same
    number of desirable and undesirable examples, no information from the tests; `verdict` keeps the real label.
  OUTPUT (--format dpo), one line per pair (same prompt, one desirable and one undesirable candidate):
    task_id, prompt, chosen, rejected, chosen_sample_id, rejected_sample_id, chosen_finish_reason,
    rejected_finish_reason, chosen_eos_token_id, rejected_eos_token_id, chosen_ids and rejected_ids (02's
    completion_ids, where it wrote them)
  OUTPUT (--format grpo), one line per sample of every task whose samples got different rewards, for
    05_train_kto.py --loss grpo: the kto fields (label: passed every test), group (the task_id), reward
    (--reward passed: 1.0 if it passed every test, else 0.0; share: the share of its tests it passed) and advantage
    (the reward against its group's, --advantage; see group_advantages). A group is the task's samples as drawn:
    identical completions are not merged (each copy is another draw and weighs in the group's mean), and a group
    whose rewards are all equal is dropped (every advantage would be 0: it teaches nothing), counted in the stats
    as groups_equal_rewards and its candidates as zero_advantage. The caps and --shuffle_labels are kto's only.
  OUTPUT.stats.json (OUTPUT without .jsonl): n_desirable, n_undesirable, n_pairs, tasks, tasks_all_pass,
    tasks_none_pass, tasks_dropped, duplicates, conflicting_duplicates, missing_execution, missing_sample,
    no_tests, capped, duplicate_executions (a later record of the same sample wins), zero_test_failures (kept,
    undesirable), groups and groups_equal_rewards, reward, advantage (grpo: groups written and dropped, the flags),
    left_out ({reason: candidates}: every candidate with a sample that is in no record written, and
    why), desirable_weight, undesirable_weight (λ_D, λ_U with λ_D·n_D : λ_U·n_U in [1, 4/3];
    05_train_kto.py applies the same rule to the examples it loads, unless given --desirable_weight/
    --undesirable_weight)
  OUTPUT.args.json: the resolved arguments

Stage 4 is a pure function of its inputs and takes seconds, so it has no resume: a rerun rebuilds the same file
(same --seed, same output), and a killed run leaves the previous output untouched.
"""

import hashlib
import json
import math
import random
import sys
from collections import defaultdict

from common import (SEED, InputError, add_shard_args, atomic_write_json, atomic_write_text, check_writable,
                    code_sha256, die, kto_weights, non_negative, positive, read_jsonl, resolve_shard, run_stage,
                    select_shard, shard_path, stage_parser, stem, write_args)


# (stats key, why): every reason a candidate with a sample is in no record written
LEFT_OUT = (("missing_execution", "not run by 03 (no execution record)"),
            ("no_tests", "never ran (its task has no tests)"),
            ("duplicate_copies", "copies of a completion (the first one kept)"),
            ("conflicting_duplicates", "duplicates whose verdicts disagree (none kept)"),
            ("capped", "over a per-task cap"),
            ("dropped_task_candidates", "in tasks dropped by --drop_all_pass/--drop_none_pass"),
            ("sft_not_passing", "not passing (--format sft keeps the passing ones)"),
            ("dpo_unpaired", "in no DPO pair"),
            ("zero_advantage", "in groups whose rewards are all equal (zero advantage)"),
            ("missing_sample", "executions without a sample (no prompt or completion to train on)"))


def parse_args(argv=None):
    p = stage_parser(__doc__.split("\n\n")[0])
    # inputs and output
    p.add_argument("--executions", required=True, help="executions.jsonl from 03 (a path or a quoted glob)")
    p.add_argument("--samples", required=True, help="samples.jsonl from 02 (a path or a quoted glob)")
    p.add_argument("--output", required=True, help="kto.jsonl or dpo.jsonl to write")
    p.add_argument("--format", choices=["kto", "dpo", "sft", "grpo"], default="kto",
                   help="unpaired KTO examples, DPO pairs, an SFT set (05 --loss sft), or every sample with its "
                        "reward and group advantage (05 --loss grpo)")
    p.add_argument("--overwrite", action="store_true",
                   help="accepted for symmetry with the other stages: 04 always rebuilds its output")
    # selection
    p.add_argument("--max_per_task", type=positive(int), default=None, help="kto: keep at most this many candidates per task")
    # 0 is meaningful for the two class caps: a one-class set (KTO trains on one class against z0), an ablation
    p.add_argument("--max_desirable_per_task", type=non_negative(int), default=None,
                   help="kto: cap on desirable per task (0: none, a one-class ablation)")
    p.add_argument("--max_undesirable_per_task", type=non_negative(int), default=None,
                   help="kto: cap on undesirable per task (0: none, a one-class ablation)")
    p.add_argument("--max_pairs_per_task", type=positive(int), default=8,
                   help="dpo: at most this many pairs per task; pairs are drawn so that every candidate is used "
                        "before any is used twice (default 8)")
    p.add_argument("--drop_all_pass", action="store_true", help="drop tasks where every candidate passed")
    p.add_argument("--drop_none_pass", action="store_true", help="drop tasks where no candidate passed")
    p.add_argument("--sft_filter", choices=["passing", "none"], default="passing",
                   help="sft: keep the candidates that passed (RFT), or every candidate (SFT on the policy's own "
                        "samples, no verdicts)")
    p.add_argument("--reward", choices=["passed", "share"], default="passed",
                   help="grpo: a sample's reward: 1 if it passed every test else 0 (passed), or the share of its "
                        "tests it passed (share)")
    p.add_argument("--advantage", choices=["grpo", "dr_grpo", "rloo"], default="grpo",
                   help="grpo: the reward against the group's: (r - mean) / (std + 1e-4) (grpo), r - mean (dr_grpo), "
                        "r - mean of the others (rloo)")
    p.add_argument("--shuffle_labels", action="store_true",
                   help="kto: permute the labels across the kept candidates (same desirable share; a control for "
                        "what the verdicts are worth)")
    p.add_argument("--seed", type=SEED, default=0,
                   help="which candidates a cap keeps (stable per task); the permutation of --shuffle_labels")
    add_shard_args(p)
    args = p.parse_args(argv)
    if args.shuffle_labels and args.format != "kto":
        p.error("--shuffle_labels applies to --format kto")
    return args


def shuffle_labels(records, seed):
    """Permute the labels of KTO records in place (seeded): the desirable count is kept exactly, the link between
    a completion and its verdict is not. The real label is kept as `verdict`."""
    labels = [r["label"] for r in records]
    random.Random(f"shuffle_labels:{seed}").shuffle(labels)
    for r, lab in zip(records, labels):
        r["verdict"], r["label"] = r["label"], lab
    return records


def sft_record(c):
    """A candidate as an SFT line: its verdict under `passed`, no `label` (05 --loss sft trains on every line)."""
    rec = {k: v for k, v in c.items() if k != "label"}
    rec["passed"] = c["label"]
    return rec


def reward(c, kind):
    """A candidate's reward for --format grpo: 1.0 if it passed every test, else 0.0 (kind "passed"), or the share
    of its tests it passed (kind "share"; 0 for a program that crashed before any test was counted)."""
    if kind == "passed" or c["label"]:
        return float(c["label"])
    return (c["tests_passed"] or 0) / c["tests_total"] if c["tests_total"] else 0.0


def group_advantages(rewards, kind="grpo", eps=1e-4):
    """One group's rewards (a task's samples) -> their advantages, a list of floats.

        grpo:    A_i = (r_i − mean r) / (std r + eps)   std with Bessel's correction and eps 1e-4, as TRL's
                                                        GRPOTrainer (Shao et al. 2024)
        dr_grpo: A_i = r_i − mean r                     Dr. GRPO (Liu et al. 2025): no division by the std, which
                                                        weighs tasks almost all passed or all failed up
        rloo:    A_i = r_i − (Σ_j r_j − r_i) / (n − 1)  RLOO (Ahmadian et al. 2024): the others' mean as baseline,
                                                        which is n / (n − 1) times dr_grpo's advantage
    A group of one has no baseline: its advantage is 0.
    """
    n = len(rewards)
    if n < 2:
        return [0.0] * n
    total = sum(rewards)
    if kind == "rloo":
        return [r - (total - r) / (n - 1) for r in rewards]
    centred = [r - total / n for r in rewards]
    if kind == "dr_grpo":
        return centred
    std = math.sqrt(sum(c * c for c in centred) / (n - 1))
    return [c / (std + eps) for c in centred]


def _task_rng(seed, task_id):
    # a per-task generator: what a task keeps does not depend on which other tasks are in the file or shard
    return random.Random(int(hashlib.sha256(f"{seed}:{task_id}".encode()).hexdigest()[:16], 16))


def never_ran(ex):
    """An execution record of zero tests whose program never ran: a task without tests (the sandbox refuses the job:
    "... has no tests"), or a record claiming a pass of nothing. Any other record of zero tests is a program that ran
    and failed (a crash an older sandbox reported with tests_total 0): it keeps its undesirable label."""
    return ex.get("tests_total") == 0 and (ex.get("passed") is True or ex.get("status") == "passed"
                                           or "has no tests" in str(ex.get("error") or ""))


def load_candidates(executions, samples, stats):
    """Join executions and samples on (task_id, sample_id) -> {task_id: [candidate, ...]} sorted by sample_id."""
    verdicts = {}
    for rec in read_jsonl(executions, required=("task_id", "sample_id", "passed")):
        key = (rec["task_id"], rec["sample_id"])
        stats["duplicate_executions"] += key in verdicts   # a resumed or repeated run: the later record wins
        verdicts[key] = rec
    tasks = defaultdict(list)
    seen = set()
    mismatched = []
    for rec in read_jsonl(samples, required=("task_id", "sample_id", "prompt", "completion", "code")):
        key = (rec["task_id"], rec["sample_id"])
        seen.add(key)
        ex = verdicts.get(key)
        if ex is None:  # 03 has not run it (yet): no verdict, no label
            stats["missing_execution"] += 1
            continue
        if ex.get("code_sha256") != code_sha256(rec["code"]):   # a verdict on another program: never a label
            mismatched.append((key, ex.get("code_sha256")))
            continue
        total = ex.get("tests_total")
        if never_ran(ex):  # no test ran it: no verdict (passing zero tests earns nothing)
            stats["no_tests"] += 1
            continue
        if total == 0:
            stats["zero_test_failures"] += 1
        tasks[rec["task_id"]].append({
            "task_id": rec["task_id"], "sample_id": rec["sample_id"], "prompt": rec["prompt"],
            "completion": rec["completion"], "label": ex["passed"] is True,
            "status": ex.get("status"), "tests_passed": ex.get("tests_passed"), "tests_total": total,
            "finish_reason": rec.get("finish_reason"),  # 05 appends EOS only where the model produced it,
            "eos_token_id": rec.get("eos_token_id"),    # and the one it produced
            # the generated token ids, where 02 recorded them: 05 trains on these rather than re-tokenizing
            **({"completion_ids": rec["completion_ids"]} if rec.get("completion_ids") is not None else {}),
        })
    if mismatched:
        (tid, sid), sha = mismatched[0]
        why = ("has no code_sha256 (written before 03 recorded it): rerun 03_execute.py on these samples"
               if sha is None else "judged other code than the sample holds: the executions and samples are of "
               "different runs (rounds, seeds or models); pass the executions 03 wrote for these samples")
        raise InputError(f"{executions} x {samples}: {len(mismatched)} execution record(s) do not match their "
                         f"sample's code, e.g. task {tid!r} sample {sid!r}: the execution {why}")
    stats["missing_sample"] = sum(1 for k in verdicts if k not in seen)
    for cands in tasks.values():
        cands.sort(key=lambda c: (str(type(c["sample_id"])), c["sample_id"]))
    return tasks


def dedupe(cands, stats):
    """Keep the first of identical (prompt, completion) candidates; drop both when their verdicts disagree."""
    by_text = defaultdict(list)
    for c in cands:
        by_text[(c["prompt"], c["completion"])].append(c)
    kept = []
    for group in by_text.values():
        stats["duplicates"] += len(group) - 1
        if len({c["label"] for c in group}) > 1:  # a flaky verdict (e.g. a timeout under load): trust neither
            stats["conflicting_duplicates"] += len(group)
            continue
        stats["duplicate_copies"] += len(group) - 1
        kept.append(group[0])
    kept.sort(key=lambda c: (str(type(c["sample_id"])), c["sample_id"]))
    return kept


def cap(items, n, rng, stats):
    if n is None or len(items) <= n:
        return items
    stats["capped"] += len(items) - n
    keep = sorted(rng.sample(range(len(items)), n))
    return [items[i] for i in keep]


def dpo_pairs(good, bad, n, rng):
    """Up to n (chosen, rejected) pairs from the product good x bad, every candidate used before any twice.

    With m the size of the larger list and s of the smaller, round q (0 <= q < s) pairs the j-th member of the
    larger list with the ((j + q) mod s)-th of the smaller, for every j: round 0 alone uses every candidate of both
    lists, each round uses every member of the larger list once, and the s rounds together enumerate the whole
    product exactly once.
    """
    good, bad = good[:], bad[:]
    rng.shuffle(good)
    rng.shuffle(bad)
    swap = len(good) < len(bad)
    large, small = (bad, good) if swap else (good, bad)
    pairs = []
    for q in range(len(small)):
        for j, big in enumerate(large):
            other = small[(j + q) % len(small)]
            pairs.append((other, big) if swap else (big, other))
            if len(pairs) == n:
                return pairs
    return pairs


def main(argv=None):
    args = parse_args(argv)
    try:
        check_writable(args.output, "--output")
        shard_id, num_shards = resolve_shard(args)
        out = shard_path(args.output, shard_id, num_shards)
        stats = defaultdict(int)
        tasks = load_candidates(args.executions, args.samples, stats)
    except InputError as e:
        die(str(e))

    lines = []
    kto_records = []
    n_d = n_u = 0
    task_ids = sorted(tasks)
    for task_id in select_shard(task_ids, shard_id, num_shards):
        # GRPO's group is the samples as drawn: a copy is another draw and weighs in the group's mean
        cands = tasks[task_id] if args.format == "grpo" else dedupe(tasks[task_id], stats)
        if not cands:
            continue
        stats["tasks"] += 1
        n_pass = sum(c["label"] for c in cands)
        all_pass, none_pass = n_pass == len(cands), n_pass == 0
        stats["tasks_all_pass"] += all_pass
        stats["tasks_none_pass"] += none_pass
        if (all_pass and args.drop_all_pass) or (none_pass and args.drop_none_pass):
            stats["tasks_dropped"] += 1
            stats["dropped_task_candidates"] += len(cands)
            continue
        rng = _task_rng(args.seed, task_id)
        if args.format == "sft":
            kept = [c for c in cands if c["label"] or args.sft_filter == "none"]
            stats["sft_not_passing"] += len(cands) - len(kept)
            lines.extend(json.dumps(sft_record(c), ensure_ascii=False) for c in kept)
            n_d += sum(c["label"] for c in kept)
            n_u += sum(not c["label"] for c in kept)
        elif args.format == "kto":
            good = cap([c for c in cands if c["label"]], args.max_desirable_per_task, rng, stats)
            bad = cap([c for c in cands if not c["label"]], args.max_undesirable_per_task, rng, stats)
            pos = {id(c): i for i, c in enumerate(cands)}
            kept = cap(sorted(good + bad, key=lambda c: pos[id(c)]), args.max_per_task, rng, stats)
            for c in kept:
                kto_records.append(c)
                n_d += c["label"]
                n_u += not c["label"]
        elif args.format == "grpo":
            rewards = [reward(c, args.reward) for c in cands]
            if len(set(rewards)) == 1:   # every advantage would be 0: the group teaches nothing
                stats["groups_equal_rewards"] += 1
                stats["zero_advantage"] += len(cands)
                continue
            stats["groups"] += 1
            for c, r, a in zip(cands, rewards, group_advantages(rewards, args.advantage)):
                lines.append(json.dumps({**c, "group": task_id, "reward": r, "advantage": a}, ensure_ascii=False))
                n_d += c["label"]
                n_u += not c["label"]
        else:
            by_prompt = defaultdict(lambda: ([], []))  # pairs share the exact prompt the policy saw
            for c in cands:
                by_prompt[c["prompt"]][0 if c["label"] else 1].append(c)
            budget = args.max_pairs_per_task
            paired = set()
            for prompt, (good, bad) in by_prompt.items():
                for ch, rj in dpo_pairs(good, bad, budget, rng):
                    paired.update((id(ch), id(rj)))
                    pair = {"task_id": task_id, "prompt": prompt, "chosen": ch["completion"],
                            "rejected": rj["completion"], "chosen_sample_id": ch["sample_id"],
                            "rejected_sample_id": rj["sample_id"], "chosen_finish_reason": ch["finish_reason"],
                            "rejected_finish_reason": rj["finish_reason"], "chosen_eos_token_id": ch["eos_token_id"],
                            "rejected_eos_token_id": rj["eos_token_id"]}
                    for side, c in (("chosen", ch), ("rejected", rj)):
                        if "completion_ids" in c:
                            pair[side + "_ids"] = c["completion_ids"]
                    lines.append(json.dumps(pair, ensure_ascii=False))
                    budget -= 1
                    stats["n_pairs"] += 1
            n_d += sum(c["label"] for c in cands)
            n_u += sum(not c["label"] for c in cands)
            stats["dpo_unpaired"] += sum(id(c) not in paired for c in cands)

    if args.shuffle_labels:
        shuffle_labels(kto_records, args.seed)
    lines.extend(json.dumps(c, ensure_ascii=False) for c in kto_records)
    left_out = {key: stats[key] for key, _ in LEFT_OUT if stats[key]}
    why = dict(LEFT_OUT)
    left_text = ", ".join(f"{n} {why[key]}" for key, n in left_out.items()) or "none"
    if not lines:
        die(f"no {args.format} record could be built from {args.executions} and {args.samples} "
            f"(tasks {stats['tasks']}, all-pass {stats['tasks_all_pass']}, none-pass {stats['tasks_none_pass']}, "
            f"left out: {left_text}); "
            + ("DPO needs a task with both a passing and a failing candidate; try --format kto" if args.format == "dpo"
               else "GRPO needs a task whose samples got different rewards; --reward share also tells failing "
                    "samples apart" if args.format == "grpo" else "check that 03 ran on these samples"))
    w_d, w_u = kto_weights(n_d, n_u)
    stats.update(left_out=left_out, n_desirable=n_d, n_undesirable=n_u, desirable_weight=w_d,
                 undesirable_weight=w_u, format=args.format, records=len(lines), shuffled_labels=args.shuffle_labels)
    if args.format == "grpo":
        stats.update(reward=args.reward, advantage=args.advantage, groups=stats["groups"],
                     groups_equal_rewards=stats["groups_equal_rewards"])
    base = stem(out)
    write_args(out, args)
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    atomic_write_json(base + ".stats.json", dict(stats))
    one_class = (" (one class only: KTO trains on it; DPO could not)"
                 if min(n_d, n_u) == 0 and args.format in ("kto", "dpo") else "")
    groups = (f" ({stats['groups']} groups kept, {stats['groups_equal_rewards']} with equal rewards dropped)"
              if args.format == "grpo" else "")
    print(f"04_build_pairs: {len(lines)} {args.format} records from {stats['tasks']} tasks{groups} -> {out}; "
          f"desirable {n_d}, undesirable {n_u}{one_class}, λ_D {w_d:.3g}, λ_U {w_u:.3g}; "
          f"left out: {left_text}"
          + (f"; {stats['zero_test_failures']} that crashed without test counts kept as undesirable"
             if stats["zero_test_failures"] else ""), file=sys.stderr)


if __name__ == "__main__":
    run_stage(main, "04_build_pairs")
