"""The toy code world's experiments: the paper's contrasts, each decided or bounded, through run_plum.sh.

    python run_experiments.py                                   # tune the lr per loss, then every arm x seeds 0-3
    python run_experiments.py --seeds 0,1,2,3,4,5,6,7           # more seeds (finished runs are skipped)
    python run_experiments.py --arms plum,n1,n4,n16,corrupt50   # other ablations (their lr: the tuned one of their loss)
    python run_experiments.py --table_only                      # the table and plots from the finished runs only
    python run_experiments.py --list                            # the arms and their run_plum.sh flags

Every arm starts from the same cached SFT model (toyworld.py) and runs run_plum.sh's toy settings (toy_settings.sh)
for --rounds rounds with 8 samples per prompt, changing only what its row names. The default arms serve the
paper's contrasts (CONTRASTS) and the comparison with RL from the same tests:
    plum        on-policy KTO on the model's own tests (the method)
    rft         rejection-sampling fine-tuning: SFT on the samples that pass the same tests (--loss sft)
    grpo        GRPO, RL from the same samples and verdicts (04 --format grpo, 05 --loss grpo)
    shuffled    KTO with the labels permuted across the round's examples: the same desirable share, no verdicts
    off_policy  every round samples the SFT model; training continues from the last checkpoint
    off_policy_other  every round samples ANOTHER model: an SFT model of the same world and size from another
                seed (toyworld.py --model_seed), as the paper's off-policy data came from other models
    offline_steps   one round on R x 8 samples of the SFT model, trained for the optimizer steps that the seed's
                plum run took over its R rounds (--max_steps; runs once that plum run has finished)
and on request (--arms): offline (the same, one epoch), dpo, reference (the instruction set's reference tests),
sft_all (SFT on every sample), n1 n2 n4 n16 (samples per prompt), corrupt10 corrupt25 corrupt50 (that share of
the model-written tests given a wrong expected value).

Fair budgets: every arm draws the same samples (8 per prompt a round, R rounds) and trains one epoch a round. The
learning rate is tuned per loss (KTO, SFT, GRPO, DPO) on separate tuning seeds (--tune_seeds, never evaluation
seeds): each loss's tuning arm runs at every --tune_lrs value and the best mean primary gain wins (OUT/tuned.json;
OUT/tune/ holds those runs and tuning.md their table).

Evaluation: every round, greedy pass@1 on every distinct held-out task (toyworld.py's heldout_all_tests.jsonl:
375 tasks of the compositions no train task has), and pass@1 from --eval_samples samples at --eval_temperature on
the same tasks (the unbiased estimator, 06's). Both come with their standard error over tasks (06's pass@k_se).
The primary metric, fixed before any run: the sampled pass@1's gain over round 0 (greedy where --eval_samples 0).
Each contrast is a paired difference over seeds: decided at 5% (two-sided t), or equal within --margin points
(two one-sided tests at 5%: the 90% interval inside +- margin), or undecided with the seeds either would need.

A seed's model-written tests (01) and round-0 evaluation are the same commands in every arm (plum_round.py's plan
for each arm's flags says so), so they are computed once, in the seed's first arm that writes them, and copied into
the other arms' folders with the same commands before those start.
Test accuracy is measured: each task's reference program is run (03_execute.py) against the tests the rounds used.

Resume: each (arm, seed) is a run_plum.sh folder OUT/ARM/seed-S, skipped when its summary has every round and
resumed by run_plum.sh otherwise. Kill the driver anywhere and rerun the same command.

Writes, under --out:
    experiments.md      the table: per arm, pass@1 by round and the gains (mean +- sd over seeds, with the
                        evaluation's standard error), kept tests, test accuracy, training steps; then the contrasts
    experiments.jsonl   one line per (arm, seed) ("kind": "run"), then one per contrast ("kind": "contrast")
    tuned.json, tune/   the learning rate chosen per loss, and the tuning runs (tune/tuning.md)
    pass_by_round.png gain_vs_n.png gain_vs_test_accuracy.png
    ARM/seed-S/         run_plum.sh's folder (run.log: its output), experiment.json: wall time, test accuracy
"""

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import plum_round
from common import atomic_write_text

REPO = os.path.dirname(os.path.abspath(__file__))

