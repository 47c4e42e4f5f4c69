"""One definition of a PLUM run: which stages, in what order, with which arguments, reading and writing which files,
from the run's flags. run_plum.sh runs it in this shell; slurm/submit_round.sh submits the same stages as Slurm jobs.

    python plum_round.py local FLAGS...     # what `bash run_plum.sh FLAGS...` runs: every stage in turn, resumable
    python plum_round.py stages FLAGS...    # print each stage's folder, id and command; run nothing
    python plum_round.py slurm FLAGS...     # the job plan slurm/submit_round.sh reads (shell words, one job a line)
    python plum_round.py environment        # what the numbers depend on beyond the settings (JSON), for run.json

FLAGS are run_plum.sh's (its header lists them); `slurm` also takes submit_round.sh's own.

A run is: 01 once (tests/), 06 on the starting model (round-0/), then rounds 1..R of 02 -> 03 -> 04 -> 05 -> 06
(round-K/). `plan` below writes that sequence down once; everything else here is how it is run (locally:
markers, logs, progress, checks; on Slurm: shards and dependencies) and what a run leaves (run.json, summary).
"""

import difflib
import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from common import RENAMED, atomic_write_text, read_jsonl, shard_glob

REPO = os.path.dirname(os.path.abspath(__file__))


def losses():
    """05_train_kto.py's LOSSES, the loss names (and whether a loss needs the sampler's log-probs). 05 imports torch
    only where it trains (its --help answers at once), so this costs no torch import."""
    return importlib.import_module("05_train_kto").LOSSES


class Refusal(Exception):
    """A flag, a setting or a run folder the driver refuses; the message says what to do."""


# ----------------------------------------------------------------------------------------------------------------
# flags: run_plum.sh's, parsed once for both drivers

# flag -> (attribute, default); None as the default marks a switch
FLAGS = {
    "--rounds": ("rounds", "3"), "--num_samples": ("num_samples", "8"), "--temperature": ("temperature", ""),
    "--loss": ("loss", "kto"), "--off_policy": ("off_policy", None), "--tests": ("tests", "generated"),
    "--model": ("model", ""), "--data": ("data", ""), "--tests_file": ("tests_file", ""),
    "--benchmark": ("benchmark", ""), "--eval_data": ("eval_data", ""), "--eval2_data": ("eval2_data", ""),
    "--corrupt_tests": ("corrupt", ""), "--backend": ("backend", "hf"), "--seed": ("seed", "0"),
    "--out": ("out", "runs/plum"), "--toy_dir": ("toy_dir", ""),
    "--tests_args": ("tests_args", ""), "--sample_args": ("sample_args", ""), "--exec_args": ("exec_args", ""),
    "--pairs_args": ("pairs_args", ""), "--train_args": ("train_args", ""), "--eval_args": ("eval_args", ""),
    "--eval2_args": ("eval2_args", ""), "--off_policy_model": ("off_policy_model", ""),
    "--eval_rounds": ("eval_rounds", "all"),
}
# submit_round.sh's own: how the stages become jobs, not what they compute (--shards aside: it is in the settings,
# since shards draw other random streams than one process)
SLURM_FLAGS = {
    "--shards": ("shards", "3"), "--first_round": ("first_round", "1"), "--nproc": ("nproc", "1"),
    "--sbatch_args": ("sbatch_args", ""), "--gpu_args": ("gpu_args", ""), "--local": ("local", None),
    "--toy": ("toy", None),
}
DRIVERS = {"local": "run_plum.sh", "slurm": "slurm/submit_round.sh"}


def header_help(driver):
    """The driver script's header comment (its flags and files), as its --help."""
    with open(os.path.join(REPO, DRIVERS[driver]), encoding="utf-8") as f:
        lines = f.read().splitlines()[1:]
    end = next(i for i, x in enumerate(lines) if x.startswith("set -euo"))
    return "\n".join(re.sub(r"^# ?", "", x) for x in lines[:end])


