"""The toy code world's experimental section: every arm x seed through run_plum.sh, then one table, JSONL and plots.

    python run_experiments.py                                   # every arm, seeds 0 1 2, two runs at a time
    python run_experiments.py --arms plum,rft,shuffled --seeds 0,1,2,3,4    # more seeds where a contrast is close
    python run_experiments.py --table_only                      # the table and plots from the finished runs only
    python run_experiments.py --list                            # the arms and their run_plum.sh flags

Every arm starts from the same cached SFT model (toyworld.py) and runs run_plum.sh's toy settings (toy_settings.sh)
for --rounds rounds with 8 samples per prompt, changing only what its row names:
    plum        on-policy KTO on the model's own tests (the method)
    rft         rejection-sampling fine-tuning: SFT on the samples that pass the same tests (--loss sft)
    shuffled    KTO with the labels permuted across the round's examples: the same desirable share, no verdicts
    offline     one round sampling the SFT model with R x 8 samples per prompt, one epoch (fewer steps than R
                online rounds: many of the R x 8 samples are duplicates, which 04 drops)
    offline_steps   the same, trained for the optimizer steps that the seed's plum run took over its R rounds
                (--max_steps; runs once that plum run has finished)
    off_policy  every round samples the SFT model; training continues from the last checkpoint
    dpo         DPO pairs instead of KTO examples
    grpo        GRPO, RL from the same samples and verdicts (04 --format grpo, 05 --loss grpo)
    reference   the instruction set's reference tests instead of model-written ones
    sft_all     SFT on every sample of the policy, no filter (04 --sft_filter none)
    n1 n2 n4 n16    samples per prompt (plum is N = 8)
    corrupt10 corrupt25 corrupt50   that share of the model-written tests given a wrong expected value after
                validation (01 --corrupt_from)
Every round is evaluated on the held-out-by-composition benchmark and on a second held-out set of longer tasks
(three steps, where every train task has two: toyworld.py's heldout_long_tests.jsonl).

A seed's model-written tests (01) and round-0 evaluation are the same commands in every arm (plum_round.py's plan
for each arm's flags says so), so they are computed once, in the seed's first arm that writes them, and copied into
the other arms' folders with the same commands before those start.
Test accuracy is measured: each task's reference program is run (03_execute.py) against the tests the rounds used.

Resume: each (arm, seed) is a run_plum.sh folder OUT/ARM/seed-S, skipped when its summary has every round and
resumed by run_plum.sh otherwise. Kill the driver anywhere and rerun the same command.

Writes, under --out:
    experiments.md      the table: per arm, pass@1 by round and the gain (mean +- sd over seeds), the second set,
                        kept tests, validated share, test accuracy, training steps; then the paired contrasts
    experiments.jsonl   one line per (arm, seed) ("kind": "run"), then one per contrast ("kind": "contrast")
    pass_by_round.png gain_vs_n.png gain_vs_test_accuracy.png
    ARM/seed-S/         run_plum.sh's folder (run.log: its output), experiment.json: wall time, test accuracy
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import plum_round

REPO = os.path.dirname(os.path.abspath(__file__))

# name -> (run_plum.sh flags, what it is); the order is the run order: the contrasts first, so a run cut short
# still answers them
ARMS = {
    "plum": ([], "PLUM: on-policy KTO, model-written tests"),
    "rft": (["--loss", "sft"], "RFT: SFT on the samples passing the same tests"),
    "shuffled": (["--pairs_args", "--shuffle_labels"], "KTO, labels shuffled (same desirable share)"),
    "offline": (["--rounds", "1", "--num_samples", "{offline_n}"], "offline: 1 round, R x 8 samples of the SFT model"),
    "offline_steps": (["--rounds", "1", "--num_samples", "{offline_n}", "--train_args", "--max_steps {plum_steps}"],
                      "offline, trained for PLUM's steps"),
    "off_policy": (["--off_policy"], "off-policy: every round samples the SFT model"),
    "dpo": (["--loss", "dpo"], "DPO instead of KTO"),
    "grpo": (["--loss", "grpo"], "GRPO: RL from the same samples and tests"),
    "reference": (["--tests", "reference"], "reference tests instead of model-written"),
    "sft_all": (["--loss", "sft", "--pairs_args", "--sft_filter none"], "SFT on every own sample (no tests)"),
    "n1": (["--num_samples", "1"], "N = 1 sample per prompt"),
    "n2": (["--num_samples", "2"], "N = 2"),
    "n4": (["--num_samples", "4"], "N = 4"),
    "n16": (["--num_samples", "16"], "N = 16"),
    "corrupt10": (["--corrupt_tests", "0.1"], "10% of the tests corrupted"),
    "corrupt25": (["--corrupt_tests", "0.25"], "25% of the tests corrupted"),
    "corrupt50": (["--corrupt_tests", "0.5"], "50% of the tests corrupted"),
}
N_OF = {"n1": 1, "n2": 2, "n4": 4, "plum": 8, "n16": 16}
# (claim, better arm, worse arm): the paper's contrasts, then the other ablations' differences
CONTRASTS = [
    ("on-policy > off-policy", "plum", "off_policy"),
    ("online > offline", "plum", "offline"),
    ("online > offline (same steps)", "plum", "offline_steps"),
    ("PLUM > RFT", "plum", "rft"),
    ("tests > no tests (shuffled labels)", "plum", "shuffled"),
    ("tests > no tests (SFT on every sample)", "plum", "sft_all"),
    ("RFT's filter > no filter", "rft", "sft_all"),
    ("KTO vs DPO", "plum", "dpo"),
    ("reference tests vs model-written", "reference", "plum"),
    ("clean tests vs 50% corrupted", "plum", "corrupt50"),
]
# two-sided 5% critical values of Student's t by degrees of freedom (no scipy in the environment)
T_CRIT = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
          12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", default=",".join(ARMS), help="comma-separated arms, run in this order (default: all)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--rounds", type=int, default=3, help="PLUM rounds of every online arm (offline: 1)")
    p.add_argument("--jobs", type=int, default=2, help="run_plum.sh runs at a time (one per core)")
    p.add_argument("--out", default=os.path.join("runs", "experiments"), help="where the runs and the table go")
    p.add_argument("--toy_dir", default=os.path.join(REPO, ".cache", "toyworld"), help="the toy world's cache")
    p.add_argument("--table_only", action="store_true", help="write the table from the finished runs; run nothing")
    p.add_argument("--list", action="store_true", help="print the arms and their flags, then exit")
    args = p.parse_args(argv)
    args.arms = [a for a in args.arms.split(",") if a]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        p.error(f"unknown arm(s) {', '.join(unknown)}; the arms: {', '.join(ARMS)}")
    return args


def plum_steps(args, seed):
    """The optimizer steps of the seed's finished plum run (all rounds), or None."""
    d = run_dir(args, "plum", seed)
    if not finished(d, args.rounds):
        return None
    return sum(r.get("train_steps") or 0 for r in read_jsonl(os.path.join(d, "summary.jsonl"))[1:])