# name -> (run_plum.sh flags, what it is); the order is the run order: the contrasts first, so a run cut short
# still answers them. {other_model}: the SFT model of another seed (--other_model_seed).
ARMS = {
    "plum": ([], "PLUM: on-policy KTO, model-written tests"),
    "rft": (["--loss", "sft"], "RFT: SFT on the samples passing the same tests"),
    "grpo": (["--loss", "grpo"], "GRPO: RL from the same samples and tests"),
    "shuffled": (["--pairs_args", "--shuffle_labels"], "KTO, labels shuffled (same desirable share)"),
    "off_policy": (["--off_policy"], "off-policy: every round samples the SFT model"),
    "off_policy_other": (["--off_policy_model", "{other_model}"],
                         "off-policy: every round samples another SFT model (another seed)"),
    "offline_steps": (["--rounds", "1", "--num_samples", "{offline_n}", "--train_args", "--max_steps {plum_steps}"],
                      "offline, trained for PLUM's steps"),
    "offline": (["--rounds", "1", "--num_samples", "{offline_n}"], "offline: 1 round, R x 8 samples of the SFT model"),
    "dpo": (["--loss", "dpo"], "DPO instead of KTO"),
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
# in run order within a seed: the paper's contrasts and GRPO first
DEFAULT_ARMS = ["plum", "rft", "grpo", "shuffled", "off_policy_other", "offline_steps", "off_policy"]
N_OF = {"n1": 1, "n2": 2, "n4": 4, "plum": 8, "n16": 16}
# (claim, better arm, worse arm): the paper's contrasts and PLUM against RL from the same tests, then the other
# ablations' differences (shown when both arms ran)
CONTRASTS = [
    ("on-policy > off-policy (the SFT model's samples)", "plum", "off_policy"),
    ("on-policy > off-policy (another model's samples)", "plum", "off_policy_other"),
    ("online > offline (same steps)", "plum", "offline_steps"),
    ("PLUM > RFT", "plum", "rft"),
    ("PLUM vs GRPO (RL from the same tests)", "plum", "grpo"),
    ("tests > no tests (shuffled labels)", "plum", "shuffled"),
    ("online > offline (one epoch)", "plum", "offline"),
    ("tests > no tests (SFT on every sample)", "plum", "sft_all"),
    ("RFT's filter > no filter", "rft", "sft_all"),
    ("KTO vs DPO", "plum", "dpo"),
    ("reference tests vs model-written", "reference", "plum"),
    ("clean tests vs 50% corrupted", "plum", "corrupt50"),
]
# the arm each loss is tuned with (its default-settings arm)
TUNE_ARM = {"kto": "plum", "sft": "rft", "grpo": "grpo", "dpo": "dpo"}
# Student's t quantiles by degrees of freedom (no scipy in the environment): two-sided 5% (the test of a
# difference) and one-sided 5% (each of the two one-sided tests of equivalence: a 90% interval)
T_CRIT = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
          12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000}
T_ONE = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833, 10: 1.812,
         12: 1.782, 15: 1.753, 20: 1.725, 30: 1.697, 60: 1.671}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", default=",".join(DEFAULT_ARMS),
                   help=f"comma-separated arms, run in this order (default: the contrasts' arms; all: {', '.join(ARMS)})")
    p.add_argument("--seeds", default="0,1,2,3", help="comma-separated evaluation seeds (default 0,1,2,3)")
    p.add_argument("--rounds", type=int, default=3, help="PLUM rounds of every online arm (offline: 1)")
    p.add_argument("--tune_lrs", default="2e-5,5e-5,1.5e-4",
                   help="learning rates tried per loss on the tuning seeds ('' = no tuning: toy_settings.sh's lr)")
    p.add_argument("--tune_seeds", default="100", help="seeds of the tuning runs (never evaluation seeds)")
    p.add_argument("--eval_samples", type=int, default=4,
                   help="samples per task of the sampled pass@1 (the primary metric; 0: greedy only)")
    p.add_argument("--eval_temperature", type=float, default=0.8, help="temperature of those samples")
    p.add_argument("--eval_rounds", choices=("all", "last"), default="last",
                   help="evaluate every round, or round 0 and the last only (the gains need no more; the two "
                        "evaluations of 375 tasks cost about as much as a round's sampling and training)")
    p.add_argument("--margin", type=float, default=3.0,
                   help="equivalence margin in points of pass@1, stated before the runs: a contrast whose 90%% "
                        "interval lies inside +- margin is 'equal within the margin'")
    p.add_argument("--other_model_seed", type=int, default=1,
                   help="--model_seed of the other SFT model that off_policy_other samples (built beside --toy_dir)")
    p.add_argument("--jobs", type=int, default=2, help="run_plum.sh runs at a time (one per core)")
    p.add_argument("--out", default=os.path.join("runs", "experiments"), help="where the runs and the table go")
    p.add_argument("--toy_dir", default=os.path.join(REPO, ".cache", "toyworld"), help="the toy world's cache")
    p.add_argument("--table_only", action="store_true", help="write the table from the finished runs; run nothing")
    p.add_argument("--list", action="store_true", help="print the arms and their flags, then exit")
    args = p.parse_args(argv)
    args.arms = [a for a in args.arms.split(",") if a]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    args.tune_lrs = [float(x) for x in args.tune_lrs.split(",") if x]
    args.tune_seeds = [int(s) for s in args.tune_seeds.split(",") if s]
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        p.error(f"unknown arm(s) {', '.join(unknown)}; the arms: {', '.join(ARMS)}")
    if set(args.tune_seeds) & set(args.seeds):
        p.error("--tune_seeds and --seeds overlap: a learning rate chosen on an evaluation seed flatters its arm")
    args.other_model = f"{args.toy_dir.rstrip(os.sep)}-m{args.other_model_seed}"
    return args