def parse(argv, driver="local"):
    """The run's flags -> a namespace of strings (as given) and switches; Refusal on a bad flag."""
    flags = dict(FLAGS, **(SLURM_FLAGS if driver == "slurm" else {}))
    a = {attr: (0 if default is None else default) for attr, default in flags.values()}
    a["help"] = False
    script = DRIVERS[driver]
    i = 0
    while i < len(argv):
        f = argv[i]
        if f in ("-h", "--help"):
            a["help"] = True
            i += 1
        elif f not in flags:
            raise Refusal(f"unknown flag {f} (see bash {script} --help)")
        elif flags[f][1] is None:
            a[flags[f][0]] = 1
            i += 1
        else:
            if i + 1 >= len(argv) or not argv[i + 1]:
                raise Refusal(f"{f} needs a value (see the flags at the top of {script})")
            a[flags[f][0]] = argv[i + 1]
            i += 2
    a = Run(**a)
    if a.help:
        return a
    names = list(losses())
    if not re.fullmatch(r"[0-9]+", a.rounds):
        raise Refusal(f"--rounds must be a whole number, got '{a.rounds}'")
    if not re.fullmatch(r"[1-9][0-9]*", a.num_samples):
        raise Refusal(f"--num_samples must be a positive whole number, got '{a.num_samples}'")
    if a.loss not in names:
        raise Refusal(f"--loss must be {' or '.join(names)}, got '{a.loss}'")
    if a.corrupt and not re.fullmatch(r"0|1|0?\.[0-9]+", a.corrupt):
        raise Refusal(f"--corrupt_tests must be a share in [0, 1], got '{a.corrupt}'")
    if a.eval2_data and not os.path.isfile(a.eval2_data):
        raise Refusal(f"--eval2_data {a.eval2_data}: no such file")
    if a.eval_rounds not in ("all", "last"):
        raise Refusal(f"--eval_rounds must be all or last, got '{a.eval_rounds}'")
    if a.eval2_args and not a.eval2_data:
        raise Refusal("--eval2_args are flags of the second evaluation: they need --eval2_data")
    if a.off_policy_model:
        a.off_policy = 1   # another model's samples are off-policy by definition
    if a.tests not in ("generated", "reference"):
        raise Refusal(f"--tests must be generated or reference, got '{a.tests}'")
    if driver == "slurm":
        for k in ("shards", "first_round", "nproc"):
            if not re.fullmatch(r"[1-9][0-9]*", getattr(a, k)):
                raise Refusal(f"--{k} must be a positive whole number, got '{getattr(a, k)}'")
        if a.toy and a.model:
            raise Refusal("--toy runs the toy world, which needs no --model (it is what runs without one)")
        if int(a.first_round) > int(a.rounds):
            raise Refusal(f"--first_round {a.first_round} is past the run's last round (--rounds {a.rounds})")
    a.driver = driver
    return a


@dataclass
class Run:
    """The run's flags as given, then (resolve) its settings."""
    rounds: str
    num_samples: str
    temperature: str
    loss: str
    off_policy: int
    tests: str
    model: str
    data: str
    tests_file: str
    benchmark: str
    eval_data: str
    eval2_data: str
    corrupt: str
    backend: str
    seed: str
    out: str
    toy_dir: str
    tests_args: str
    sample_args: str
    exec_args: str
    pairs_args: str
    train_args: str
    eval_args: str
    eval2_args: str
    off_policy_model: str
    eval_rounds: str
    help: bool = False
    driver: str = "local"
    shards: str = "1"
    first_round: str = "1"
    nproc: str = "1"
    sbatch_args: str = ""
    gpu_args: str = ""
    local: int = 0
    toy: int = 0
    # resolved
    toy_world_json: str = ""
    toy_tests: str = ""
    toy_gen: str = ""
    toy_train: str = ""
    py: str = "python"