def arm_flags(arm, args, seed=None):
    flags, _ = ARMS[arm]
    steps = plum_steps(args, seed) if any("{plum_steps}" in f for f in flags) else None
    flags = [f.format(offline_n=8 * args.rounds, plum_steps=steps) for f in flags]
    if "--rounds" not in flags:
        flags = ["--rounds", str(args.rounds)] + flags
    return flags + ["--toy_dir", args.toy_dir, "--eval2_data", os.path.join(args.toy_dir, "heldout_long_tests.jsonl")]


def rounds_of(arm, args):
    flags = arm_flags(arm, args)
    return int(flags[flags.index("--rounds") + 1])


def run_dir(args, arm, seed):
    return os.path.join(args.out, arm, f"seed-{seed}")


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def finished(d, rounds):
    rows = read_jsonl(os.path.join(d, "summary.jsonl"))
    return [r["round"] for r in rows] == list(range(rounds + 1))


# ----------------------------------------------------------------------------------------------------------------
# running


def round0_stages(args, arm, seed):
    """{(folder, stage): command} of the run's tests/ and round-0/ stages (plum_round.py's plan, --out as OUT)."""
    d = run_dir(args, arm, seed)
    run = plum_round.resolve(plum_round.parse(arm_flags(arm, args, seed) + ["--seed", str(seed), "--out", d]),
                             build_toy=False)
    return {(os.path.basename(s.dir), s.id): " ".join(s.argv).replace(d, "OUT")
            for s in plum_round.stages(run) if s.round == 0}


