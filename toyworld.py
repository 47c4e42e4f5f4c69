"""The toy code world: function-writing tasks a tiny model learns on a CPU, so PLUM can be watched working.

Tasks are made from compositional natural-language templates over lists of integers, integers and strings, each
with a reference program and reference tests:

    Write a function f(xs) that keeps the even numbers in xs, takes their sum, then adds 3.
    def f(xs):
        xs = [x for x in xs if x % 2 == 0]
        y = sum(xs)
        return y + 3

Every task is a pipeline of steps (list: filter -> aggregate -> finish; int and str: two transforms). The train and
held-out splits are split BY COMPOSITION: a held-out task combines steps in a way (a filter with an aggregate, or two
transforms in an order) that no train task, SFT or PLUM, ever shows; every single step is seen in training.

The SFT model is a few-million-parameter transformers Llama with a BPE tokenizer trained offline on this world's
text (tinylm.build_tiny_model), trained from scratch with `05_train_kto.py --loss sft` on instruction -> solution and
instruction -> tests pairs. Part of the SFT solutions are deliberately corrupted: each "habit" step below is written
wrong in most SFT solutions that contain it (an inclusive comparison, operands swapped, a slice off by one), so the
SFT model solves only a minority of held-out tasks and has something to learn from tests. Tests in the SFT data are
always right, so the model writes tests that can catch its own habits.

    python toyworld.py --out .cache/toyworld                # data + SFT model, built once (cached), ~5 min on 2 CPUs
    python toyworld.py --out .cache/toyworld --data_only    # only the JSONL files (a second)
    python toyworld.py --out .cache/toyworld --rebuild      # rebuild everything: a new SFT model, a new round 0
    python toyworld.py --out .cache/toyworld-m1 --model_seed 1   # the same world, another SFT model of the same size

Files written under --out:
    train_instructions.jsonl  PLUM's instruction set (01's input): task_id, instruction, reference, entry_point,
                              plus family, composition, split
    train_tests.jsonl         the same tasks with reference tests (tests.jsonl-shaped: task_id, instruction,
                              entry_point, tests, setup, n_generated, n_kept, validated): `run_plum.sh --tests reference`
    heldout_tests.jsonl       the held-out benchmark, tests.jsonl-shaped (`06_eval.py --benchmark jsonl --data_path`)
    heldout_instructions.jsonl the held-out tasks as instructions (for looking, never trained on)
    heldout_long_tests.jsonl  a second held-out benchmark that differs in LENGTH: three-step int and str pipelines
                              ("..., then ..., then ...") where every adjacent pair of steps is a train composition,
                              where every train task has two (`run_plum.sh --eval2_data`); drawn from its own seed,
                              so the other files and the SFT model are the same with or without it
    heldout_long_instructions.jsonl the same tasks as instructions
    heldout_all_tests.jsonl   every distinct task of the held-out compositions (375; the 120 among them): the
                              evaluation set of run_experiments.py, with the least noise this world allows
    sft.jsonl                 SFT pairs: task_id, kind (solution|tests), prompt, completion, corrupted (bool), label
    world.json                what was built: the cache key and what it covers (config), counts per split and
                              family, compositions per split, habits, corrupted share, the exact commands run, the
                              SFT model's path and built_by (when, and the hashes of the whole files that built it)
    base/                     the randomly initialised model and its tokenizer (before SFT)
    sft/final/                the SFT model (05_train_kto.py's output), the default model of run_plum.sh
    DONE                      written last (atomically): the cache is complete
"""

import argparse
import ast
import hashlib
import importlib.util
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time

from common import atomic_write_json, atomic_write_text, die

ENTRY = "f"

# ----------------------------------------------------------------------------------------------------------------
# the steps. Each step: (name, phrase, code line, value function). {k} is a small constant drawn per task.