def plum_steps(args, seed):
    """The optimizer steps of the seed's finished plum run (all rounds), or None."""
    d = run_dir(args, "plum", seed)
    if not finished(d, args.rounds):
        return None
    return sum(r.get("train_steps") or 0 for r in read_jsonl(os.path.join(d, "summary.jsonl"))[1:])


def loss_of(arm):
    flags = ARMS[arm.split("@")[0]][0]
    return flags[flags.index("--loss") + 1] if "--loss" in flags else "kto"


def tuned(args):
    """OUT/tuned.json (the lr chosen per loss, the metric, seeds and grid), None before tuning or without it."""
    path = os.path.join(args.out, "tuned.json")
    if not (args.tune_lrs and os.path.exists(path)):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def tuned_lrs(args):
    """{loss: lr} chosen on the tuning seeds, {} before tuning or without it."""
    return (tuned(args) or {}).get("lr", {})


def arm_flags(arm, args, seed=None):
    """run_plum.sh's flags of an arm; "ARM@LR" is the arm at that learning rate (a tuning run), a plain arm takes
    its loss's tuned lr where there is one (toy_settings.sh's otherwise)."""
    name, _, lr = arm.partition("@")
    flags, _ = ARMS[name]
    steps = plum_steps(args, seed) if any("{plum_steps}" in f for f in flags) else None
    flags = [f.format(offline_n=8 * args.rounds, plum_steps=steps, other_model=os.path.join(
        args.other_model, "sft", "final")) for f in flags]
    if "--rounds" not in flags:
        flags = ["--rounds", str(args.rounds)] + flags
    lr = lr or tuned_lrs(args).get(loss_of(name))
    if lr:   # after toy_settings.sh's --lr on 05's command line: the last one wins
        if "--train_args" in flags:
            i = flags.index("--train_args") + 1
            flags[i] = f"{flags[i]} --lr {lr}"
        else:
            flags += ["--train_args", f"--lr {lr}"]
    ev = os.path.join(args.toy_dir, "heldout_all_tests.jsonl")
    flags += ["--toy_dir", args.toy_dir, "--eval_data", ev]
    if args.eval_rounds != "all":
        flags += ["--eval_rounds", args.eval_rounds]
    if args.eval_samples:
        flags += ["--eval2_data", ev, "--eval2_args",
                  f"--num_samples {args.eval_samples} --temperature {args.eval_temperature} --k 1"]
    return flags


def rounds_of(arm, args):
    flags = arm_flags(arm, args)
    return int(flags[flags.index("--rounds") + 1])


def run_dir(args, arm, seed):
    name, _, lr = arm.partition("@")
    if lr:
        return os.path.join(args.out, "tune", f"{name}-lr{lr}", f"seed-{seed}")
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


def seed_shared(args, arm, seed, donors):
    """Copy the seed's tests (01) and round-0 evaluation from an arm among `donors` that has them, where its commands
    for them are this arm's (the same commands, the same files)."""
    d = run_dir(args, arm, seed)
    mine = round0_stages(args, arm, seed)
    for donor in donors:
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