def seed_shared(args, arm, seed):
    """Copy the seed's tests (01) and round-0 evaluation from an arm that has them, where its commands for them are
    this arm's (the same commands, the same files)."""
    d = run_dir(args, arm, seed)
    mine = round0_stages(args, arm, seed)
    for donor in args.arms:
        src = run_dir(args, donor, seed)
        if donor == arm or not os.path.isdir(src):
            continue
        theirs = round0_stages(args, donor, seed)
        if (mine[("tests", "01")] == theirs[("tests", "01")] and not os.path.exists(os.path.join(d, "tests"))
                and os.path.exists(os.path.join(src, "tests", ".done", "01"))):
            shutil.copytree(os.path.join(src, "tests"), os.path.join(d, "tests"),
                            ignore=shutil.ignore_patterns("tests.corrupt*", "01c*", ".01c*"))
        zero = {k: v for k, v in mine.items() if k[0] == "round-0"}
        if (not os.path.exists(os.path.join(d, "round-0")) and zero == {k: v for k, v in theirs.items()
                                                                        if k[0] == "round-0"}
                and all(os.path.exists(os.path.join(src, "round-0", ".done", k[1])) for k in zero)):
            shutil.copytree(os.path.join(src, "round-0"), os.path.join(d, "round-0"))


def test_accuracy(d, references):
    """Share of the tests the rounds used that each task's reference program passes (03_execute.py)."""
    tests_path = os.path.join(d, "tests", "tests.corrupt.jsonl")
    if not os.path.exists(tests_path):
        tests_path = os.path.join(d, "tests", "tests.jsonl")
    tests = read_jsonl(tests_path)
    refs = {r["task_id"]: r["reference"] for r in read_jsonl(references)}
    acc_dir = os.path.join(d, "test_accuracy")
    os.makedirs(acc_dir, exist_ok=True)
    samples = os.path.join(acc_dir, "references.jsonl")
    with open(samples, "w", encoding="utf-8") as f:
        for t in tests:
            if refs.get(t["task_id"]):
                f.write(json.dumps({"task_id": t["task_id"], "sample_id": 0, "code": refs[t["task_id"]]}) + "\n")
    out = os.path.join(acc_dir, "executions.jsonl")
    subprocess.run([sys.executable, os.path.join(REPO, "03_execute.py"), "--samples", samples, "--tests", tests_path,
                    "--output", out, "--workers", "1", "--overwrite"], check=True, capture_output=True)
    ex = read_jsonl(out)
    total = sum(e["tests_total"] for e in ex)
    return sum(e["tests_passed"] for e in ex) / total if total else None


def run_one(args, arm, seed, lock):
    d = run_dir(args, arm, seed)
    flags = arm_flags(arm, args, seed)
    if any("None" in f for f in flags):
        print(f"  {arm} seed {seed}: needs the finished plum run of seed {seed}; not started", flush=True)
        return False
    os.makedirs(d, exist_ok=True)
    with lock:
        seed_shared(args, arm, seed)
    cmd = ["bash", os.path.join(REPO, "run_plum.sh"), *flags, "--seed", str(seed), "--out", d]
    t0 = time.time()
    with open(os.path.join(d, "run.log"), "a", encoding="utf-8") as log:
        log.write("+ " + " ".join(cmd) + "\n")
        log.flush()
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ)
    wall = time.time() - t0
    if rc != 0:
        print(f"  {arm} seed {seed}: run_plum.sh failed (exit {rc}); log {os.path.join(d, 'run.log')}", flush=True)
        return False
    info_path = os.path.join(d, "experiment.json")
    info = json.load(open(info_path)) if os.path.exists(info_path) else {"wall_s": 0.0}
    info["wall_s"] = info["wall_s"] + wall
    info["commit"] = git_commit()
    info["test_accuracy"] = test_accuracy(d, os.path.join(args.toy_dir, "train_instructions.jsonl"))
    with open(info_path + ".tmp", "w") as f:
        json.dump(info, f)
    os.replace(info_path + ".tmp", info_path)
    print(f"  {arm} seed {seed}: done in {wall:.0f} s", flush=True)
    return True