LIST_FILTERS = {
    "even": ("keeps the even numbers in xs", "xs = [x for x in xs if x % 2 == 0]", lambda xs, k: [x for x in xs if x % 2 == 0]),
    "odd": ("keeps the odd numbers in xs", "xs = [x for x in xs if x % 2 == 1]", lambda xs, k: [x for x in xs if x % 2 == 1]),
    "positive": ("keeps the positive numbers in xs", "xs = [x for x in xs if x > 0]", lambda xs, k: [x for x in xs if x > 0]),
    "greater": ("keeps the numbers in xs greater than {k}", "xs = [x for x in xs if x > {k}]",
                lambda xs, k: [x for x in xs if x > k]),
}
LIST_AGGS = {
    "sum": ("takes their sum", "y = sum(xs)", lambda xs: sum(xs)),
    "count": ("counts them", "y = len(xs)", lambda xs: len(xs)),
    "max": ("takes the largest (0 if none)", "y = max(xs, default=0)", lambda xs: max(xs, default=0)),
    "min": ("takes the smallest (0 if none)", "y = min(xs, default=0)", lambda xs: min(xs, default=0)),
}
LIST_FINISH = {
    "plus": ("then adds {k}", "return y + {k}", lambda y, k: y + k),
    "times": ("then multiplies by {k}", "return y * {k}", lambda y, k: y * k),
    "minus": ("then subtracts {k}", "return y - {k}", lambda y, k: y - k),
}
INT_STEPS = {
    "add": ("adds {k}", "n = n + {k}", lambda n, k: n + k),
    "sub": ("subtracts {k}", "n = n - {k}", lambda n, k: n - k),
    "mul": ("multiplies by {k}", "n = n * {k}", lambda n, k: n * k),
    "square": ("squares it", "n = n * n", lambda n, k: n * n),
    "neg": ("negates it", "n = -n", lambda n, k: -n),
    "mod": ("takes the remainder modulo {k}", "n = n % {k}", lambda n, k: n % k),
}
STR_STEPS = {
    "reverse": ("reverses it", "s = s[::-1]", lambda s, k: s[::-1]),
    "upper": ("makes it upper case", "s = s.upper()", lambda s, k: s.upper()),
    "repeat": ("repeats it {k} times", "s = s * {k}", lambda s, k: s * k),
    "suffix": ("appends '{k}'", "s = s + '{k}'", lambda s, k: s + k),
    "head": ("keeps its first {k} characters", "s = s[:{k}]", lambda s, k: s[:k]),
    "drop": ("drops its first {k} characters", "s = s[{k}:]", lambda s, k: s[k:]),
    "nospace": ("removes the spaces", "s = s.replace(' ', '')", lambda s, k: s.replace(" ", "")),
}

# Habits: the code line most SFT solutions write INSTEAD of the right one for that step (the deliberate corruption).
# Each is a plausible bug that some reference test catches.
HABITS = {
    ("list", "greater"): "xs = [x for x in xs if x >= {k}]",
    ("list", "minus"): "return {k} - y",
    ("int", "sub"): "n = {k} - n",
    ("str", "head"): "s = s[:{k1}]",
    ("str", "drop"): "s = s[{k1}:]",
}

# Held-out compositions: never in any train task (SFT or PLUM). Every step still appears in training.
HELDOUT = {
    "list": {("even", "max"), ("odd", "count"), ("positive", "min"), ("greater", "sum")},
    "int": {("add", "square"), ("square", "sub"), ("mul", "neg"), ("neg", "mod"), ("sub", "mul"), ("mod", "add"),
            ("square", "mul")},
    "str": {("reverse", "upper"), ("upper", "head"), ("repeat", "drop"), ("head", "reverse"), ("nospace", "repeat"), ("suffix", "reverse"),
            ("drop", "nospace"), ("reverse", "head")},
}


def compositions(family):
    if family == "list":
        return [(a, b) for a in LIST_FILTERS for b in LIST_AGGS]
    steps = INT_STEPS if family == "int" else STR_STEPS
    return [(a, b) for a, b in itertools.permutations(steps, 2)]


# ----------------------------------------------------------------------------------------------------------------
# one task


def _k(rng, step):
    """The constant of a step: small, and never one that makes the step trivial."""
    if step in ("mod",):
        return rng.randint(2, 5)
    if step in ("head", "drop"):
        return rng.randint(1, 3)
    if step == "repeat":
        return rng.randint(2, 3)
    if step == "suffix":
        return rng.choice(["ab", "x", "yo", "zz", "end", "q"])
    if step in ("greater",):
        return rng.randint(0, 5)
    return rng.randint(2, 9)


def make_task(family, comp, rng):
    """A task dict: instruction, reference program, the steps (name, constant) and a function computing it."""
    if family == "list":
        flt, agg = comp
        fin = rng.choice(sorted(LIST_FINISH))
        kf, kz = _k(rng, flt), _k(rng, fin)
        steps = [("filter", flt, kf, LIST_FILTERS[flt]), ("agg", agg, None, LIST_AGGS[agg]),
                 ("finish", fin, kz, LIST_FINISH[fin])]
        phrases = [LIST_FILTERS[flt][0].format(k=kf), LIST_AGGS[agg][0], LIST_FINISH[fin][0].format(k=kz)]
        text = f"Write a function f(xs) that {phrases[0]}, {phrases[1]}, {phrases[2]}."

        def fn(xs, _f=LIST_FILTERS[flt][2], _a=LIST_AGGS[agg][2], _z=LIST_FINISH[fin][2]):
            return _z(_a(_f(xs, kf)), kz)
        arg, name = "xs", "-".join((flt, agg, fin))
        consts = (kf, kz)
    else:
        table = INT_STEPS if family == "int" else STR_STEPS
        a, b = comp
        ka, kb = _k(rng, a), _k(rng, b)
        steps = [("step", a, ka, table[a]), ("step", b, kb, table[b])]
        var = "n" if family == "int" else "s"
        text = (f"Write a function f({var}) that takes {'an integer' if family == 'int' else 'a string'} {var}, "
                f"{table[a][0].format(k=ka)}, then {table[b][0].format(k=kb)}, and returns the result.")

        def fn(v, _a=table[a][2], _b=table[b][2]):
            return _b(_a(v, ka), kb)
        arg, name = var, "-".join(comp)
        consts = (ka, kb)
    return {"family": family, "composition": list(comp), "name": name, "constants": list(consts),
            "instruction": text, "arg": arg, "steps": steps, "fn": fn}