def toy_settings():
    """toy_settings.sh's assignments (TOY_TEMPERATURE, TOY_TESTS, TOY_GEN, TOY_TRAIN): the toy world's pipeline
    settings, kept in that one file with the reasons for each."""
    out = {}
    with open(os.path.join(REPO, "toy_settings.sh"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"([A-Z_]+)=(.*)$", line.strip())
            if m:
                out[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) else ""
    return out


def resolve(a, build_toy=True, say=print):
    """Fill in the toy world (without --model) and the defaults that depend on it; Refusal on a contradiction.
    build_toy: build or check the toy world's cache first (toyworld.py; resumes a killed build)."""
    a.py = os.environ.get("PYTHON", "python")
    if not a.toy_dir:
        a.toy_dir = os.environ.get("TOY_DIR") or os.path.join(REPO, ".cache", "toyworld")
    if a.driver == "slurm":
        a.out = os.path.abspath(a.out)   # jobs may start in another folder: the run's own paths are absolute
    if not a.model:
        if a.data or a.benchmark:
            raise Refusal("--data/--benchmark need --model (without --model the toy world is used)")
        # One torch thread per stage: the toy model's matmuls are too small to gain from a second one, and two
        # spinning threads made SFT steps several times slower on a shared 2-core machine (measured; notes/loop.md).
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        if build_toy:
            say(f"== toy code world ({a.toy_dir})")
            rc = subprocess.call([a.py, os.path.join(REPO, "toyworld.py"), "--out", a.toy_dir],
                                 stdout=None if say is print else sys.stderr)
            if rc != 0:
                raise Refusal("the toy world is not ready (the message above says why); a killed build resumes when "
                              "rerun")
        t = a.toy_dir
        a.model, a.data, a.tests_file = f"{t}/sft/final", f"{t}/train_instructions.jsonl", f"{t}/train_tests.jsonl"
        a.toy_world_json = f"{t}/world.json"
        toy = toy_settings()
        a.toy_tests, a.toy_gen, a.toy_train = toy["TOY_TESTS"], toy["TOY_GEN"], toy["TOY_TRAIN"]
        a.benchmark, a.eval_data = "jsonl", a.eval_data or f"{t}/heldout_tests.jsonl"
        a.temperature = a.temperature or toy["TOY_TEMPERATURE"]
    else:
        if not a.data:
            raise Refusal("--model needs --data (01's instruction set: mbpp, leetcode, a HF dataset or a JSONL file)")
        a.benchmark = a.benchmark or "humaneval"
    a.temperature = a.temperature or "0.8"
    if a.tests == "reference":
        if not a.tests_file:
            raise Refusal("--tests reference needs --tests_file T.jsonl (tests.jsonl-shaped) outside the toy world")
        if not os.path.isfile(a.tests_file):
            raise Refusal(f"--tests_file {a.tests_file}: no such file")
    return a


def pairs_format(loss):
    """04's --format that writes the data a loss trains on (05_train_kto.PAIRS_FORMAT)."""
    return importlib.import_module("05_train_kto").PAIRS_FORMAT[loss]


# ----------------------------------------------------------------------------------------------------------------
# the run, once


# the file each stage leaves when it finished (relative to its folder); a marker without it means the folder was
# damaged. {pairs}: 04's format.
DONE_FILE = {"01": "tests.jsonl", "01c": "tests.corrupt.jsonl", "02": "samples.jsonl", "03": "executions.jsonl",
             "04": "{pairs}.jsonl", "05": "ckpt/final/config.json", "06": "eval/results.json",
             "06b": "eval2/results.json"}


@dataclass
class Stage:
    dir: str            # its folder: OUT/tests or OUT/round-K (logs/, .done/ and its outputs)
    id: str             # 01, 01c, 02 ... 06, 06b: the marker and log name
    label: str          # in the progress lines
    argv: list          # the command
    round: int          # 0 for tests/ and round-0/
    reads: tuple = ()   # files of earlier stages it reads
    output: str = ""    # the file (--output) or folder (--output_dir) it writes
    model: bool = False    # it loads a model (a GPU job on Slurm)
    shards: bool = False   # it takes --shard_id/--num_shards (a Slurm array)

    @property
    def name(self):
        return f"{os.path.basename(self.dir)}-{self.id}"


@dataclass
class Check:
    """Before the stages that follow: this checkpoint must load (a folder; a hub id is not checked)."""
    path: str
    round: int


@dataclass
class Header:
    text: str
    round: int


def plan(a):
    """The run as a list of Header, Check and Stage, in order: every command it runs, with its files."""
    py, out, seed = a.py, a.out, int(a.seed)
    pairs = pairs_format(a.loss)

    def script(name, *args):
        return [py, os.path.join(REPO, name), *args]

    data = ["--dataset", "jsonl", "--data_path", a.data] if os.path.isfile(a.data) else ["--dataset", a.data]
    bench = ["--benchmark", a.benchmark] + (["--data_path", a.eval_data] if a.eval_data else [])
    toy_tests, toy_gen, toy_train = a.toy_tests.split(), a.toy_gen.split(), a.toy_train.split()
    extra = {k: getattr(a, k).split() for k in ("tests_args", "sample_args", "exec_args", "pairs_args", "train_args",
                                                 "eval_args")}
    t = f"{out}/tests"
    steps = [Check(a.model, 0)] + ([Check(a.off_policy_model, 0)] if a.off_policy_model else [])
    steps.append(Header(f"== tests ({a.tests})", 0))
    tests = f"{t}/tests.jsonl"
    if a.tests == "generated":
        steps.append(Stage(t, "01", f"tests written by {a.model}", script(
            "01_generate_tests.py", "--model", a.model, *data, "--output", tests, "--backend", a.backend, "--seed",
            a.seed, *toy_tests, *extra["tests_args"]), 0, output=tests, model=True, shards=True))
    else:
        steps.append(Stage(t, "01", f"reference tests from {a.tests_file}", ["cp", a.tests_file, tests], 0,
                           output=tests))
    if a.corrupt:
        corrupt = f"{t}/tests.corrupt.jsonl"
        steps.append(Stage(t, "01c", f"corrupt {a.corrupt} of the tests", script(
            "01_generate_tests.py", "--corrupt_from", tests, "--corrupt_share", a.corrupt, "--seed", a.seed,
            "--output", corrupt), 0, reads=(tests,), output=corrupt))
        tests = corrupt

    def evals(r, model):
        d = f"{out}/round-{r}"
        yield Stage(d, "06", "eval", script(
            "06_eval.py", "--model", model, *bench, "--output_dir", f"{d}/eval", "--backend", a.backend, "--seed",
            a.seed, *toy_gen, *extra["eval_args"]), r, output=f"{d}/eval", model=True, shards=True)
        if a.eval2_data:
            yield Stage(d, "06b", f"eval on {a.eval2_data}", script(
                "06_eval.py", "--model", model, "--benchmark", "jsonl", "--data_path", a.eval2_data, "--output_dir",
                f"{d}/eval2", "--backend", a.backend, "--seed", a.seed, *toy_gen, *extra["eval_args"],
                *a.eval2_args.split()), r,
                output=f"{d}/eval2", model=True, shards=True)

    steps.append(Header("== round 0 (the starting model)", 0))
    steps += evals(0, a.model)
    for r in range(1, int(a.rounds) + 1):
        d = f"{out}/round-{r}"
        prev = a.model if r == 1 else f"{out}/round-{r - 1}/ckpt/final"
        policy = (a.off_policy_model or a.model) if a.off_policy else prev
        samples, execs, ex = f"{d}/samples.jsonl", f"{d}/executions.jsonl", f"{d}/{pairs}.jsonl"
        steps += [Check(prev, r - 1), Header(f"== round {r} (samples from {policy})", r)]
        steps.append(Stage(d, "02", "sample", script(
            "02_sample.py", "--model", policy, "--input", tests, "--output", samples, "--num_samples", a.num_samples,
            "--temperature", a.temperature, "--seed", str(seed * 1000 + r), "--round", str(r), "--backend", a.backend,
            *toy_gen, *extra["sample_args"]), r, reads=(tests,), output=samples, model=True, shards=True))
        steps.append(Stage(d, "03", "execute", script(
            "03_execute.py", "--samples", samples, "--tests", tests, "--output", execs, *extra["exec_args"]), r,
            reads=(samples, tests), output=execs, shards=True))
        steps.append(Stage(d, "04", f"build {pairs}", script(
            "04_build_pairs.py", "--executions", execs, "--samples", samples, "--output", ex, "--format", pairs,
            "--seed", a.seed, *extra["pairs_args"]), r, reads=(execs, samples), output=ex))
        # every round trains on from the last checkpoint against the frozen starting model (DESIGN.md: the
        # reference); GRPO's ratio is against the model 02 sampled from
        sampler = ["--sampling_model", policy] if losses()[a.loss].sampling else []
        steps.append(Stage(d, "05", f"train {a.loss}", script(
            "05_train_kto.py", "--model", prev, "--ref_model", a.model, "--data", ex, "--loss", a.loss,
            "--output_dir", f"{d}/ckpt", "--seed", str(seed * 1000 + r), "--resume", *sampler, *toy_train,
            *extra["train_args"]), r, reads=(ex,), output=f"{d}/ckpt", model=True))
        steps.append(Check(f"{d}/ckpt/final", r))
        if a.eval_rounds == "all" or r == int(a.rounds):
            steps += evals(r, f"{d}/ckpt/final")
    return steps


def stages(a):
    return [s for s in plan(a) if isinstance(s, Stage)]


# ----------------------------------------------------------------------------------------------------------------
# settings: run.settings (the guard) and run.json (typed, with the environment)


def settings_text(a):
    """The settings that make a run what it is (--rounds is not one: a rerun with more rounds continues it)."""
    keys = [("num_samples", a.num_samples), ("temperature", a.temperature), ("loss", a.loss),
            ("off_policy", str(a.off_policy)), ("tests", a.tests), ("model", a.model), ("data", a.data),
            ("tests_file", a.tests_file), ("benchmark", a.benchmark), ("eval_data", a.eval_data),
            ("backend", a.backend), ("seed", a.seed), ("tests_args", a.tests_args), ("sample_args", a.sample_args),
            ("exec_args", a.exec_args), ("pairs_args", a.pairs_args), ("train_args", a.train_args),
            ("eval_args", a.eval_args)]
    # the later settings only when given, so folders of runs without them still match
    keys += [(k, v) for k, v in (("corrupt_tests", a.corrupt), ("eval2_data", a.eval2_data),
                                 ("eval2_args", a.eval2_args), ("off_policy_model", a.off_policy_model)) if v]
    if a.eval_rounds != "all":
        keys.append(("eval_rounds", a.eval_rounds))
    if a.driver == "slurm":
        keys.append(("shards", a.shards))
    return current_names("\n".join(f"{k}={v}" for k, v in keys))


def current_names(text):
    """Settings text with each stage flag in --*_args under its current name (common.RENAMED): `--eval_args
    "--gen_chunk 16"` and `--eval_args "--tasks_per_call 16"` are one run, and a folder started with either
    continues under the other."""
    return re.sub(r"(?<![^\s=])--\w+(?![\w-])", lambda m: RENAMED.get(m.group(0), m.group(0)), text)


def guard_settings(a):
    """Write OUT/run.settings, or refuse a folder started with other settings."""
    os.makedirs(a.out, exist_ok=True)
    path, now = os.path.join(a.out, "run.settings"), settings_text(a)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            then = current_names(f.read().rstrip("\n"))
        if then != now:
            for line in difflib.ndiff(then.splitlines(), now.splitlines()):
                if line[:1] in "-+":
                    print({"-": "<", "+": ">"}[line[0]] + line[1:], file=sys.stderr)
            raise Refusal(f"{a.out} was started with other settings (above: < then, > now); rerun with the same "
                          f"flags, or pass another --out")
    else:
        atomic_write_text(path, now + "\n")


def environment():
    """What the numbers depend on beyond the settings: library versions and threads, as a stage's Python sees them."""
    import platform

    import numpy
    import tokenizers
    import torch
    import transformers
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "numpy": numpy.__version__,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "torch_threads": torch.get_num_threads()}