def shared_done(args, arm, seed):
    """The run's tests and round-0 evaluation are finished (their markers exist)."""
    d = run_dir(args, arm, seed)
    return all(os.path.exists(os.path.join(d, folder, ".done", stage)) for folder, stage in round0_stages(args, arm, seed))


def run_one(args, arm, seed, lock, pending, donors, owners):
    d = run_dir(args, arm, seed)
    if any("{plum_steps}" in f for f in ARMS[arm.split("@")[0]][0]):
        while ("plum", seed) in pending:   # its step budget is that run's: wait for it
            time.sleep(5)
    with lock:
        owner = owners.setdefault(seed, arm)
    if owner != arm and round0_stages(args, owner, seed) == round0_stages(args, arm, seed):
        # the seed's first run computes the tests and round 0 that this one would copy: wait for them, not redo them
        while (owner, seed) in pending and not shared_done(args, owner, seed):
            time.sleep(5)
    flags = arm_flags(arm, args, seed)
    if any("None" in f for f in flags):
        print(f"  {arm} seed {seed}: needs the finished plum run of seed {seed}; not started", flush=True)
        return False
    os.makedirs(d, exist_ok=True)
    with lock:
        seed_shared(args, arm, seed, donors)
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


def run_jobs(args, arms, seeds, what):
    """Every (arm, seed) not finished yet, seed by seed (a run cut short still has whole seeds to pair), --jobs at a
    time; the number that failed."""
    todo = [(a, s) for s in seeds for a in arms if not finished(run_dir(args, a, s), rounds_of(a, args))]
    print(f"== {what}: {len(todo)} runs to do ({len(arms) * len(seeds) - len(todo)} finished, skipped), "
          f"{args.jobs} at a time", flush=True)
    lock, pending, owners = threading.Lock(), set(todo), {}

    def job(arm_seed):
        try:
            return run_one(args, *arm_seed, lock, pending, arms, owners)
        finally:
            pending.discard(arm_seed)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        ok = list(pool.map(job, todo))
    return sum(not x for x in ok)


def tuning_arms(args):
    """The tuning runs' arms: each loss of the chosen arms, in its TUNE_ARM, at every --tune_lrs value."""
    losses = list(dict.fromkeys(loss_of(a) for a in args.arms))
    return [f"{TUNE_ARM[loss]}@{lr:g}" for loss in losses for lr in args.tune_lrs]


def tuning_table(args, arms):
    """({loss: best lr}, the tuning table's markdown) from the finished tuning runs; a loss lacks a choice until
    all its runs finished. The best: the highest mean primary gain over the tuning seeds (ties: the smaller lr)."""
    recs = collect(args, arms, args.tune_seeds)
    key = primary(args)
    rows, best = [], {}
    for arm in arms:
        rs = [r for r in recs if r["arm"] == arm]
        loss, lr = loss_of(arm), float(arm.split("@")[1])
        if len(rs) < len(args.tune_seeds):
            best[loss] = None   # unfinished: no choice for this loss yet
            continue
        mean = statistics.fmean(r[key] for r in rs)
        rows.append((loss, lr, rs))
        if best.get(loss, 0) is not None and (loss not in best or (mean, -lr) > (best[loss][0], -best[loss][1])):
            best[loss] = (mean, lr)
    chosen = {loss: b[1] for loss, b in best.items() if b is not None}
    text = (f"Learning rate per loss, tuned on seeds {','.join(map(str, args.tune_seeds))} (never evaluation seeds) "
            f"by the mean {key} ({'sampled' if key == 'gain_sampled' else 'greedy'} pass@1, last round − round 0, "
            f"points; the evaluation's standard error over tasks beside each figure, last round).\n\n"
            f"| loss | lr | chosen | {key} | greedy gain | train steps |\n|---|---|---|---|---|---|\n" +
            "".join(f"| {loss} | {lr:g} | {'yes' if chosen.get(loss) == lr else ''} "
                    f"| {ms([r[key] for r in rs], sign=True)} ({ms([r['se_sampled' if key == 'gain_sampled' else 'se'] for r in rs])}) "
                    f"| {ms([r['gain'] for r in rs], sign=True)} ({ms([r['se'] for r in rs])}) "
                    f"| {ms([r['train_steps'] for r in rs], 0)} |\n" for loss, lr, rs in rows))
    return chosen, text