def program(task, corrupt=False):
    """The task's program; with corrupt=True every habit step is written the habitual (wrong) way."""
    lines = [f"def {ENTRY}({task['arg']}):"]
    fam = task["family"]
    for kind, step, k, spec in task["steps"]:
        line = spec[1].format(k=k)
        if corrupt and (fam, step) in HABITS:
            line = HABITS[(fam, step)].format(k=k, k1=(k or 0) + 1)
        lines.append("    " + line)
    if fam != "list":
        lines.append(f"    return {task['arg']}")
    return "\n".join(lines) + "\n"


def has_habit(task):
    return any((task["family"], step) in HABITS for _, step, _, _ in task["steps"])


# ----------------------------------------------------------------------------------------------------------------
# tests: small inputs a small model can compute on, chosen so that each habit is caught


def _inputs(family, rng, n):
    if family == "list":
        pool = [[], [0], [3], [4], [-2], [1, 2], [2, 5], [6, -1], [3, 3], [1, 2, 3], [4, 0, 7], [-3, 5, 2],
                [6, 1, 8, 3], [2, 2, 5, 9], [7, -4, 0, 6, 1]]
        # a list with the boundary value and values above it catches `>=` for `>` whatever k is
        fixed = [[0, 1, 2, 3, 4, 5, 6]]
    elif family == "int":
        pool = [0, 1, 2, 3, 4, 5, 7, 9, 10, -1, -3, -6, 12]
        fixed = [6]
    else:
        pool = ["", "a", "ab", "cat", "hello", "a b", "go up", "xyz", "abcd", "no way", "moon", "tree top"]
        fixed = ["python"]
    rest = rng.sample(pool, n - len(fixed))
    return fixed + rest


def _probes(family):
    """A wide set of inputs to decide whether a habit changes a task's behaviour at all."""
    if family == "list":
        return [[], [0, 1, 2, 3, 4, 5, 6], [-5, -1, 0, 2, 9], [1, 3, 5], [8, 8, 2], [7]] + [[v] for v in range(-3, 10)]
    if family == "int":
        return list(range(-12, 13))
    return ["", "python", "a b c d", "hello world", "xy", "abcdef"]


def _run(code, value):
    ns = {}
    exec(code, ns)  # noqa: S102 - a program this module wrote itself, not model output
    try:
        return ns[ENTRY](value)
    except Exception as e:  # a corrupted program may fail where the reference does not
        return f"<{type(e).__name__}>"


def reference_tests(task, rng, n=4):
    """n assert snippets `assert f(INPUT) == OUTPUT` computed with the task's function; when the task's habit
    changes its behaviour, one of them is guaranteed to catch it (PLUM with reference tests can then learn)."""
    inputs = _inputs(task["family"], rng, n)
    if has_habit(task):
        good, bad = program(task), program(task, corrupt=True)
        if all(_run(good, v) == _run(bad, v) for v in inputs):
            witness = [v for v in _probes(task["family"]) if _run(good, v) != _run(bad, v)]
            if witness:
                inputs[-1] = witness[0]
    return [f"assert {ENTRY}({v!r}) == {task['fn'](v)!r}" for v in inputs]


# ----------------------------------------------------------------------------------------------------------------
# the world: splits, instruction files, SFT pairs


def build_tasks(seed, n_sft=1500, n_plum=160, n_heldout=120):
    """(sft_tasks, plum_tasks, heldout_tasks): disjoint by instruction text; held-out disjoint by composition."""
    rng = random.Random(seed)
    train_comps = [(fam, c) for fam in ("list", "int", "str") for c in compositions(fam) if c not in HELDOUT[fam]]
    held_comps = [(fam, c) for fam in ("list", "int", "str") for c in sorted(HELDOUT[fam])]
    seen = set()

    def draw(comps, n, tag):
        """PLUM and held-out tasks cycle through their compositions, distinct by text; SFT tasks may repeat a text
        (a repeat is one more example of that task, possibly corrupted differently) but never take a PLUM or
        held-out one, so 01 cannot recall tests it was trained on."""
        out, tries = [], 0
        while len(out) < n:
            tries += 1
            if tries > 100 * n:
                raise RuntimeError(f"toyworld: cannot draw {n} distinct {tag} tasks; lower the count")
            fam, comp = comps[tries % len(comps)] if tag != "sft" else rng.choice(comps)
            t = make_task(fam, comp, rng)
            if t["instruction"] in seen:
                continue
            if tag != "sft":
                seen.add(t["instruction"])
            t["split"] = tag
            t["task_id"] = f"toy/{tag}/{len(out)}"
            out.append(t)
        return out

    held = draw(held_comps, n_heldout, "heldout")
    plum = draw(train_comps, n_plum, "train")
    sft = draw(train_comps, n_sft, "sft")
    for t in held + plum + sft:
        t["tests"] = reference_tests(t, rng)
    return sft, plum, held


