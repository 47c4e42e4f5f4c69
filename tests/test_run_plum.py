"""run_plum.sh end to end on a micro world: a Ctrl-C and a kill (SIGKILL) anywhere and a rerun give the records and
metrics of an uninterrupted run, which also corrupts tests and scores a second benchmark; bad flags end with a
message. The commands of every stage for other options (losses, reference tests, off-policy, toy world), the run
folder checks and the settings guard are tested on plum_round.py directly (tests/test_plum_round.py).

The micro world (six one-line tasks, a 1-layer 32-wide Llama taught by 05_train_kto.py --loss sft to answer
`return 0` or `return 1`) is small enough for the suite and still gives both verdicts, so every stage runs for real.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def micro_world(root):
    """Write instr.jsonl, tests.jsonl (also the held-out set) and a trained micro policy under root; return paths."""
    import random

    from common import solution_prompt
    from tinylm import build_tiny_model

    os.makedirs(root, exist_ok=True)
    rng = random.Random(0)
    tasks = [{"task_id": f"m/{i}", "instruction": f"Write a function f(x) that returns {i % 2}.",
              "reference": f"def f(x):\n    return {i % 2}\n", "entry_point": "f"} for i in range(6)]
    tests = [{"task_id": t["task_id"], "instruction": t["instruction"], "entry_point": "f",
              "tests": [f"assert f(2) == {i % 2}"], "setup": ""} for i, t in enumerate(tasks)]
    # the policy says `return 0` 60% of the time whatever it is asked: both verdicts occur in every round
    sft = [{"prompt": solution_prompt(tasks[i % 6]["instruction"], "f", tests=tests[i % 6]["tests"], chat=False),
            "completion": f"def f(x):\n    return {0 if rng.random() < 0.6 else 1}\n"} for i in range(64)]
    paths = {k: os.path.join(root, k + ".jsonl") for k in ("instr", "tests", "sft")}
    for k, recs in (("instr", tasks), ("tests", tests), ("sft", sft)):
        with open(paths[k], "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in recs)
    base = build_tiny_model(os.path.join(root, "base"), corpus=[r["prompt"] + r["completion"] for r in sft],
                            vocab_size=300, hidden=32, layers=1, heads=2, max_positions=256)
    subprocess.run([sys.executable, os.path.join(REPO, "05_train_kto.py"), "--loss", "sft", "--model", base,
                    "--data", paths["sft"], "--output_dir", os.path.join(root, "pol"), "--max_steps", "60",
                    "--batch_size", "8", "--lr", "1e-2", "--no_plot", "--save_every", "0"],
                   check=True, capture_output=True)
    paths["model"] = os.path.join(root, "pol", "final")
    return paths


# the settings every run in this file uses: 1 round, reference tests (half of them corrupted), 4 samples, small
# generations, 1 worker, the tests file as a second benchmark
def plum_args(w, out, rounds=1):
    return ["bash", os.path.join(REPO, "run_plum.sh"), "--model", w["model"], "--data", w["instr"],
            "--tests", "reference", "--tests_file", w["tests"], "--benchmark", "jsonl", "--eval_data", w["tests"],
            "--rounds", str(rounds), "--num_samples", "4", "--temperature", "0.5", "--out", out, "--seed", "3",
            "--corrupt_tests", "0.5", "--eval2_data", w["tests"],
            "--sample_args", "--max_new_tokens 24", "--eval_args", "--max_new_tokens 24 --workers 1",
            "--exec_args", "--workers 1", "--train_args", "--lr 1e-3 --batch_size 4 --save_every 1 --no_plot"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return micro_world(str(tmp_path_factory.mktemp("micro")))


@pytest.fixture(scope="module")
def finished(world, tmp_path_factory):
    """An uninterrupted run."""
    out = str(tmp_path_factory.mktemp("plum") / "run")
    # a progress line every second (not a terminal: periodic lines, not a bar rewritten in place)
    p = subprocess.run(plum_args(world, out), capture_output=True, text=True,
                       env={**os.environ, "PLUM_PROGRESS_EVERY": "1"})
    assert p.returncode == 0, p.stdout + p.stderr
    return out, p.stdout


def _jsonl(path, drop=("seconds",)):
    with open(path) as f:
        recs = [json.loads(x) for x in f if x.strip()]
    return sorted((json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True) for r in recs))


def outcome(out):
    """Everything a run produced that must not depend on kills: records, verdicts, examples, losses, pass@1."""
    r1 = os.path.join(out, "round-1")
    res = {name: _jsonl(os.path.join(r1, name)) for name in ("samples.jsonl", "executions.jsonl", "kto.jsonl")}
    res["eval"] = [_jsonl(os.path.join(out, f"round-{r}", "eval", "executions.jsonl")) for r in (0, 1)]
    res["losses"] = [(m["step"], m["loss"]) for m in map(json.loads, open(os.path.join(r1, "ckpt", "metrics.jsonl")))]
    res["summary"] = open(os.path.join(out, "summary.jsonl")).read()
    return res


def test_finished_run_prints_rounds_and_writes_png(finished, world):
    out, stdout = finished
    assert "| 1 |" in stdout and "held-out pass@1" in stdout
    rows = [json.loads(x) for x in open(os.path.join(out, "summary.jsonl"))]
    assert [r["round"] for r in rows] == [0, 1]
    assert 0 < rows[1]["samples_passing"] < 1 and rows[1]["kto_examples"] >= 2 and rows[1]["kept_tests"] == 6
    assert open(os.path.join(out, "pass_at_1.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    # --corrupt_tests: the rounds read a corrupted copy of the tests, the clean file untouched
    clean = [json.loads(x) for x in open(os.path.join(out, "tests", "tests.jsonl"))]
    bad = [json.loads(x) for x in open(os.path.join(out, "tests", "tests.corrupt.jsonl"))]
    assert clean == [json.loads(x) for x in open(world["tests"])]
    assert sum(len(t["corrupted"]) for t in bad) == 3     # half of 6
    assert [r["corrupted_tests"] for r in rows] == [3, 3]
    # --eval2_data: evaluated beside the benchmark every round
    assert all(0 <= r["pass@1_eval2"] <= 1 for r in rows) and rows[1]["train_steps"] >= 1
    assert os.path.exists(os.path.join(out, "round-1", "eval2", "results.json"))
    settings = json.load(open(os.path.join(out, "run.json")))
    assert settings["loss"] == "kto" and settings["rounds"] == 1
    # numbers typed, and what the numbers depend on beyond the settings
    assert settings["num_samples"] == 4 and settings["seed"] == 3 and settings["temperature"] == 0.5
    assert settings["off_policy"] is False and settings["corrupt_tests"] == 0.5
    import torch
    assert settings["environment"]["torch"] == torch.__version__ and "transformers" in settings["environment"]
    # while a stage runs: where its log is, and its progress; when it ends: its whole summary line
    assert f"03 execute: running, log {out}/round-1/logs/03.log" in stdout
    assert "still running [" in stdout
    line = next(x for x in stdout.splitlines() if x.startswith("  03 execute ("))
    assert line.rstrip().endswith("executions.jsonl"), line   # not cut: 03's line ends with its output's path


def _run_until(args, path_appears, sig, timeout=600):
    """Start run_plum.sh, send its whole process group `sig` as soon as `path_appears` exists; the process."""
    # a terminal's SIGINT disposition, even where this suite runs as a background job (which ignores SIGINT)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < timeout and not os.path.exists(path_appears):
        time.sleep(0.02)
    assert p.poll() is None, p.communicate()
    os.killpg(p.pid, sig)   # SIGINT: a terminal's Ctrl-C, to the whole foreground process group
    _, err = p.communicate(timeout=300)
    return p.returncode, err


def test_ctrl_c_then_sigkill_mid_stage_then_rerun_equals_uninterrupted(world, finished, tmp_path):
    out = str(tmp_path / "run")
    r1 = os.path.join(out, "round-1")
    # Ctrl-C while 03 runs: the stage named, the way on said
    rc, err = _run_until(plum_args(world, out), os.path.join(r1, "logs", "03.log"), signal.SIGINT)
    assert rc == 130, err
    assert "interrupted during stage 03 (execute" in err and "rerun the same command to resume" in err
    assert not os.path.exists(os.path.join(r1, ".done", "03"))
    # SIGKILL while 05 trains (its first checkpoint is on disk, the final one is not)
    rc, _ = _run_until(plum_args(world, out), os.path.join(r1, "ckpt", "checkpoint-000001"), signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert not os.path.exists(os.path.join(r1, ".done", "05"))
    p = subprocess.run(plum_args(world, out), capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "02 sample: done, skipped" in p.stdout
    assert outcome(out) == outcome(finished[0])


def test_bad_flags_and_changed_settings(world, finished, tmp_path):
    sh = os.path.join(REPO, "run_plum.sh")
    p = subprocess.run(["bash", sh, "--bogus"], capture_output=True, text=True)
    assert p.returncode == 1 and "unknown flag --bogus" in p.stderr
    assert "--eval2_data" in subprocess.run(["bash", sh, "--help"], capture_output=True, text=True).stdout
    args = plum_args(world, str(tmp_path / "copy"))
    shutil.copytree(finished[0], args[args.index("--out") + 1])
    args[args.index("--num_samples") + 1] = "5"
    p = subprocess.run(args, capture_output=True, text=True)
    assert p.returncode == 1 and "was started with other settings" in p.stderr
    assert "< num_samples=4" in p.stderr and "> num_samples=5" in p.stderr