def tune(args):
    """Run the tuning arms on --tune_seeds, then choose each loss's lr (tuning_table) into OUT/tuned.json, with
    OUT/tune/tuning.md; the number of failed runs."""
    path = os.path.join(args.out, "tuned.json")
    arms = tuning_arms(args)
    if all(loss_of(a) in tuned_lrs(args) for a in arms):
        return 0
    failed = run_jobs(args, arms, args.tune_seeds, f"tuning the learning rate on seeds {args.tune_seeds}")
    chosen, text = tuning_table(args, arms)
    if failed or len(chosen) < len({loss_of(a) for a in arms}):
        print("  tuning incomplete: no learning rate chosen (rerun to finish it)", flush=True)
        return failed or 1
    os.makedirs(os.path.join(args.out, "tune"), exist_ok=True)
    atomic_write_text(os.path.join(args.out, "tune", "tuning.md"), text)
    atomic_write_text(path, json.dumps({"lr": {loss: f"{lr:g}" for loss, lr in chosen.items()},
                                        "metric": primary(args), "seeds": args.tune_seeds,
                                        "grid": args.tune_lrs}) + "\n")
    print(text, flush=True)
    return 0


def run_all(args):
    env_threads = os.environ.setdefault("OMP_NUM_THREADS", "1")   # as run_plum.sh: part of the toy world's key
    print(f"== toy world ({args.toy_dir}, OMP_NUM_THREADS={env_threads})", flush=True)
    subprocess.run([sys.executable, os.path.join(REPO, "toyworld.py"), "--out", args.toy_dir], check=True)
    if "off_policy_other" in args.arms:
        print(f"== the other SFT model ({args.other_model}, --model_seed {args.other_model_seed})", flush=True)
        subprocess.run([sys.executable, os.path.join(REPO, "toyworld.py"), "--out", args.other_model,
                        "--model_seed", str(args.other_model_seed)], check=True)
    os.makedirs(args.out, exist_ok=True)
    failed = tune(args) if args.tune_lrs else 0
    if failed:
        return failed
    return run_jobs(args, args.arms, args.seeds, "the arms")


# ----------------------------------------------------------------------------------------------------------------
# the table


def pct(v):
    return None if v is None else 100 * v


def primary(args):
    """The metric every contrast's verdict is on, fixed before any run: the sampled pass@1's gain (greedy's without
    sampled evaluation)."""
    return "gain_sampled" if args.eval_samples else "gain"


def collect(args, arms=None, seeds=None):
    """One record per finished (arm, seed)."""
    recs = []
    for arm in arms or args.arms:
        for seed in seeds or args.seeds:
            d = run_dir(args, arm, seed)
            if not finished(d, rounds_of(arm, args)):
                continue
            rows = read_jsonl(os.path.join(d, "summary.jsonl"))
            info = json.load(open(os.path.join(d, "experiment.json"))) if os.path.exists(
                os.path.join(d, "experiment.json")) else {}
            last = rows[-1]
            recs.append({
                "kind": "run", "arm": arm, "seed": seed, "flags": arm_flags(arm, args, seed),
                # None: a round not evaluated (--eval_rounds last)
                "pass@1": [pct(r["pass@1"]) for r in rows],
                "pass@1_sampled": [pct(r.get("pass@1_eval2")) for r in rows] if "pass@1_eval2" in last else None,
                "gain": 100 * (last["pass@1"] - rows[0]["pass@1"]),
                "gain_sampled": 100 * (last["pass@1_eval2"] - rows[0]["pass@1_eval2"])
                if "pass@1_eval2" in last else None,
                # the evaluation's standard error over tasks (06), of the last round's greedy and sampled pass@1
                "se": 100 * last["pass@1_se"] if last.get("pass@1_se") is not None else None,
                "se_sampled": 100 * last["pass@1_eval2_se"] if last.get("pass@1_eval2_se") is not None else None,
                "problems": last.get("problems"),
                "kept_tests": last["kept_tests"], "tasks_with_tests": last["tasks_with_tests"],
                "validated_share": last["tasks_validated"] / last["tasks_with_tests"] if last["tasks_with_tests"] else None,
                "corrupted_tests": last.get("corrupted_tests", 0),
                "test_accuracy": info.get("test_accuracy"),
                "train_steps": sum(r.get("train_steps") or 0 for r in rows[1:]),
                "samples_passing": [r.get("samples_passing") for r in rows[1:]],
                "wall_s": info.get("wall_s"), "commit": info.get("commit"),
            })
    return recs