def run_all(args):
    env_threads = os.environ.setdefault("OMP_NUM_THREADS", "1")   # as run_plum.sh: part of the toy world's key
    print(f"== toy world ({args.toy_dir}, OMP_NUM_THREADS={env_threads})", flush=True)
    subprocess.run([sys.executable, os.path.join(REPO, "toyworld.py"), "--out", args.toy_dir], check=True)
    os.makedirs(args.out, exist_ok=True)
    todo = [(a, s) for a in args.arms for s in args.seeds if not finished(run_dir(args, a, s), rounds_of(a, args))]
    print(f"== {len(todo)} runs to do ({len(args.arms) * len(args.seeds) - len(todo)} finished, skipped), "
          f"{args.jobs} at a time", flush=True)
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        ok = list(pool.map(lambda job: run_one(args, *job, lock), todo))
    return sum(not x for x in ok)


# ----------------------------------------------------------------------------------------------------------------
# the table


def collect(args):
    """One record per finished (arm, seed)."""
    recs = []
    for arm in args.arms:
        for seed in args.seeds:
            d = run_dir(args, arm, seed)
            if not finished(d, rounds_of(arm, args)):
                continue
            rows = read_jsonl(os.path.join(d, "summary.jsonl"))
            info = json.load(open(os.path.join(d, "experiment.json"))) if os.path.exists(
                os.path.join(d, "experiment.json")) else {}
            last = rows[-1]
            recs.append({
                "kind": "run", "arm": arm, "seed": seed, "flags": arm_flags(arm, args, seed),
                "pass@1": [100 * r["pass@1"] for r in rows],
                "pass@1_long": [100 * r["pass@1_eval2"] for r in rows] if "pass@1_eval2" in last else None,
                "gain": 100 * (last["pass@1"] - rows[0]["pass@1"]),
                "gain_long": 100 * (last["pass@1_eval2"] - rows[0]["pass@1_eval2"]) if "pass@1_eval2" in last else None,
                "kept_tests": last["kept_tests"], "tasks_with_tests": last["tasks_with_tests"],
                "validated_share": last["tasks_validated"] / last["tasks_with_tests"] if last["tasks_with_tests"] else None,
                "corrupted_tests": last.get("corrupted_tests", 0),
                "test_accuracy": info.get("test_accuracy"),
                "train_steps": sum(r.get("train_steps") or 0 for r in rows[1:]),
                "samples_passing": [r.get("samples_passing") for r in rows[1:]],
                "wall_s": info.get("wall_s"), "commit": info.get("commit"),
            })
    return recs


def t_crit(df):
    keys = [k for k in sorted(T_CRIT) if k <= df]
    return T_CRIT[keys[-1]] if keys else float("inf")


def paired(diffs):
    """Paired comparison over seeds: mean, sd, n, t, signs, and the seeds needed at this spread for |t| > t_crit."""
    n = len(diffs)
    mean = statistics.fmean(diffs) if n else float("nan")
    sd = statistics.stdev(diffs) if n >= 2 else float("nan")
    if n >= 2 and sd < 1e-9:   # equal differences (float noise aside): no spread
        sd = 0.0
    if n >= 2 and sd > 0:
        t = mean / (sd / math.sqrt(n))
    elif n >= 2:
        t = math.copysign(float("inf"), mean) if mean else 0.0
    else:
        t = float("nan")
    signs = (sum(d > 0 for d in diffs), sum(d < 0 for d in diffs), sum(d == 0 for d in diffs))
    needed = None
    if n >= 2 and mean and sd > 0:
        needed = next((m for m in range(2, 1001) if abs(mean) / (sd / math.sqrt(m)) > t_crit(m - 1)), None)
    called = n >= 2 and sd > 0 and abs(t) > t_crit(n - 1)
    return {"n": n, "mean": mean, "sd": sd, "t": t, "t_crit": t_crit(n - 1) if n >= 2 else None, "signs": signs,
            "significant": called, "seeds_needed": needed}