def long_compositions(family):
    """Three-step pipelines (int or str) whose adjacent pairs are all train compositions: only the length is new."""
    table = INT_STEPS if family == "int" else STR_STEPS
    return [c for c in itertools.permutations(table, 3) if not any(p in HELDOUT[family] for p in zip(c, c[1:]))]


def make_long_task(family, comp, rng):
    """make_task's int/str task with three steps."""
    table = INT_STEPS if family == "int" else STR_STEPS
    ks = [_k(rng, step) for step in comp]
    var = "n" if family == "int" else "s"
    a, b, c = (table[step][0].format(k=k) for step, k in zip(comp, ks))
    text = (f"Write a function f({var}) that takes {'an integer' if family == 'int' else 'a string'} {var}, "
            f"{a}, then {b}, then {c}, and returns the result.")

    def fn(v, _fs=tuple(table[step][2] for step in comp), _ks=tuple(ks)):
        for f, k in zip(_fs, _ks):
            v = f(v, k)
        return v
    return {"family": family, "composition": list(comp), "name": "-".join(comp), "constants": ks,
            "instruction": text, "arg": var, "steps": [("step", step, k, table[step]) for step, k in zip(comp, ks)],
            "fn": fn}


def build_long_heldout(seed, n=60):
    """The length-generalisation set: n distinct three-step tasks, int and str alternating, with reference tests."""
    rng = random.Random(f"heldout_long:{seed}")   # its own stream: build_tasks' draws are untouched
    comps = {fam: long_compositions(fam) for fam in ("int", "str")}
    out, seen, tries = [], set(), 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n:
            raise RuntimeError(f"toyworld: cannot draw {n} distinct long held-out tasks; lower the count")
        fam = ("int", "str")[tries % 2]
        t = make_long_task(fam, rng.choice(comps[fam]), rng)
        if t["instruction"] in seen:
            continue
        seen.add(t["instruction"])
        t["split"] = "heldout_long"
        t["task_id"] = f"toy/heldout_long/{len(out)}"
        t["tests"] = reference_tests(t, rng)
        out.append(t)
    return out


def build_heldout_all(seed, draws=60_000):
    """EVERY distinct task of the held-out compositions (375 at these templates and constants: most are list tasks,
    whose finish step and constants multiply), the 120 of heldout_tests.jsonl among them: the evaluation set with
    the least noise this world allows (one task = 0.27 points). Found by drawing (the constants are drawn in
    make_task), enough draws that every variant turns up; sorted by instruction, so ids do not depend on the draw."""
    rng = random.Random(f"heldout_all:{seed}")   # its own stream, as build_long_heldout
    comps = [(fam, c) for fam in ("list", "int", "str") for c in sorted(HELDOUT[fam])]
    by_text = {}
    for i in range(draws):
        t = make_task(*comps[i % len(comps)], rng)
        by_text.setdefault(t["instruction"], t)
    out = [by_text[k] for k in sorted(by_text)]
    for i, t in enumerate(out):
        t["split"] = "heldout_all"
        t["task_id"] = f"toy/heldout_all/{i}"
        t["tests"] = reference_tests(t, rng)
    return out


def instruction_record(t):
    return {"task_id": t["task_id"], "instruction": t["instruction"], "reference": program(t),
            "entry_point": ENTRY, "family": t["family"], "composition": t["composition"], "split": t["split"]}


def tests_record(t):
    return {"task_id": t["task_id"], "instruction": t["instruction"], "entry_point": ENTRY, "tests": t["tests"],
            "setup": "", "n_generated": len(t["tests"]), "n_kept": len(t["tests"]), "validated": True,
            "family": t["family"], "composition": t["composition"]}


def tests_completion(t):
    """What the SFT model learns to write for a tests prompt: assert lines, one per line."""
    return "\n".join(t["tests"]) + "\n"


def sft_pairs(sft_tasks, seed, habit_rate, solution_prompt, solution_completion, tests_prompt):
    """SFT records: one instruction -> solution pair and one instruction -> tests pair per SFT task.

    A solution whose task has a habit step is written the habitual (wrong) way with probability `habit_rate`, so the
    SFT model learns the habit as its most likely continuation; tests are always right.
    """
    rng = random.Random(seed + 1)
    out = []
    for t in sft_tasks:
        corrupt = has_habit(t) and rng.random() < habit_rate
        code = program(t, corrupt=corrupt)
        out.append({"task_id": t["task_id"], "kind": "solution", "prompt": solution_prompt(t["instruction"]),
                    "completion": solution_completion(code), "corrupted": corrupt, "label": True})
        out.append({"task_id": t["task_id"], "kind": "tests", "prompt": tests_prompt(t["instruction"]),
                    "completion": tests_completion(t), "corrupted": False, "label": True})
    rng.shuffle(out)
    return out