def t_crit(df, table=T_CRIT):
    """The table's quantile at df degrees of freedom (the nearest tabulated df below: a little conservative)."""
    keys = [k for k in sorted(table) if k <= df]
    return table[keys[-1]] if keys else float("inf")


def equivalent(mean, sd, n, margin):
    """Two one-sided tests at 5%: the 90% interval mean +- t(0.95, n-1) sd / sqrt(n) lies inside (-margin, margin)."""
    return n >= 2 and abs(mean) + t_crit(n - 1, T_ONE) * sd / math.sqrt(n) < margin


def paired(diffs, margin=None):
    """Paired comparison over seeds: mean, sd, n, t, signs, the seeds needed at this spread for |t| > t_crit, and
    with a margin the equivalence test (equal) and the seeds it would need."""
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
    out = {"n": n, "mean": mean, "sd": sd, "t": t, "t_crit": t_crit(n - 1) if n >= 2 else None, "signs": signs,
           "significant": called, "seeds_needed": needed}
    if margin is not None:
        out["margin"] = margin
        out["equal"] = equivalent(mean, sd, n, margin)
        out["half_width_90"] = t_crit(n - 1, T_ONE) * sd / math.sqrt(n) if n >= 2 else None
        # at this mean and spread, the seeds after which the 90% interval would fit (none if |mean| >= margin)
        out["seeds_needed_equal"] = next((m for m in range(2, 1001) if equivalent(mean, sd, m, margin)), None) \
            if n >= 2 and abs(mean) < margin else None
    return out


def verdict(p, claim_is_directional):
    if p["n"] < 2:
        return "too few seeds"
    if p["sd"] == 0:
        return (f"the same difference in all {p['n']} seeds: no spread to test it against (more seeds, or a "
                f"larger benchmark, would show one)") if p["mean"] else f"no difference in any of {p['n']} seeds"
    if p.get("equal") and not p["significant"]:
        return (f"equal within ±{p['margin']:g} points (90% interval {p['mean'] - p['half_width_90']:+.1f} to "
                f"{p['mean'] + p['half_width_90']:+.1f})")
    if p["significant"]:
        if not claim_is_directional:
            return "differs (5%, two-sided)"
        return "reproduces (5%, two-sided)" if p["mean"] > 0 else "reversed (5%, two-sided)"
    need = f"~{p['seeds_needed']} seeds to decide it at this spread" if p["seeds_needed"] \
        else "no seed count would decide it (mean 0)"
    if p.get("seeds_needed_equal"):
        need += f", ~{p['seeds_needed_equal']} to show it equal within ±{p['margin']:g}"
    return f"undecided with {p['n']} seeds ({need})"


def task_scores(d, key):
    """{task_id: pass@1 in points} of a run's last evaluation (the sampled one for gain_sampled), from 06's
    executions (a record appended twice by a resume counts once)."""
    last = read_jsonl(os.path.join(d, "summary.jsonl"))[-1]["round"]
    path = os.path.join(d, f"round-{last}", "eval2" if key == "gain_sampled" else "eval", "executions.jsonl")
    per = {}
    for e in read_jsonl(path):
        per.setdefault(e["task_id"], {})[e["sample_id"]] = bool(e["passed"])
    return {t: 100 * sum(v.values()) / len(v) for t, v in per.items()}


def eval_se(args, a, b, seeds, key):
    """The evaluation's share of a contrast's noise: for each seed, the standard error over tasks of the per-task
    difference between the two arms' last evaluations (their round 0 is the same, so this is the difference of the
    gains); combined into the standard error of the mean over seeds. None where a run's executions are missing."""
    ses = []
    for s in seeds:
        x, y = task_scores(run_dir(args, a, s), key), task_scores(run_dir(args, b, s), key)
        tasks = sorted(set(x) & set(y))
        if len(tasks) < 2:
            return None
        diffs = [x[t] - y[t] for t in tasks]
        ses.append(statistics.stdev(diffs) / math.sqrt(len(diffs)))
    return math.sqrt(sum(v * v for v in ses)) / len(ses)