def verdict(p, claim_is_directional):
    if p["n"] < 2:
        return "too few seeds"
    if p["sd"] == 0:
        return (f"the same difference in all {p['n']} seeds: no spread to test it against (more seeds, or a "
                f"larger benchmark, would show one)") if p["mean"] else f"no difference in any of {p['n']} seeds"
    if p["significant"]:
        if not claim_is_directional:
            return "differs (5%, two-sided)"
        return "reproduces (5%, two-sided)" if p["mean"] > 0 else "reversed (5%, two-sided)"
    need = f"~{p['seeds_needed']} seeds at this spread" if p["seeds_needed"] else "no seed count would (mean 0)"
    return f"not resolved with {p['n']} seeds ({need})"


def contrasts(recs, key):
    by = {(r["arm"], r["seed"]): r for r in recs}
    out = []
    for claim, a, b in CONTRASTS:
        seeds = sorted(s for (arm, s) in by if arm == a and (b, s) in by)
        if not seeds:
            continue
        diffs = [by[(a, s)][key] - by[(b, s)][key] for s in seeds if by[(a, s)][key] is not None]
        p = paired(diffs)
        out.append({"kind": "contrast", "claim": claim, "better": a, "worse": b, "metric": key, "seeds": seeds,
                    "diffs": diffs, **p, "verdict": verdict(p, ">" in claim)})
    return out


def ms(values, digits=1, sign=False):
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    f = f"{'+' if sign else ''}.{digits}f"
    if len(vals) == 1:
        return format(vals[0], f)
    return f"{format(statistics.fmean(vals), f)} ± {statistics.stdev(vals):.{digits}f}"


def fmt_t(t):
    return "-" if t is None or (isinstance(t, float) and math.isnan(t)) else (
        "inf" if math.isinf(t) else f"{t:+.2f}")