# ----------------------------------------------------------------------------------------------------------------
# building the cache


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    # output
    p.add_argument("--out", default=os.path.join(".cache", "toyworld"), help="cache folder (built once, reused)")
    p.add_argument("--rebuild", "--overwrite", dest="rebuild", action="store_true",
                   help="delete the cache and build the data and the SFT model anew: a new round 0 (--overwrite, the "
                        "stages' name, does the same)")
    p.add_argument("--data_only", action="store_true", help="write the JSONL files only (no model)")
    # the world
    p.add_argument("--seed", type=int, default=0, help="seed of the tasks, the corruption and the SFT model")
    p.add_argument("--model_seed", type=int, default=None,
                   help="another seed for the SFT model's initialisation and data order only (default: --seed): the "
                        "same world and data, another model of the same size (run_experiments.py's off_policy_other "
                        "arm samples one)")
    p.add_argument("--n_sft", type=int, default=1500, help="SFT tasks (each gives a solution and a tests pair)")
    p.add_argument("--n_train", type=int, default=160, help="PLUM's instruction set (disjoint from the SFT tasks)")
    p.add_argument("--n_heldout", type=int, default=120, help="held-out tasks (compositions never trained on)")
    p.add_argument("--habit_rate", type=float, default=0.7,
                   help="share of SFT solutions with a habit step that are written the habitual (wrong) way")
    p.add_argument("--num_tests", type=int, default=4,
                   help="assert lines per tests completion; run_plum.sh asks 01 for the same number")
    # the SFT model (tinylm.build_tiny_model, then 05_train_kto.py --loss sft)
    p.add_argument("--vocab_size", type=int, default=800)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--sft_steps", type=int, default=600, help="optimizer steps of 05_train_kto.py --loss sft")
    p.add_argument("--sft_batch_size", type=int, default=32)
    p.add_argument("--sft_lr", type=float, default=3e-3)
    return p.parse_args(argv)


# The SFT run's fixed flags (05_train_kto.py); with the settings above they make its command line (sft_command).
SFT_FIXED = {"max_length": 512, "save_every": 200}
HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = ("seed", "n_sft", "n_train", "n_heldout", "habit_rate", "num_tests", "vocab_size", "hidden", "layers",
            "heads", "sft_steps", "sft_batch_size", "sft_lr")
# The parts of the key that only the SFT model depends on (a --data_only cache has none of them).
MODEL_PARTS = ("environment", "code", "sft_args")


def sft_threads():
    """Torch threads of the SFT run: a float sum's order, and so the model's last bits, can depend on them."""
    return os.environ.get("OMP_NUM_THREADS", "1")


def model_seed(args):
    return args.seed if args.model_seed is None else args.model_seed


def sft_command(args, out):
    """05_train_kto.py's flags for the SFT run of the world in `out` (its base model, data and output folder)."""
    return ["--loss", "sft", "--model", os.path.join(out, "base"), "--data", os.path.join(out, "sft.jsonl"),
            "--output_dir", os.path.join(out, "sft"), "--max_steps", str(args.sft_steps),
            "--batch_size", str(args.sft_batch_size), "--lr", str(args.sft_lr), "--seed", str(model_seed(args)),
            "--max_length", str(SFT_FIXED["max_length"]), "--save_every", str(SFT_FIXED["save_every"]), "--no_plot"]


def build_environment():
    """What the SFT model depends on beyond the settings, the data and the code: the library versions (weight
    initialisation, BPE merges and CPU kernels can change between releases) and the SFT run's threads."""
    import platform

    import tokenizers
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "sft_threads": sft_threads()}


# ----------------------------------------------------------------------------------------------------------------
# the code the build runs
#
# The build runs build_model here (tinylm's tokenizer and random Llama, then 05's command line) and then
# 05_train_kto.main with --loss sft. Its code, for the key, is every top-level function, class or constant that
# those two reach by name, followed across the repository's own modules (kto_loss, common, tinylm, ...), each hashed
# as its syntax tree without docstrings: comments, docstrings and layout do not count, and an edit anywhere else (a
# KTO change, a new loss, another stage) leaves the key, and so round 0, alone. An edit inside a reached function
# counts even in a branch SFT does not take (main's loop serves every loss): the key errs towards a rebuild there.
SFT_ROOTS = (("toyworld.py", "build_model"), ("05_train_kto.py", "main"))
# Reached by name but not run by the SFT build, or run with a result it never reads: parse_args stands in by the
# values it resolves (sft_args); the others serve KTO and DPO only (the reference's log-probs, KTO's KL pairs and
# λ_D, λ_U) or draw metrics.png once the model is saved.
NOT_RUN_BY_SFT = {("05_train_kto.py", n) for n in ("parse_args", "loss_weights", "kl_partners", "fit_prompt",
                                                   "reference_logps", "compute_ref_logps", "plot_metrics")}