def contrasts(recs, key, margin=None, args=None):
    """One record per CONTRASTS row with both arms run on some seed: the paired statistics, the verdict, and with
    args the evaluation's standard error of the mean difference (eval_se, against se = sd / sqrt(n) in all)."""
    by = {(r["arm"], r["seed"]): r for r in recs}
    out = []
    for claim, a, b in CONTRASTS:
        seeds = sorted(s for (arm, s) in by if arm == a and (b, s) in by)
        if not seeds:
            continue
        diffs = [by[(a, s)][key] - by[(b, s)][key] for s in seeds if by[(a, s)][key] is not None]
        if not diffs:
            continue
        p = paired(diffs, margin)
        if args is not None:
            p["eval_se"] = eval_se(args, a, b, seeds, key)
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
    lr = tuned_lrs(args)
    lines.append("| arm | seeds | lr | greedy pass@1, round 0 → " + " → ".join(str(k) for k in range(1, rounds)) +
                 " (se) | greedy gain | sampled pass@1, round 0 → last (se) | sampled gain | kept tests (tasks) "
                 "| test accuracy | train steps | what |")
    lines.append("|---" * 12 + "|")
    for arm in args.arms:
        rs = [r for r in recs if r["arm"] == arm]
        if not rs:
            lines.append(f"| {arm} | - |" + " |" * 9 + f" {ARMS[arm][1]} (not run yet) |")
            continue
        cells = " → ".join(ms([r["pass@1"][k] if k < len(r["pass@1"]) else None for r in rs]) for k in range(rounds))
        smp = [r for r in rs if r["pass@1_sampled"]]
        sampled = (f"{ms([r['pass@1_sampled'][0] for r in smp])} → {ms([r['pass@1_sampled'][-1] for r in smp])} "
                   f"({ms([r['se_sampled'] for r in smp])})") if smp else "-"
        lines.append(
            f"| {arm} | {','.join(str(r['seed']) for r in rs)} | {lr.get(loss_of(arm), 'toy_settings')} "
            f"| {cells} ({ms([r['se'] for r in rs])}) | {ms([r['gain'] for r in rs], sign=True)} | {sampled} "
            f"| {ms([r['gain_sampled'] for r in rs], sign=True)} "
            f"| {ms([r['kept_tests'] for r in rs], 0)} ({ms([r['tasks_with_tests'] for r in rs], 0)}) "
            f"| {ms([100 * r['test_accuracy'] if r['test_accuracy'] is not None else None for r in rs], 1)}% "
            f"| {ms([r['train_steps'] for r in rs], 0)} | {ARMS[arm][1]} |")
    lines += ["", f"Paired over seeds (difference of the gains, points of pass@1; the verdicts are on {primary(args)}, "
              f"fixed before the runs; t = mean / (sd / √n) against the two-sided 5% value for n - 1 degrees of "
              f"freedom; equal: the 90% interval (mean ± one-sided 5% t · sd / √n) inside ±{args.margin:g} points, "
              f"also fixed before the runs; signs + / - / =; se: the mean difference's standard error, sd / √n, of "
              f"which eval se comes from scoring a finite set of tasks, the rest from training and sampling):", "",
              "| contrast | metric | n | mean diff | sd | se (eval se) | 90% interval | t (crit) | signs | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cons:
        sd = "-" if math.isnan(c["sd"]) else f"{c['sd']:.1f}"
        hw = c.get("half_width_90")
        ci = "-" if hw is None or math.isnan(hw) else f"{c['mean'] - hw:+.1f} to {c['mean'] + hw:+.1f}"
        se = "-" if c["n"] < 2 or math.isnan(c["sd"]) else f"{c['sd'] / math.sqrt(c['n']):.1f}"
        ev = "-" if c.get("eval_se") is None else f"{c['eval_se']:.1f}"
        lines.append(f"| {c['claim']} ({c['better']} − {c['worse']}) | {c['metric']} | {c['n']} | {c['mean']:+.1f} "
                     f"| {sd} | {se} ({ev}) | {ci} | {fmt_t(c['t'])} ({'-' if c['t_crit'] is None else c['t_crit']}) "
                     f"| {c['signs'][0]}/{c['signs'][1]}/{c['signs'][2]} | {c['verdict']} |")
    return "\n".join(lines) + "\n"


# pass_by_round.png: the arms in four panels, each compared with plum (drawn in every panel, black)
PANEL_ARMS = [("the paper's contrasts", ["plum", "off_policy", "off_policy_other", "offline", "offline_steps", "dpo",
                                         "reference"]),
              ("what the verdicts add", ["plum", "rft", "grpo", "sft_all", "shuffled"]),
              ("samples per prompt N", ["n1", "n2", "n4", "plum", "n16"]),
              ("test accuracy", ["plum", "corrupt10", "corrupt25", "corrupt50"])]
LABELS = {"plum": "PLUM", "off_policy": "off-policy", "off_policy_other": "off-policy, another model", "offline": "offline (1 round)",
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
            # the rounds evaluated (--eval_rounds last: round 0 and the last)
            done = [i for i in range(k) if all(r[key][i] is not None for r in rs)]
            mean = [statistics.fmean(r[key][i] for r in rs) for i in done]
            sd = [statistics.stdev(r[key][i] for r in rs) if len(rs) > 1 else 0.0 for i in done]
            # an offline arm's one round used R rounds' samples: drawn at round R, beside the online arms' last
            xs = [0, last_round] if k == 2 and arm.startswith("offline") else done
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
            lines(axes[1, col], arms, "pass@1_sampled", name)
            axes[0, col].set_title(name)
            axes[0, col].legend(loc="best", fontsize=9.5)
        n_tasks = max((r["problems"] or 0) for r in recs)
        y_axis_label(axes[0, 0], f"held-out pass@1 (%), greedy, {n_tasks} tasks")
        y_axis_label(axes[1, 0], f"held-out pass@1 (%), {args.eval_samples} samples at T = {args.eval_temperature:g}")
        title = "Toy world: pass@1 by round, every arm against PLUM (black)"
        sub = wrap(f"{spread}. The held-out tasks (compositions unseen in training): top greedy, bottom pass@1 "
                   f"from samples (the unbiased estimator). Offline arms (dashed): one round of {last_round} rounds' samples, drawn at round "
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
            for key, label in (("gain", "greedy"), ("gain_sampled", "sampled")):
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
    key = primary(args)
    cons = contrasts(recs, key, args.margin, args) + [c for c in contrasts(recs, "gain", args.margin, args)
                                                      if key != "gain"]
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
    choice = tuned(args)
    tuning = (f"lr tuned per loss on seeds {','.join(map(str, choice['seeds']))} over {choice['grid']} "
              f"(tune/tuning.md)" if choice else "lr: toy_settings.sh's for every loss")
    n_tasks = max((r["problems"] or 0 for r in recs), default=0)
    header = (f"Toy world, `python run_experiments.py --arms {','.join(args.arms)} --seeds "
              f"{','.join(map(str, args.seeds))} --rounds {args.rounds} --eval_samples {args.eval_samples} "
              f"--eval_temperature {args.eval_temperature:g} --margin {args.margin:g} --jobs {args.jobs}`; {tuning}; "
              f"runs at commit "
              f"{', '.join(run_commits) or '(not recorded)'}, table written at {commit}; "
              f"{len(recs)} of {expected} runs finished" + ("" if len(recs) == expected else " (PARTIAL)") +
              f". Versions: {', '.join(f'{k} {v}' for k, v in env.items())}. Wall time: the driver {driver / 60:.0f} min "
              f"(toy world build included); each run {ms([w / 60 for w in walls])} min with {args.jobs} side by side, "
              f"{sum(walls) / 3600:.2f} run-hours. "
              f"Pass@1 in %, mean ± sd over the seeds, on all {n_tasks} held-out tasks (compositions no train task "
              f"has); (se): the evaluation's standard error over tasks, last round, mean over seeds; sampled: "
              f"{args.eval_samples} samples a task at T = {args.eval_temperature:g}; gain = last round − round 0.")
    text = table(args, recs, cons, header)
    os.makedirs(args.out, exist_ok=True)
    if choice:   # redrawn with the table's code (the numbers are the tuning runs')
        atomic_write_text(os.path.join(args.out, "tune", "tuning.md"), tuning_table(args, tuning_arms(args))[1])
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
        for arm in (tuning_arms(args) if args.tune_lrs else []) + args.arms:
            print(f"{arm:11s} {ARMS[arm.split('@')[0]][1]}\n            bash run_plum.sh {shlex.join(arm_flags(arm, args))} "
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