def table(args, recs, cons, header):
    lines = [header, ""]
    rounds = max((len(r["pass@1"]) for r in recs), default=1)
    lines.append("| arm | seeds | " + " | ".join(f"round {k}" for k in range(rounds)) +
                 " | gain | long set r0 → last | long gain | kept tests (tasks) | validated | test accuracy "
                 "| train steps | what |")
    lines.append("|---" * (rounds + 10) + "|")
    for arm in args.arms:
        rs = [r for r in recs if r["arm"] == arm]
        if not rs:
            lines.append(f"| {arm} | - |" + " |" * (rounds + 7) + f" {ARMS[arm][1]} (not run yet) |")
            continue
        cells = [ms([r["pass@1"][k] if k < len(r["pass@1"]) else None for r in rs]) for k in range(rounds)]
        long0 = ms([r["pass@1_long"][0] if r["pass@1_long"] else None for r in rs])
        long1 = ms([r["pass@1_long"][-1] if r["pass@1_long"] else None for r in rs])
        lines.append(
            f"| {arm} | {','.join(str(r['seed']) for r in rs)} | " + " | ".join(cells) +
            f" | {ms([r['gain'] for r in rs], sign=True)} | {long0} → {long1} "
            f"| {ms([r['gain_long'] for r in rs], sign=True)} "
            f"| {ms([r['kept_tests'] for r in rs], 0)} ({ms([r['tasks_with_tests'] for r in rs], 0)}) "
            f"| {ms([100 * r['validated_share'] if r['validated_share'] is not None else None for r in rs], 0)}% "
            f"| {ms([100 * r['test_accuracy'] if r['test_accuracy'] is not None else None for r in rs], 1)}% "
            f"| {ms([r['train_steps'] for r in rs], 0)} | {ARMS[arm][1]} |")
    lines += ["", "Paired over seeds (difference of the last round's held-out pass@1, points; t = mean / (sd / √n), "
              "two-sided 5% critical value for n - 1 degrees of freedom; signs + / - / =):", "",
              "| contrast | metric | n | mean diff | sd | t (crit) | signs | seeds needed | verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in cons:
        sd = "-" if math.isnan(c["sd"]) else f"{c['sd']:.1f}"
        lines.append(f"| {c['claim']} ({c['better']} − {c['worse']}) | {c['metric']} | {c['n']} | {c['mean']:+.1f} "
                     f"| {sd} "
                     f"| {fmt_t(c['t'])} ({'-' if c['t_crit'] is None else c['t_crit']}) "
                     f"| {c['signs'][0]}/{c['signs'][1]}/{c['signs'][2]} | {c['seeds_needed'] or '-'} "
                     f"| {c['verdict']} |")
    return "\n".join(lines) + "\n"


# pass_by_round.png: the arms in four panels, each compared with plum (drawn in every panel, black)
PANEL_ARMS = [("the paper's contrasts", ["plum", "off_policy", "offline", "offline_steps", "dpo", "reference"]),
              ("what the verdicts add", ["plum", "rft", "sft_all", "shuffled"]),
              ("samples per prompt N", ["n1", "n2", "n4", "plum", "n16"]),
              ("test accuracy", ["plum", "corrupt10", "corrupt25", "corrupt50"])]
LABELS = {"plum": "PLUM", "off_policy": "off-policy", "offline": "offline (1 round)",
          "offline_steps": "offline, PLUM's steps", "dpo": "DPO", "reference": "reference tests", "rft": "RFT",
          "grpo": "GRPO", "sft_all": "SFT on all samples", "shuffled": "KTO, shuffled labels", "n1": "N = 1", "n2": "N = 2",
          "n4": "N = 4", "n16": "N = 16", "corrupt10": "10% of tests wrong", "corrupt25": "25% wrong",
          "corrupt50": "50% wrong"}
PLUM_AS = {"samples per prompt N": "PLUM (N = 8)", "test accuracy": "PLUM (clean tests)"}


def plots(args, recs):
    """pass_by_round.png (mean ± sd over seeds, by round, per arm), gain_vs_n.png, gain_vs_test_accuracy.png.
    Returns {png name: {"title", "ylabels" or "ylabel"}} (what the tests read back)."""
    sys.path.insert(0, REPO)
    from plots import NOTE_SIZE, save, style, wrap, y_axis_label

    seeds = sorted({r["seed"] for r in recs})
    last_round = max(len(r["pass@1"]) for r in recs) - 1
    spread = f"mean ± sd over seeds {', '.join(map(str, seeds))} (n = {len(seeds)} per arm unless the legend says)"

    def lines(ax, arms, key, panel):
        shown = [a for a in arms if any(r["arm"] == a and r[key] for r in recs)]
        for j, arm in enumerate(shown):
            rs = [r for r in recs if r["arm"] == arm and r[key]]
            k = min(len(r[key]) for r in rs)
            mean = [statistics.fmean(r[key][i] for r in rs) for i in range(k)]
            sd = [statistics.stdev(r[key][i] for r in rs) if len(rs) > 1 else 0.0 for i in range(k)]
            # an offline arm's one round used R rounds' samples: drawn at round R, beside the online arms' last
            xs = [0, last_round] if k == 2 and arm.startswith("offline") else list(range(k))
            dodge = 0.05 * (j - (len(shown) - 1) / 2)   # error bars side by side, not on top of each other
            label = (PLUM_AS.get(panel, LABELS[arm]) if arm == "plum" else LABELS.get(arm, arm)) + \
                (f" (n = {len(rs)})" if len(rs) != len(seeds) else "")
            ax.errorbar([x + dodge for x in xs], mean, yerr=sd, marker="o", capsize=3, label=label,
                        color="black" if arm == "plum" else None, lw=2.5 if arm == "plum" else 1.8,
                        ls="--" if arm.startswith("offline") else "-", zorder=3 if arm == "plum" else 2)
        ax.set_xticks(range(last_round + 1))
        ax.set_xlabel("round (0 = the SFT model)")
        ax.grid(alpha=0.3)

    ran = {r["arm"] for r in recs}
    # a panel for each group with an arm besides plum; plum alone gets one panel
    panel_arms = PANEL_ARMS + [("other arms", ["plum"] + sorted(ran - {a for _, arms in PANEL_ARMS for a in arms}))]
    groups = [(name, [a for a in arms if a in ran]) for name, arms in panel_arms if ran & set(arms) - {"plum"}] \
        or [("PLUM", sorted(ran))]
    with style() as plt:
        fig, axes = plt.subplots(2, len(groups), figsize=(4.4 * len(groups) + 0.8, 9.4), squeeze=False,
                                 sharey="row")
        for col, (name, arms) in enumerate(groups):
            lines(axes[0, col], arms, "pass@1", name)
            lines(axes[1, col], arms, "pass@1_long", name)
            axes[0, col].set_title(name)
            axes[0, col].legend(loc="best", fontsize=9.5)
        axes[1, 0].set_ylim(0, max(20.0, axes[1, 0].get_ylim()[1]))   # the long set from 0: ~10%, flat
        y_axis_label(axes[0, 0], "held-out pass@1 (%), 120 tasks")
        y_axis_label(axes[1, 0], "longer-task pass@1 (%), 60 tasks")
        title = "Toy world: pass@1 by round, every arm against PLUM (black)"
        sub = wrap(f"{spread}. Top: the held-out tasks (compositions unseen in training); bottom: the longer tasks "
                   f"(three steps). Offline arms (dashed): one round of {last_round} rounds' samples, drawn at round "
                   f"{last_round}.", 36 * len(groups))
        fig.suptitle(title, fontweight="bold", y=1 - 0.12 / 9.4, va="top")
        fig.text(0.5, 1 - 0.5 / 9.4, sub, ha="center", va="top", fontsize=NOTE_SIZE)
        fig.tight_layout(rect=(0, 0, 1, 1 - 1.05 / 9.4))
        drawn = {"pass_by_round.png": {"title": title, "subtitle": sub,
                                       "ylabels": [axes[0, 0].get_ylabel(), axes[1, 0].get_ylabel()],
                                       "ylims": [axes[0, 0].get_ylim(), axes[1, 0].get_ylim()],
                                       "legends": [[t.get_text() for t in ax.get_legend().get_texts()]
                                                   for ax in axes[0]]}}
        save(fig, os.path.join(args.out, "pass_by_round.png"))

    def scatter(name, xkey, arms, xlabel, title, logx=False):
        with style() as plt:
            fig, ax = plt.subplots(figsize=(8, 5.4))
            for key, label in (("gain", "held-out tasks"), ("gain_long", "longer tasks")):
                pts = []
                for arm in arms:
                    rs = [r for r in recs if r["arm"] == arm and r[key] is not None]
                    xs = [xkey(r) for r in rs]
                    if not rs or any(x is None for x in xs):
                        continue
                    ys = [r[key] for r in rs]
                    pts.append((statistics.fmean(xs), statistics.fmean(ys),
                                statistics.stdev(ys) if len(ys) > 1 else 0, ys))
                if pts:
                    pts.sort()
                    line = ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                                       marker="o", capsize=4, label=f"{label}: mean ± sd")
                    ax.plot([p[0] for p in pts for _ in p[3]], [y for p in pts for y in p[3]], ls="none",
                            marker="x", ms=6, color=line[0].get_color(), alpha=0.6, label=f"{label}: each seed")
            if logx:
                ax.set_xscale("log", base=2)
                xs = sorted({x for x in map(xkey, (r for r in recs if r["arm"] in arms)) if x is not None})
                ax.set_xticks(xs, [f"{x:g}" for x in xs])
                ax.minorticks_off()
            ax.axhline(0, color="0.4", lw=1)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"gain over round 0 after {last_round} rounds\n(points of pass@1)")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="best", fontsize=9.5)
            fig.suptitle(title, fontweight="bold")
            ax.set_title(wrap(f"Toy world, mean ± sd over seeds {', '.join(map(str, seeds))} (× = one seed)", 80),
                         fontsize=NOTE_SIZE, fontweight="normal", loc="left")
            fig.tight_layout()
            drawn[name] = {"title": title, "ylabel": ax.get_ylabel()}
            save(fig, os.path.join(args.out, name))

    scatter("gain_vs_n.png", lambda r: N_OF[r["arm"]], [a for a in N_OF if a in args.arms],
            "samples per prompt N", "PLUM's gain against samples per prompt", logx=True)
    scatter("gain_vs_test_accuracy.png",
            lambda r: None if r["test_accuracy"] is None else 100 * r["test_accuracy"],
            [a for a in ("corrupt50", "corrupt25", "corrupt10", "plum") if a in args.arms],
            "test accuracy (% of kept tests the reference passes)", "PLUM's gain against the tests' accuracy")
    return drawn