# Of 05's table of losses only the row the build trains with counts (the others' step functions are not reached).
ONLY_ROW = {("05_train_kto.py", "LOSSES"): "sft"}
# Recorded in world.json as the build's provenance, whole files, not part of the key: reusing a model built by
# other versions of them is named on every reuse.
PROVENANCE_FILES = ("05_train_kto.py", "kto_loss.py", "common.py", "tinylm.py", "toyworld.py")


def _sha12(text):
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest()[:12]


def _repo_imports(repo, nodes):
    """{name: (file, attribute, or None for a module)} for the imports among `nodes` of the repository's modules."""
    out = {}
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level \
                and os.path.exists(os.path.join(repo, node.module + ".py")):
            out.update({a.asname or a.name: (node.module + ".py", a.name) for a in node.names})
        elif isinstance(node, ast.Import):
            out.update({a.asname or a.name: (a.name + ".py", None) for a in node.names
                        if os.path.exists(os.path.join(repo, a.name + ".py"))})
    return out


def _module(repo, name, parsed):
    """(top-level definitions by name, the module's imports from the repository) of repo/name, parsed once and
    without docstrings."""
    if name not in parsed:
        with open(os.path.join(repo, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for n in ast.walk(tree):   # docstrings go (ast keeps no comments or layout): neither changes what runs
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and isinstance(n.body[0], ast.Expr) \
                    and isinstance(n.body[0].value, ast.Constant) and isinstance(n.body[0].value.value, str):
                n.body = n.body[1:] or [ast.Pass()]
        defs = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(t, ast.Name):
                        defs[t.id] = node
        parsed[name] = (defs, _repo_imports(repo, tree.body))
    return parsed[name]


def sft_code(repo=HERE):
    """({"FILE:NAME": hash of its syntax tree} for the code the SFT build runs, the names of the 05 arguments that
    code reads as args.NAME). Reads the files; imports nothing."""
    parsed, seen, hashes, arg_names = {}, set(), {}, set()
    todo = list(SFT_ROOTS)
    while todo:
        item = todo.pop()
        if item in seen or item in NOT_RUN_BY_SFT:
            continue
        seen.add(item)
        file, name = item
        defs, imports = _module(repo, file, parsed)
        if name not in defs:   # imported from a module outside the repository, or re-exported: not followed
            if name in imports and imports[name][1] is not None:
                todo.append(imports[name])
            continue
        node = defs[name]
        if item in ONLY_ROW and isinstance(node.value, ast.Dict):
            node = next((v for k, v in zip(node.value.keys, node.value.values)
                         if isinstance(k, ast.Constant) and k.value == ONLY_ROW[item]), node)
        hashes[f"{file}:{name}"] = _sha12(ast.dump(node))
        inner = _repo_imports(repo, ast.walk(node))   # a function's own imports (05 imports kto_loss where used)
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                if n.id in inner and inner[n.id][1] is not None:
                    todo.append(inner[n.id])
                elif n.id in defs:
                    todo.append((file, n.id))
                elif n.id in imports and imports[n.id][1] is not None:
                    todo.append(imports[n.id])
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
                mod = inner.get(n.value.id) or imports.get(n.value.id)
                if mod and mod[1] is None:
                    todo.append((mod[0], n.attr))
                if n.value.id == "args" and isinstance(n.ctx, ast.Load) and file == "05_train_kto.py":
                    arg_names.add(n.attr)
    return dict(sorted(hashes.items())), arg_names


def sft_args(args, arg_names, repo=HERE):
    """What 05_train_kto.py's parser resolves for the SFT run, its defaults included, of the arguments the build's
    code reads: a changed default of those (warm-up, clipping, packing, ...) is a change of the build, one of
    another loss's flags (--beta) is not. The paths are the placeholder folder OUT, so the key is the same wherever
    the cache lives."""
    spec = importlib.util.spec_from_file_location("_toyworld_train", os.path.join(repo, "05_train_kto.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)   # cheap: 05 imports torch and transformers only where it uses them
    resolved = vars(mod.parse_args(sft_command(args, "OUT")))
    return json.loads(json.dumps({k: resolved[k] for k in sorted(arg_names) if k in resolved}))


def config_key(args, files=None, environment=None, repo=HERE):
    """What the cache depends on: a rerun with the same key reuses it, another key refuses to mix.

    The key covers the world's settings and the exact text of every data file (so the prompts 01/02/06 give the
    model, which the SFT pairs hold, and the task templates), and unless --data_only what else the SFT model
    depends on: the library versions and threads (build_environment), the code the build runs (sft_code) and the
    SFT run's resolved flags (sft_args). Not the rest of the training scripts: see sft_code.
    """
    files = files if files is not None else world_files(args)[0]
    d = {**{k: getattr(args, k) for k in SETTINGS}, "data": {name: _sha12(text) for name, text in files.items()}}
    if args.model_seed is not None:   # only when given: the default world's key is the same with or without it
        d["model_seed"] = args.model_seed
    if not args.data_only:
        hashes, arg_names = sft_code(repo)
        d.update(environment=environment if environment is not None else build_environment(), code=hashes,
                 sft_args=sft_args(args, arg_names, repo))
    return d, _sha12(json.dumps(d, sort_keys=True))


def provenance(repo=HERE):
    """Who built the cache: the time and each of PROVENANCE_FILES's whole-file hash (world.json's built_by)."""
    files = {}
    for name in PROVENANCE_FILES:
        with open(os.path.join(repo, name), "rb") as f:
            files[name] = _sha12(f.read())
    return {"at": time.strftime("%Y-%m-%d %H:%M:%S %z"), "files": files}


def reuse_note(built_by, out, repo=HERE):
    """The line shown when a cached model is reused although files it was built by have changed since (outside the
    code its key covers), or None when none has."""
    then, now = (built_by or {}).get("files", {}), provenance(repo)["files"]
    changed = [name for name in PROVENANCE_FILES if then.get(name) != now[name]]
    if not changed:
        return None
    return (f"toyworld: the cached SFT model was built by {', '.join(f'{n} sha {then.get(n)}' for n in changed)} at "
            f"{(built_by or {}).get('at')}; the current {', '.join(f'{n} (sha {now[n]})' for n in changed)} "
            f"differ{'s' if len(changed) == 1 else ''} outside the code the build runs: reusing the cached model "
            f"(the same round 0), `python toyworld.py --out {out} --rebuild` to rebuild")


def _differences(old, new):
    """'name: then -> now' for each setting that differs between two configs (nested one level)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{k}.{x}" for x in _differences(a, b)]
        elif a != b:
            out.append(f"{k}: {a} -> {b}")
    return out


def jsonl_text(records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def prompts(num_tests):
    """The exact prompts 02/06 (solution: common.solution_request, the one place that decides it) and 01 (tests)
    give a base model without a chat template."""
    from common import solution_request, tests_prompt

    return (lambda instr, shown: solution_request({"instruction": instr, "entry_point": ENTRY, "tests": [shown]},
                                                  chat=False).text,
            lambda instr: tests_prompt(instr, ENTRY, k=num_tests, chat=False))


def world_files(args):
    """({data file: its text}, what world.json says about them, the SFT pairs). Cheap (about a second) and
    deterministic, so made on every start: their hashes are part of the cache key."""
    sft_tasks, plum_tasks, held_tasks = build_tasks(args.seed, args.n_sft, args.n_train, args.n_heldout)
    long_tasks = build_long_heldout(args.seed)
    all_tasks = build_heldout_all(args.seed)
    sol_prompt, tst_prompt = prompts(args.num_tests)
    rng = random.Random(args.seed + 2)
    # the prompt shows one of the task's tests, as 02 and 06 show the first test of tests.jsonl (--example_tests 1);
    # which one is random, because 02 shows whichever test 01 kept first
    pairs = sft_pairs(sft_tasks, args.seed, args.habit_rate, lambda i: i, lambda c: c, lambda i: i)
    by_id = {t["task_id"]: t for t in sft_tasks}
    for p in pairs:
        t = by_id[p["task_id"]]
        p["prompt"] = sol_prompt(t["instruction"], rng.choice(t["tests"])) if p["kind"] == "solution" \
            else tst_prompt(t["instruction"])
    records = {
        "sft.jsonl": pairs,
        "train_instructions.jsonl": [instruction_record(t) for t in plum_tasks],
        "train_tests.jsonl": [tests_record(t) for t in plum_tasks],
        "heldout_tests.jsonl": [tests_record(t) for t in held_tasks],
        "heldout_instructions.jsonl": [instruction_record(t) for t in held_tasks],
        "heldout_long_tests.jsonl": [tests_record(t) for t in long_tasks],
        "heldout_long_instructions.jsonl": [instruction_record(t) for t in long_tasks],
        "heldout_all_tests.jsonl": [tests_record(t) for t in all_tasks],
    }
    sol = [p for p in pairs if p["kind"] == "solution"]
    summary = {
        "counts": {split: {fam: sum(t["family"] == fam for t in ts) for fam in ("list", "int", "str")}
                   for split, ts in (("sft", sft_tasks), ("train", plum_tasks), ("heldout", held_tasks))},
        "heldout_compositions": {fam: sorted("-".join(c) for c in HELDOUT[fam]) for fam in HELDOUT},
        "habits": {f"{fam}:{step}": line for (fam, step), line in HABITS.items()},
        "sft_pairs": len(pairs), "sft_solutions_corrupted": sum(p["corrupted"] for p in sol) / len(sol),
        "train_with_habit": sum(map(has_habit, plum_tasks)) / len(plum_tasks),
        "heldout_with_habit": sum(map(has_habit, held_tasks)) / len(held_tasks),
    }
    return {name: jsonl_text(recs) for name, recs in records.items()}, summary, pairs


def main(argv=None):
    args = parse_args(argv)
    files, summary, pairs = world_files(args)
    cfg, key = config_key(args, files)
    out = args.out
    world_json = os.path.join(out, "world.json")
    done = os.path.join(out, "DONE")
    if os.path.exists(world_json) and not args.rebuild:
        with open(world_json, encoding="utf-8") as f:
            old = json.load(f)
        old_cfg = old.get("config") or {}
        part = lambda c, model: {k: v for k, v in c.items() if (k in MODEL_PARTS) == model}
        # the data files depend on the settings only; the model also on its code and environment, so a data-only
        # cache can take a model later, and a model's cache serves --data_only too
        diff = _differences(part(old_cfg, False), part(cfg, False))
        if "environment" in old_cfg and "environment" in cfg:
            diff += _differences(part(old_cfg, True), part(cfg, True))
        if diff:
            die(f"{out} holds a toy world built with other settings, code or environment ({'; '.join(diff)}): its "
                f"SFT model is not the one this run would build. Rebuild it (a new round 0, about 5 min) with "
                f"`python toyworld.py --out {out} --rebuild`, or pass another folder (--out; run_plum.sh --toy_dir)")
        final = os.path.join(out, "sft", "final")
        if os.path.exists(done) and (args.data_only or ("environment" in old_cfg and os.path.exists(final))):
            print(f"toyworld: cached in {out} (key {old.get('key')}); model {final}")
            note = None if args.data_only else reuse_note(old.get("built_by"), out)
            if note:
                print(note, file=sys.stderr)
            return 0
    if args.rebuild and os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)

    # data: cheap and deterministic, so always (re)written whole
    for name, text in files.items():
        atomic_write_text(os.path.join(out, name), text)
    info = {"key": key, "config": cfg, **summary, "built_by": provenance(), "model": None, "commands": []}
    atomic_write_json(world_json, info)

    if not args.data_only:
        info["model"] = build_model(args, out, pairs, info)
        atomic_write_json(world_json, info)
    atomic_write_text(done, key + "\n")
    n = {split: sum(c.values()) for split, c in summary["counts"].items()}
    print(f"toyworld: {n['train']} train / {n['heldout']} held-out tasks, {summary['sft_pairs']} SFT pairs "
          f"({summary['sft_solutions_corrupted']:.0%} of solutions corrupted) in {out}"
          + (f"; SFT model {info['model']}" if info["model"] else ""))
    return 0


def build_model(args, out, pairs, info):
    """The tokenizer and random Llama (tinylm), then SFT with 05_train_kto.py; resumes a killed SFT run."""
    base = os.path.join(out, "base")
    if not os.path.exists(os.path.join(base, "config.json")):
        from transformers.utils import logging as hf_logging

        from tinylm import build_tiny_model

        hf_logging.disable_progress_bar()   # no "Writing model shards" bar for a one-file model

        corpus = [p["prompt"] + p["completion"] for p in pairs]
        tmp = base + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        build_tiny_model(tmp, corpus=corpus, vocab_size=args.vocab_size, hidden=args.hidden, layers=args.layers,
                         heads=args.heads, max_positions=512, seed=model_seed(args))
        os.replace(tmp, base)
    sft_dir = os.path.join(out, "sft")
    cmd = [sys.executable, os.path.join(HERE, "05_train_kto.py")] + sft_command(args, out)
    if os.path.isdir(sft_dir) and any(d.startswith("checkpoint-") for d in os.listdir(sft_dir)):
        cmd.append("--resume")
    info["commands"].append(" ".join(cmd))
    print("toyworld: training the SFT model:", " ".join(cmd), flush=True)
    # One torch thread: this model's matmuls are too small to gain from a second one, and on a shared 2-core
    # machine two threads per process made SFT steps several times slower (6.7 s vs 0.4-2 s a step, measured at
    # load ~5 and not the same moment; notes/loop.md).
    # HF_HUB_DISABLE_PROGRESS_BARS: 05's own bar is the progress; transformers' per-load and per-save bars are noise.
    rc = subprocess.call(cmd, env={**os.environ, "OMP_NUM_THREADS": sft_threads(),
                                   "HF_HUB_DISABLE_PROGRESS_BARS": os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "1")})
    final = os.path.join(sft_dir, "final")
    if rc != 0 or not os.path.exists(os.path.join(final, "config.json")):
        die(f"SFT of the toy model failed (exit {rc}); rerun `python toyworld.py --out {out}` to resume it")
    return final


if __name__ == "__main__":
    sys.exit(main())