def write_run_json(a):
    """OUT/run.json: the settings, typed, the rounds, and (locally) the environment the stages run in; a change of
    environment within a run is recorded and warned about."""
    path = os.path.join(a.out, "run.json")
    types = {"num_samples": int, "temperature": float, "off_policy": lambda v: v == "1", "seed": int,
             "corrupt_tests": float, "shards": int}
    d = {k: types.get(k, str)(v) for k, v in (line.split("=", 1) for line in settings_text(a).splitlines())}
    d["rounds"] = int(a.rounds)
    old = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    if a.driver == "local":   # Slurm's jobs run on other machines: the submitting one's libraries say nothing
        # in a process of the stages' Python (not this one's), and so that this driver never holds torch
        p = subprocess.run([a.py, os.path.abspath(__file__), "environment"], capture_output=True, text=True)
        if p.returncode != 0:
            raise Refusal(f"{a.py} cannot import the stages' libraries: {p.stderr.strip()[-500:]}")
        env = json.loads(p.stdout)
        d["environment"] = old.get("environment", env)
        d["environment_changes"] = old.get("environment_changes", [])
        if env != d["environment"] and env not in d["environment_changes"]:
            d["environment_changes"].append(env)
            changed = {k: f"{d['environment'].get(k)} -> {v}" for k, v in env.items() if d["environment"].get(k) != v}
            print(f"warning: {path}: this run was started in another environment ({changed}); the rounds run now are "
                  f"not exactly comparable with the earlier ones (recorded in run.json)", file=sys.stderr)
    if a.toy_world_json:
        with open(a.toy_world_json, encoding="utf-8") as f:
            w = json.load(f)
        d["toy_world"] = {"dir": os.path.dirname(a.toy_world_json), "key": w["key"], "config": w["config"]}
    atomic_write_text(path, json.dumps(d, indent=2) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# the local driver: checks, stages with markers, logs and progress


def check_folder(a):
    """A run folder is sound when every marker's output exists and no round has files while an earlier one is
    unfinished (a crash mid-write, a folder copied in part, two runs in one --out)."""
    pairs = pairs_format(a.loss)
    dirs = [f"{a.out}/tests"] + sorted(os.path.join(a.out, x) for x in os.listdir(a.out) if x.startswith("round-"))
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for s, name in DONE_FILE.items():
            out = os.path.join(d, name.format(pairs=pairs))
            if os.path.isfile(os.path.join(d, ".done", s)) and not os.path.exists(out):
                raise Refusal(f"{d}: stage {s} is marked done but {out} is missing (a damaged run folder); delete "
                              f"{d}/.done/{s} (and the later stages' markers of that round) and rerun to redo stage {s}")
    prev_done = True
    for k in range(1, int(a.rounds) + 6):
        d = f"{a.out}/round-{k}"
        if not os.path.isdir(d):
            prev_done = False
            continue
        if not prev_done and any(not x.startswith(".") for x in os.listdir(d)):
            raise Refusal(f"{d} has files but round {k - 1} never finished ({a.out}/round-{k - 1}/.done/05 missing); "
                          f"it was left half-written by another run or a crash: delete {d} and rerun to redo round {k}")
        if not os.path.isfile(f"{d}/.done/05"):
            prev_done = False


def check_ckpt(a, c):
    """A checkpoint 02/05/06 will load: config and weights present and the config readable."""
    p = c.path
    if not os.path.isdir(p):
        return   # a hub id
    try:
        with open(os.path.join(p, "config.json"), encoding="utf-8") as f:
            json.load(f)
        if any(x.endswith((".safetensors", ".bin")) for x in os.listdir(p)):
            return
    except (OSError, ValueError):
        pass
    if c.round >= 1:
        r = f"{a.out}/round-{c.round}"
        raise Refusal(f"the checkpoint {p} does not load (config.json or weights missing or broken); delete {r}/ckpt "
                      f"and {r}/.done/05 {r}/.done/06 and rerun to retrain round {c.round}")
    raise Refusal(f"--model {p} does not load (config.json or weights missing or broken); pass a Hugging Face model "
                  f"folder")


def last_line(log):
    """The last non-blank line of a log (a bar's carriage returns read as line ends)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.path.getsize(log) - 4000))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [x for x in text.replace("\r", "\n").split("\n") if x.strip()]
    return lines[-1] if lines else ""


class Progress:
    """While a stage runs, its last line (its progress line: the stages write plain lines into a log,
    common.progress): rewritten in place on a terminal, a line every PLUM_PROGRESS_EVERY seconds (default 60)
    otherwise (a batch log must not get a bar per second)."""

    def __init__(self, log, sid):
        self.log, self.sid, self.t0, self.stop_ = log, sid, time.time(), threading.Event()
        self.tty = sys.stdout.isatty()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        every = 2 if self.tty else float(os.environ.get("PLUM_PROGRESS_EVERY", 60))
        while not self.stop_.wait(every):
            t, line = int(time.time() - self.t0), last_line(self.log)
            if self.tty:
                width = int(os.environ.get("COLUMNS", 120)) - 20
                sys.stdout.write(f"\r\033[K    {self.sid} [{t} s] {line[:width]}")
            else:
                sys.stdout.write(f"    {self.sid} still running [{t} s]: {line[:200]}\n")
            sys.stdout.flush()

    def stop(self):
        self.stop_.set()
        self.thread.join()
        if self.tty:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()


class Interrupted(Exception):
    def __init__(self, during=""):
        self.during = during


def run_stage(s):
    """Run one stage unless its marker exists; its output goes to its log; the marker is written (atomically)
    when it exited 0."""
    log = f"{s.dir}/logs/{s.id}.log"
    if os.path.isfile(f"{s.dir}/.done/{s.id}"):
        print(f"  {s.id} {s.label}: done, skipped", flush=True)
        return
    os.makedirs(f"{s.dir}/.done", exist_ok=True)
    os.makedirs(f"{s.dir}/logs", exist_ok=True)
    print(f"  {s.id} {s.label}: running, log {log}", flush=True)
    during = f"stage {s.id} ({s.label}, log {log})"
    t0, proc, progress = time.time(), None, None
    try:
        with open(log, "a", encoding="utf-8") as f:
            f.write("+ " + " ".join(s.argv) + "\n")
        progress = Progress(log, s.id)
        with open(log, "ab") as f:
            proc = subprocess.Popen(s.argv, stdout=f, stderr=subprocess.STDOUT)
        rc = proc.wait()
    except KeyboardInterrupt:   # Ctrl-C reaches the stage too (one process group); SIGTERM: it finishes
        if proc is not None:
            proc.wait()
        raise Interrupted(during) from None
    finally:
        if progress is not None:
            progress.stop()
    rc = 128 - rc if rc < 0 else rc   # killed by signal N: the shell's 128 + N
    if rc == 130:
        raise Interrupted(during)
    if rc != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = [x for x in "\n".join(f.read().splitlines()[-15:]).replace("\r", "\n").split("\n") if x.strip()]
        print("\n".join(tail[-8:]), file=sys.stderr)
        raise Refusal(f"stage {s.id} ({s.label}) failed with exit {rc}; its log is {log}. Fix the cause and rerun the "
                      f"same command: finished stages are skipped and this one resumes")
    atomic_write_text(f"{s.dir}/.done/{s.id}", time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
    # each stage ends with a one-line summary: show it whole
    print(f"  {s.id} {s.label} ({int(time.time() - t0)} s): {last_line(log)}", flush=True)


def run_local(a):
    # Each stage's own bar is its progress; transformers' bars for every model load and save are noise in the logs.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    guard_settings(a)
    write_run_json(a)
    check_folder(a)
    steps = plan(a)
    for step in steps:
        if isinstance(step, Check):
            check_ckpt(a, step)
        elif isinstance(step, Header):
            print(step.text, flush=True)
        else:
            run_stage(step)
    tests = next(s.output for s in reversed(steps) if isinstance(s, Stage) and s.id in ("01", "01c"))
    summarize(a.out, int(a.rounds), pairs_format(a.loss), tests)


# ----------------------------------------------------------------------------------------------------------------
# the Slurm driver's plan: the same stages as jobs


def slurm_jobs(a):
    """The stages of rounds --first_round..--rounds (tests/ and round-0/ with the first round) as Slurm jobs:
    (op, name, array, needs, resources, script, output, args). A stage with --shard_id/--num_shards runs as an
    array over --shards and writes shard files, which the stages after it read by glob once every shard is there
    (PLUM_NEEDS, slurm/check_shards.sh); 06's shards are scored by a `06 --merge` job. The copy of --tests_file
    needs no job: op "now" runs it at once."""
    n, first = int(a.shards), int(a.first_round)
    sharded = {}   # a sharded stage's output -> the glob of its shards
    jobs = []
    for s in stages(a):
        if n > 1:
            args = [sharded.get(x, x) for x in s.argv[2:]]
            needs = " ".join(f"{x}:{n}" for x in s.reads if x in sharded)
        else:
            args, needs = s.argv[2:], ""
        array = s.shards and n > 1
        if array and s.id not in ("06", "06b"):
            sharded[s.output] = shard_glob(s.output, n)   # common.shard_path's names
        if first > 1 and s.round < first:
            continue   # an earlier submission's (tests/ and round-0/ are round 0)
        res = "gpu" if s.model else "cpu"
        if s.argv[0] != a.py:
            jobs.append(("now", s.name, s.argv))
            continue
        sbatch = os.path.basename(s.argv[1])[:-3] + ".sbatch"
        if s.id in ("06", "06b") and array:
            jobs.append(("job", s.name, 1, needs, res, sbatch, "-", args))
            jobs.append(("job", s.name + "-merge", 0, "", "cpu", sbatch, "-", args + ["--merge"]))
        else:
            jobs.append(("job", s.name, int(array), needs, res, sbatch, s.output if array else "-", args))
    return jobs


def slurm_plan(a):
    """Shell words for slurm/submit_round.sh, one line each: `set VAR VALUE`, `say TEXT`, `now CMD...`,
    `job NAME ARRAY NEEDS gpu|cpu SCRIPT OUTPUT ARGS...` (OUTPUT: where the shards' redo command is kept, or -),
    `end` (nothing to submit: --help)."""
    q = shlex.quote
    lines = [f"set {k.upper()} {q(str(getattr(a, k)))}" for k in ("shards", "nproc", "sbatch_args", "gpu_args",
                                                                   "local")]
    for s in stages(a):
        os.makedirs(s.dir, exist_ok=True)
    lines.append("set OUT " + q(a.out))
    round_ = None
    for job in slurm_jobs(a):
        r = job[1].split("-")[1] if job[1].startswith("round-") else None
        if r != round_ and r is not None:
            lines.append(f"say {q(f'round {r}:')}")
            round_ = r
        if job[0] == "now":
            lines.append("now " + " ".join(map(q, job[2])))
        else:
            lines.append(" ".join(["job", *map(q, map(str, job[1:7])), *map(q, job[7])]))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# summary: one row per round, a table and a PNG


def records(path):
    """A finished stage's records, none when the stage has not run (a round without 04, round 0's executions)."""
    return list(read_jsonl(path)) if os.path.exists(path) else []


def summarize(out, rounds, pairs, tests_path):
    tests = records(tests_path)
    kept = sum(len(t["tests"]) for t in tests)
    corrupted = sum(len(t.get("corrupted", [])) for t in tests)
    validated = sum(bool(t.get("validated")) for t in tests)
    rows = []
    for r in range(rounds + 1):
        d = os.path.join(out, f"round-{r}")
        res = {"pass@k": {"pass@1": None}}   # a round not evaluated (--eval_rounds last)
        if os.path.exists(os.path.join(d, "eval", "results.json")):
            with open(os.path.join(d, "eval", "results.json"), encoding="utf-8") as f:
                res = json.load(f)
        ex = records(os.path.join(d, "executions.jsonl"))
        ko = records(os.path.join(d, f"{pairs}.jsonl"))
        row = {"round": r, "pass@1": res["pass@k"]["pass@1"], "pass@1_se": res.get("pass@k_se", {}).get("pass@1"),
               "problems": res.get("problems"),
               "samples": len(ex), "samples_passing": (sum(e["passed"] for e in ex) / len(ex)) if ex else None,
               "tasks_with_tests": len(tests), "kept_tests": kept, f"{pairs}_examples": len(ko) if r else None}
        if os.path.exists(os.path.join(d, "eval2", "results.json")):
            with open(os.path.join(d, "eval2", "results.json"), encoding="utf-8") as f:
                res2 = json.load(f)
            row["pass@1_eval2"] = res2["pass@k"]["pass@1"]
            row["pass@1_eval2_se"] = res2.get("pass@k_se", {}).get("pass@1")
        if corrupted or "corrupted" in (tests[0] if tests else {}):
            row["corrupted_tests"] = corrupted   # each fails the reference: tests right = kept - corrupted
        row["tasks_validated"] = validated
        if pairs in ("kto", "grpo") and r:
            row["desirable"] = sum(bool(k["label"]) for k in ko)
        if pairs == "sft" and r:
            row["desirable"] = sum(bool(k["passed"]) for k in ko)
        if r:
            metrics = records(os.path.join(d, "ckpt", "metrics.jsonl"))
            row["train_steps"] = max((m["step"] for m in metrics if "step" in m), default=None)
        rows.append(row)
    atomic_write_text(os.path.join(out, "summary.jsonl"), "".join(json.dumps(row) + "\n" for row in rows))

    ex_col = {"kto": "KTO examples (desirable)", "dpo": "DPO pairs", "sft": "SFT examples (passing)",
              "grpo": "GRPO samples (passing)"}[pairs]
    two = any("pass@1_eval2" in row for row in rows)
    lines = [f"| round | held-out pass@1 |{' second held-out pass@1 |' if two else ''} samples passing | kept tests "
             f"(tasks) | {ex_col} |", "|---|---|" + ("---|" if two else "") + "---|---|---|"]
    for row in rows:
        sp = "-" if row["samples_passing"] is None else f"{row['samples_passing']:.1%} of {row['samples']}"
        ex = "-" if not row["round"] else (f"{row[pairs + '_examples']} ({row['desirable']})" if pairs != "dpo"
                                           else str(row["dpo_examples"]))
        e2 = f" {row['pass@1_eval2']:.1%} |" if "pass@1_eval2" in row else (" - |" if two else "")
        p1 = "-" if row["pass@1"] is None else f"{row['pass@1']:.1%}"
        lines.append(f"| {row['round']} | {p1} |{e2} {sp} | {row['kept_tests']} "
                     f"({row['tasks_with_tests']}) | {ex} |")
    table = "\n".join(lines) + "\n"
    atomic_write_text(os.path.join(out, "summary.md"), table)
    print(table, end="")

    # pass_at_1.png: named by its benchmark and run, the y axis from 0 (plots.py)
    from plots import pass_at_1_plot
    with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
        run = json.load(f)

    def bench_name(res, toy_label):
        """What a results.json scored, in a few words: the toy world's set, a benchmark's release, or a file's
        name."""
        n = res.get("problems")
        if run.get("toy_world"):
            return f"{toy_label} ({n} tasks)"
        if res.get("benchmark") == "jsonl":
            return f"{os.path.basename(res.get('data_path') or 'a tests file')} ({n} problems)"
        return re.sub(r"; sha256 [^)]*", "", res.get("version") or res.get("benchmark") or "?")

    with open(os.path.join(out, "round-0", "eval", "results.json"), encoding="utf-8") as f:
        res0 = json.load(f)
    pct = lambda v: None if v is None else 100 * v
    series = {"held-out": [pct(row["pass@1"]) for row in rows]}
    if "pass@1_eval2" in rows[0] and "pass@1_eval2" in rows[-1]:
        with open(os.path.join(out, "round-0", "eval2", "results.json"), encoding="utf-8") as f:
            series[bench_name(json.load(f), "second set")] = [pct(row.get("pass@1_eval2")) for row in rows]
    settings = [f"loss {run.get('loss')}", f"seed {run.get('seed')}",
                "off-policy" if run.get("off_policy") else "on-policy",
                {"generated": "model-written tests", "reference": "reference tests"}.get(run.get("tests"), "tests")
                + (f", {run['corrupt_tests']:g} of them corrupted" if run.get("corrupt_tests") else ""),
                f"{run.get('num_samples')} samples per prompt at T {run.get('temperature'):g}"]
    if not run.get("toy_world"):
        settings.insert(0, f"model {run.get('model')}")
    settings += [f"{k} \"{run[k]}\"" for k in ("pairs_args", "train_args") if run.get(k)]
    png = os.path.join(out, "pass_at_1.png")
    pass_at_1_plot(series, png, bench_name(res0, "the toy world's held-out tasks"), out, ", ".join(settings),
                   "one seed, so no spread is shown: rerun with other --seed values (or run_experiments.py, on the "
                   "toy world) for mean ± sd")
    print(f"pass@1 {100 * rows[0]['pass@1']:.1f}% -> {100 * rows[-1]['pass@1']:.1f}% after {rounds} round(s); "
          f"{os.path.join(out, 'summary.md')}, {os.path.join(out, 'pass_at_1.png')}", flush=True)


# ----------------------------------------------------------------------------------------------------------------


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cmd, rest = (argv[0], argv[1:]) if argv else ("", [])
    if cmd == "environment":
        print(json.dumps(environment()))
        return 0
    if cmd not in ("local", "stages", "slurm"):
        print(__doc__, file=sys.stderr)
        return 2
    driver = "slurm" if cmd == "slurm" else "local"
    try:
        a = parse(rest, driver)
        if a.help:
            help_ = header_help(driver)
            print("\n".join(f"say {shlex.quote(x)}" for x in help_.splitlines()) + "\nend" if cmd == "slurm"
                  else help_)
            return 0
        if cmd == "local":
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                run_local(resolve(a))
            except (KeyboardInterrupt, Interrupted) as e:
                print(file=sys.stderr)
                during = f" during {e.during}" if isinstance(e, Interrupted) and e.during else ""
                print(f"interrupted{during}. What was written is kept: rerun the same command to resume (finished "
                      f"stages are skipped, the interrupted one resumes).", file=sys.stderr)
                return 130
        elif cmd == "stages":
            for s in stages(resolve(a, say=lambda m: print(m, file=sys.stderr))):
                print(f"{s.dir} {s.id}: {shlex.join(s.argv)}")
        else:
            a = resolve(a, say=lambda m: print(m, file=sys.stderr))
            guard_settings(a)
            write_run_json(a)
            print(slurm_plan(a))
    except Refusal as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