def git_commit():
    return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "?"


def write_table(args):
    recs = collect(args)
    cons = contrasts(recs, "gain") + contrasts(recs, "gain_long")
    commit = git_commit()
    run_commits = sorted({r["commit"] for r in recs if r.get("commit")})
    env = {}
    for r in recs:
        p = os.path.join(run_dir(args, r["arm"], r["seed"]), "run.json")
        if os.path.exists(p):
            env = json.load(open(p)).get("environment", {})
            break
    expected = len(args.arms) * len(args.seeds)
    walls = [r["wall_s"] for r in recs if r["wall_s"]]
    driver = sum(x["wall_s"] for x in read_jsonl(os.path.join(args.out, "driver.jsonl")))
    header = (f"Toy world, `python run_experiments.py --arms {','.join(args.arms)} --seeds "
              f"{','.join(map(str, args.seeds))} --rounds {args.rounds} --jobs {args.jobs}`; runs at commit "
              f"{', '.join(run_commits) or '(not recorded)'}, table written at {commit}; "
              f"{len(recs)} of {expected} runs finished" + ("" if len(recs) == expected else " (PARTIAL)") +
              f". Versions: {', '.join(f'{k} {v}' for k, v in env.items())}. Wall time: the driver {driver / 60:.0f} min "
              f"(toy world build included); each run {ms([w / 60 for w in walls])} min with {args.jobs} side by side, "
              f"{sum(walls) / 3600:.2f} run-hours. "
              "Pass@1 in %, mean ± sd over the seeds; held-out = 120 tasks of unseen compositions, long set = 60 "
              "three-step tasks; gain = last round − round 0.")
    text = table(args, recs, cons, header)
    os.makedirs(args.out, exist_ok=True)
    for name, body in (("experiments.md", text),
                       ("experiments.jsonl", "".join(json.dumps(x) + "\n" for x in recs + cons))):
        tmp = os.path.join(args.out, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(body)
        os.replace(tmp, os.path.join(args.out, name))
    if recs:
        plots(args, recs)
    return text, len(recs), expected


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for arm in args.arms:
            print(f"{arm:11s} {ARMS[arm][1]}\n            bash run_plum.sh {' '.join(arm_flags(arm, args))} "
                  f"--seed S --out {run_dir(args, arm, 'S')}")
        return 0
    t0 = time.time()
    failed = 0 if args.table_only else run_all(args)
    if not args.table_only:
        with open(os.path.join(args.out, "driver.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"started": time.strftime("%FT%TZ", time.gmtime(t0)), "wall_s": time.time() - t0,
                                "failed": failed}) + "\n")
    text, done, expected = write_table(args)
    print(text)
    print(f"run_experiments: {done}/{expected} runs in {os.path.join(args.out, 'experiments.md')}"
          + ("" if args.table_only else f", {time.time() - t0:.0f} s wall")
          + (f"; {failed} failed (their logs: OUT/ARM/seed-S/run.log)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
