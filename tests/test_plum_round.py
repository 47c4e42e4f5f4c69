"""plum_round.py, the one definition of a run, checked directly: the stages and their commands for many flag sets,
the Slurm driver's jobs being those stages, the flags, settings and run-folder checks; then both drivers' shell
scripts end to end with a stand-in for the stages' Python (seconds, no model), so that the real end-to-end runs
(tests/test_run_plum.py, tests/test_slurm.py) need not cover every option."""

import importlib
import json
import os
import re
import subprocess
import sys

import pytest

import plum_round as pr

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A toy-world folder and a model folder with the files the driver looks at (nothing loads them)."""
    toy, w = tmp_path / "toy", tmp_path / "w"
    for m in (toy / "sft" / "final", w / "model"):
        m.mkdir(parents=True)
        (m / "config.json").write_text("{}")
        (m / "model.safetensors").write_text("")
    (toy / "world.json").write_text(json.dumps({"key": "k", "config": {"tasks": 3}}))
    tests = [{"task_id": f"t{i}", "instruction": "i", "entry_point": "f", "tests": ["assert f(1) == 1"], "setup": ""}
             for i in range(3)]
    for d, names in ((toy, ("train_instructions", "train_tests", "heldout_tests", "heldout_long_tests")),
                     (w, ("instr", "tests", "heldout", "long"))):
        for n in names:
            (d / f"{n}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tests))
    monkeypatch.setenv("TOY_DIR", str(toy))
    monkeypatch.setenv("PYTHON", "PY")
    return {"toy": str(toy), "model": str(w / "model"), "instr": str(w / "instr.jsonl"),
            "tests": str(w / "tests.jsonl"), "heldout": str(w / "heldout.jsonl"), "long": str(w / "long.jsonl"),
            "out": str(tmp_path / "run")}


def run_of(argv, driver="local"):
    return pr.resolve(pr.parse(argv, driver), build_toy=False)


def commands(argv, driver="local"):
    """{(folder, stage): command} of a run, with the repository, toy world and --out as {R}, {T}, {O}."""
    a = run_of(argv, driver)
    return {(os.path.relpath(s.dir, a.out), s.id): " ".join(s.argv).replace(REPO, "{R}").replace(
        os.environ["TOY_DIR"], "{T}").replace(a.out, "{O}") for s in pr.stages(a)}


# the toy world's run, 2 rounds, as run_plum.sh has always run it (its logs' '+ ' lines)
TOY = {
    ("tests", "01"): "PY {R}/01_generate_tests.py --model {T}/sft/final --dataset jsonl --data_path "
                     "{T}/train_instructions.jsonl --output {O}/tests/tests.jsonl --backend hf --seed 0 --num_tests 4 "
                     "--max_new_tokens 160 --num_samples 4 --temperature 0.8",
    ("round-0", "06"): "PY {R}/06_eval.py --model {T}/sft/final --benchmark jsonl --data_path {T}/heldout_tests.jsonl "
                       "--output_dir {O}/round-0/eval --backend hf --seed 0 --max_new_tokens 96",
    ("round-1", "02"): "PY {R}/02_sample.py --model {T}/sft/final --input {O}/tests/tests.jsonl --output "
                       "{O}/round-1/samples.jsonl --num_samples 8 --temperature 1.0 --seed 1 --round 1 --backend hf "
                       "--max_new_tokens 96",
    ("round-1", "03"): "PY {R}/03_execute.py --samples {O}/round-1/samples.jsonl --tests {O}/tests/tests.jsonl "
                       "--output {O}/round-1/executions.jsonl",
    ("round-1", "04"): "PY {R}/04_build_pairs.py --executions {O}/round-1/executions.jsonl --samples "
                       "{O}/round-1/samples.jsonl --output {O}/round-1/kto.jsonl --format kto --seed 0",
    ("round-1", "05"): "PY {R}/05_train_kto.py --model {T}/sft/final --ref_model {T}/sft/final --data "
                       "{O}/round-1/kto.jsonl --loss kto --output_dir {O}/round-1/ckpt --seed 1 --resume --lr 5e-5 "
                       "--epochs 1 --batch_size 16 --save_every 50 --max_length 512",
    ("round-1", "06"): "PY {R}/06_eval.py --model {O}/round-1/ckpt/final --benchmark jsonl --data_path "
                       "{T}/heldout_tests.jsonl --output_dir {O}/round-1/eval --backend hf --seed 0 --max_new_tokens 96",
    ("round-2", "02"): "PY {R}/02_sample.py --model {O}/round-1/ckpt/final --input {O}/tests/tests.jsonl --output "
                       "{O}/round-2/samples.jsonl --num_samples 8 --temperature 1.0 --seed 2 --round 2 --backend hf "
                       "--max_new_tokens 96",
    ("round-2", "03"): "PY {R}/03_execute.py --samples {O}/round-2/samples.jsonl --tests {O}/tests/tests.jsonl "
                       "--output {O}/round-2/executions.jsonl",
    ("round-2", "04"): "PY {R}/04_build_pairs.py --executions {O}/round-2/executions.jsonl --samples "
                       "{O}/round-2/samples.jsonl --output {O}/round-2/kto.jsonl --format kto --seed 0",
    ("round-2", "05"): "PY {R}/05_train_kto.py --model {O}/round-1/ckpt/final --ref_model {T}/sft/final --data "
                       "{O}/round-2/kto.jsonl --loss kto --output_dir {O}/round-2/ckpt --seed 2 --resume --lr 5e-5 "
                       "--epochs 1 --batch_size 16 --save_every 50 --max_length 512",
    ("round-2", "06"): "PY {R}/06_eval.py --model {O}/round-2/ckpt/final --benchmark jsonl --data_path "
                       "{T}/heldout_tests.jsonl --output_dir {O}/round-2/eval --backend hf --seed 0 --max_new_tokens 96",
}


def test_toy_run_stages_in_order(world):
    got = commands(["--rounds", "2", "--out", world["out"]])
    assert got == TOY and list(got) == list(TOY)   # the order too: tests, round 0, then each round's 02 .. 06


def test_each_option_changes_exactly_its_stages(world):
    base = ["--rounds", "2", "--out", world["out"]]

    def changed(*flags):
        got = commands(base + list(flags))
        return {k: v for k, v in got.items() if TOY.get(k) != v}

    # the losses: 04's format, 05's loss and data; GRPO's ratio against the round's sampler
    for loss in ("dpo", "sft", "grpo"):
        c = changed("--loss", loss)
        assert set(c) == {(f"round-{r}", s) for r in (1, 2) for s in ("04", "05")}
        assert c[("round-2", "04")] == TOY[("round-2", "04")].replace("kto", loss)
        five = TOY[("round-2", "05")].replace("kto.jsonl", f"{loss}.jsonl").replace("--loss kto", f"--loss {loss}")
        if loss == "grpo":
            five = five.replace("--resume", "--resume --sampling_model {O}/round-1/ckpt/final")
        assert c[("round-2", "05")] == five
    # off-policy: every round samples the starting model; training goes on from the last checkpoint
    c = changed("--off_policy")
    assert c == {("round-2", "02"): TOY[("round-2", "02")].replace("{O}/round-1/ckpt/final", "{T}/sft/final")}
    c = changed("--off_policy", "--loss", "grpo")
    assert "--sampling_model {T}/sft/final" in c[("round-2", "05")] and "--model {O}/round-1/ckpt/final" in c[
        ("round-2", "05")]
    # another model's samples: every round's 02 (round 1's too) samples it; training and the reference unchanged
    other = world["model"]
    c = changed("--off_policy_model", other)
    assert c == {(f"round-{r}", "02"): TOY[(f"round-{r}", "02")].replace(
        "--model {T}/sft/final" if r == 1 else "--model {O}/round-1/ckpt/final", f"--model {other}") for r in (1, 2)}
    # the evaluation set: --eval_data replaces the toy held-out file in every 06
    c = changed("--eval_data", world["long"])
    assert set(c) == {(f"round-{r}", "06") for r in (0, 1, 2)}
    assert all(world["long"] in v and "heldout_tests.jsonl" not in v for v in c.values())
    # reference tests: a copy instead of 01
    assert changed("--tests", "reference") == {
        ("tests", "01"): f"cp {world['toy']}/train_tests.jsonl {{O}}/tests/tests.jsonl".replace(world["toy"], "{T}")}
    # corrupted tests: 01c after 01, and the rounds read its file
    c = changed("--corrupt_tests", "0.25")
    assert c.pop(("tests", "01c")) == ("PY {R}/01_generate_tests.py --corrupt_from {O}/tests/tests.jsonl "
                                       "--corrupt_share 0.25 --seed 0 --output {O}/tests/tests.corrupt.jsonl")
    assert set(c) == {(f"round-{r}", s) for r in (1, 2) for s in ("02", "03")}
    assert all("tests.corrupt.jsonl" in v for v in c.values())
    # a second benchmark: 06b after every 06
    c = commands(base + ["--eval2_data", world["long"]])
    assert [k for k in c if k[1].startswith("06")] == [(f"round-{r}", s) for r in (0, 1, 2) for s in ("06", "06b")]
    assert c[("round-1", "06b")] == TOY[("round-1", "06")].replace(
        "{T}/heldout_tests.jsonl", world["long"]).replace("/eval ", "/eval2 ")
    # --eval_rounds last: round 0 and the last round only
    c = commands(base + ["--eval2_data", world["long"], "--eval_rounds", "last"])
    assert [k for k in c if k[1].startswith("06")] == [(f"round-{r}", s) for r in (0, 2) for s in ("06", "06b")]
    # its own flags, after the shared --eval_args, on 06b only
    c = commands(base + ["--eval2_data", world["long"], "--eval_args", "--k 1", "--eval2_args", "--num_samples 4"])
    assert c[("round-1", "06b")].endswith("--max_new_tokens 96 --k 1 --num_samples 4")
    assert c[("round-1", "06")].endswith("--max_new_tokens 96 --k 1")
    # seeds, samples, temperature, backend, extra flags: where they belong
    c = changed("--seed", "2", "--num_samples", "4", "--temperature", "0.7", "--backend", "vllm",
                "--sample_args", "--top_p 0.9", "--train_args", "--lr 1e-3")
    assert "--num_samples 4 --temperature 0.7 --seed 2002 --round 2 --backend vllm --max_new_tokens 96 --top_p 0.9" \
        in c[("round-2", "02")]
    assert c[("round-2", "05")].endswith("--seed 2002 --resume --lr 5e-5 --epochs 1 --batch_size 16 --save_every 50 "
                                         "--max_length 512 --lr 1e-3")
    assert "--backend vllm --seed 2" in c[("round-0", "06")] and c[("round-1", "04")].endswith("--seed 2")


def test_a_model_outside_the_toy_world(world):
    c = commands(["--model", world["model"], "--data", "mbpp", "--rounds", "1", "--out", world["out"],
                  "--tests_args", "--num_tests 3"])
    assert c[("tests", "01")] == (f"PY {{R}}/01_generate_tests.py --model {world['model']} --dataset mbpp --output "
                                  "{O}/tests/tests.jsonl --backend hf --seed 0 --num_tests 3")
    assert c[("round-0", "06")] == (f"PY {{R}}/06_eval.py --model {world['model']} --benchmark humaneval "
                                    "--output_dir {O}/round-0/eval --backend hf --seed 0")
    assert "--temperature 0.8" in c[("round-1", "02")] and "--max_new_tokens" not in c[("round-1", "02")]
    c = commands(["--model", world["model"], "--data", world["instr"], "--benchmark", "jsonl", "--eval_data",
                  world["heldout"], "--out", world["out"]])
    assert f"--dataset jsonl --data_path {world['instr']}" in c[("tests", "01")]
    assert f"--benchmark jsonl --data_path {world['heldout']}" in c[("round-3", "06")]


def test_every_loss_has_a_format_04_writes():
    losses = importlib.import_module("05_train_kto")
    bp = importlib.import_module("04_build_pairs")
    assert list(losses.PAIRS_FORMAT) == list(losses.LOSSES)
    for loss, fmt in losses.PAIRS_FORMAT.items():
        assert bp.parse_args(["--executions", "e", "--samples", "s", "--output", "o", "--format", fmt]).format == fmt
    # 05 imports torch only where it trains: the drivers read its tables without it
    p = subprocess.run([sys.executable, "-c", "import sys, plum_round as p; p.pairs_format('grpo'); "
                        "print('torch' in sys.modules)"], cwd=REPO, capture_output=True, text=True)
    assert p.stdout.strip() == "False", p.stderr


@pytest.mark.parametrize("flags", [
    [],
    ["--loss", "grpo", "--off_policy", "--corrupt_tests", "0.5", "--eval2_data", "{long}"],
    ["--loss", "sft", "--tests", "reference", "--pairs_args", "--sft_filter none"],
    ["--model", "{model}", "--data", "{instr}", "--benchmark", "mbpp_plus", "--backend", "vllm", "--loss", "dpo"],
])
def test_slurm_jobs_are_the_local_stages(world, flags):
    """The Slurm driver submits the local driver's stages: the same commands, with the shards of an array stage
    read back by glob once all exist, and 06's shards merged by `06 --merge`."""
    flags = [f.format(**world) for f in flags] + ["--rounds", "2", "--out", world["out"]]
    local = pr.stages(run_of(flags))
    one = pr.slurm_jobs(run_of(flags + ["--shards", "1"], "slurm"))
    # one shard: every job is the stage's command itself, in the same order
    assert [(j[1], j[-1]) for j in one] == [(s.name, s.argv[2:] if s.argv[0] == "PY" else s.argv) for s in local]
    assert all(j[0] == "now" or j[2] == 0 for j in one)
    three = pr.slurm_jobs(run_of(flags + ["--shards", "3"], "slurm"))
    jobs = {j[1]: j for j in three}
    for s in local:
        if s.argv[0] != "PY":
            assert jobs[s.name] == ("now", s.name, s.argv)
            continue
        _, name, array, needs, res, script, output, args = jobs[s.name]
        assert script == os.path.basename(s.argv[1])[:-3] + ".sbatch" and res == ("gpu" if s.model else "cpu")
        assert array == int(s.shards)
        shards_read = [x for x in s.reads if any(t.id in ("01", "02", "03") and t.output == x and t.argv[0] == "PY"
                                                 for t in local)]
        assert needs == " ".join(f"{x}:3" for x in shards_read)
        back = [a.replace("shard-*-of-00003.", "") for a in args]
        assert back == s.argv[2:]
        assert sum(a != b for a, b in zip(args, back)) == len(shards_read)
        if s.id.startswith("06"):
            assert jobs[name + "-merge"][2] == 0 and jobs[name + "-merge"][-1] == s.argv[2:] + ["--merge"]
        else:
            assert output == (s.output if array else "-")
    assert len(three) == len(local) + sum(s.id.startswith("06") for s in local)
    # continuing at round 2: its stages only, still reading round 1's shards and the tests' by glob
    later = pr.slurm_jobs(run_of(flags + ["--shards", "3", "--first_round", "2"], "slurm"))
    assert {j[1] for j in later} == {n for n in jobs if n.startswith("round-2-")}


def test_flags_refused_with_the_reason(world):
    for argv, msg in [(["--loss", "ppo"], "--loss must be kto or dpo or sft or grpo, got 'ppo'"),
                      (["--rounds"], "--rounds needs a value (see the flags at the top of run_plum.sh)"),
                      (["--bogus"], "unknown flag --bogus (see bash run_plum.sh --help)"),
                      (["--rounds", "x"], "--rounds must be a whole number"),
                      (["--num_samples", "0"], "--num_samples must be a positive whole number"),
                      (["--corrupt_tests", "2"], "--corrupt_tests must be a share in [0, 1]"),
                      (["--eval2_data", "/nonexistent"], "--eval2_data /nonexistent: no such file"),
                      (["--eval2_args", "--k 1"], "--eval2_args are flags of the second evaluation: they need "
                                                  "--eval2_data"),
                      (["--tests", "mine"], "--tests must be generated or reference")]:
        with pytest.raises(pr.Refusal, match=re.escape(msg)):
            pr.parse(argv)
    for argv, msg in [(["--model", world["model"]], "--model needs --data"),
                      (["--data", "mbpp"], "--data/--benchmark need --model"),
                      (["--model", world["model"], "--data", "mbpp", "--tests", "reference"],
                       "--tests reference needs --tests_file"),
                      (["--model", world["model"], "--data", "mbpp", "--tests", "reference", "--tests_file",
                        "/nonexistent"], "--tests_file /nonexistent: no such")]:
        with pytest.raises(pr.Refusal, match=re.escape(msg)):
            run_of(argv)
    with pytest.raises(pr.Refusal, match="unknown flag --shards .see bash run_plum.sh"):
        pr.parse(["--shards", "2"])
    with pytest.raises(pr.Refusal, match="--first_round 3 is past the run's last round"):
        pr.parse(["--rounds", "2", "--first_round", "3"], "slurm")
    with pytest.raises(pr.Refusal, match="unknown flag --bogus .see bash slurm/submit_round.sh"):
        pr.parse(["--bogus"], "slurm")


def test_settings_are_pinned_and_typed(world, capsys):
    a = run_of(["--out", world["out"], "--seed", "2", "--corrupt_tests", "0.25"])
    pr.guard_settings(a)
    a.driver = "slurm"   # no environment subprocess (the local one imports torch): the settings part only
    pr.write_run_json(a)
    d = json.load(open(os.path.join(world["out"], "run.json")))
    assert d["seed"] == 2 and d["corrupt_tests"] == 0.25 and d["off_policy"] is False and d["temperature"] == 1.0
    assert d["toy_world"] == {"dir": world["toy"], "key": "k", "config": {"tasks": 3}} and d["rounds"] == 3
    pr.guard_settings(run_of(["--out", world["out"], "--seed", "2", "--corrupt_tests", "0.25", "--rounds", "5"]))
    with pytest.raises(pr.Refusal, match="was started with other settings"):
        pr.guard_settings(run_of(["--out", world["out"], "--seed", "3", "--corrupt_tests", "0.25"]))
    assert "< seed=2\n> seed=3" in capsys.readouterr().err
    # a Slurm run's folder is another run (its shards draw other random streams)
    with pytest.raises(pr.Refusal, match="was started with other settings"):
        pr.guard_settings(run_of(["--out", world["out"], "--seed", "2", "--corrupt_tests", "0.25"], "slurm"))


def test_settings_take_a_stage_flag_under_its_old_name_as_the_new(world, capsys):
    """A folder whose run.settings names a stage flag the old way (common.RENAMED), as a run started with
    `--eval_args "--gen_chunk 16"` wrote it, is the run the current names continue, and the other way round."""
    new = ["--out", world["out"], "--tests_args", "--num_samples 2", "--eval_args", "--tasks_per_call=16 --limit 3"]
    old = ["--out", world["out"], "--tests_args", "--num_generations 2", "--eval_args", "--gen_chunk=16 --limit 3"]
    settings = os.path.join(world["out"], "run.settings")
    os.makedirs(world["out"])
    with open(settings, "w", encoding="utf-8") as f:   # the text a run started with the old names left
        f.write(pr.settings_text(run_of(new)).replace("--num_samples 2", "--num_generations 2")
                .replace("--tasks_per_call=16", "--gen_chunk=16") + "\n")
    assert "tests_args=--num_generations 2" in open(settings).read()
    pr.guard_settings(run_of(new))
    pr.guard_settings(run_of(old))
    assert pr.settings_text(run_of(old)) == pr.settings_text(run_of(new))
    assert "eval_args=--tasks_per_call=16 --limit 3" in pr.settings_text(run_of(old)).splitlines()
    # the old names reach the stages as typed (each stage takes them, with its note)
    cmds = commands(old)
    assert "--num_generations 2" in cmds[("tests", "01")] and "--gen_chunk=16" in cmds[("round-0", "06")]
    with pytest.raises(pr.Refusal, match="was started with other settings"):
        pr.guard_settings(run_of(new[:-1] + ["--tasks_per_call=8 --limit 3"]))
    assert "< eval_args=--tasks_per_call=16 --limit 3" in capsys.readouterr().err

def _done(d, *stages):
    os.makedirs(os.path.join(d, ".done"), exist_ok=True)
    for s in stages:
        open(os.path.join(d, ".done", s), "w").write("t")


def test_damaged_folders_name_what_to_delete(world):
    a = run_of(["--out", world["out"], "--rounds", "3"])
    o = a.out
    os.makedirs(f"{o}/round-1/ckpt/final")
    pr.check_folder(a)
    _done(f"{o}/round-1", "02", "04")
    open(f"{o}/round-1/samples.jsonl", "w").close()
    with pytest.raises(pr.Refusal, match=f"{o}/round-1: stage 04 is marked done but {o}/round-1/kto.jsonl is missing"
                       f" .a damaged run folder.; delete {o}/round-1/.done/04"):
        pr.check_folder(a)
    os.remove(f"{o}/round-1/.done/04")
    os.makedirs(f"{o}/round-3")
    open(f"{o}/round-3/samples.jsonl", "w").close()
    with pytest.raises(pr.Refusal, match="round-3 has files but round 2 never finished"):
        pr.check_folder(a)
    pr.check_ckpt(a, pr.Check("Qwen/Qwen2.5-Coder-1.5B-Instruct", 0))   # a hub id: not checked here
    open(f"{o}/round-1/ckpt/final/config.json", "w").write("{ half a config")
    with pytest.raises(pr.Refusal, match=f"the checkpoint {o}/round-1/ckpt/final does not load.*delete {o}/round-1/"
                       "ckpt and .*rerun to retrain round 1"):
        pr.check_ckpt(a, pr.Check(f"{o}/round-1/ckpt/final", 1))
    with pytest.raises(pr.Refusal, match="--model .* does not load"):
        pr.check_ckpt(a, pr.Check(f"{o}/round-1/ckpt/final", 0))


def test_summary_of_an_rft_run(world, capsys):
    """The summary's rows for --loss sft (the examples that passed) with a second benchmark and corrupted tests."""
    o = world["out"]
    for r in (0, 1):
        for e, v in (("eval", 0.5 + r / 10), ("eval2", 0.25)):
            os.makedirs(f"{o}/round-{r}/{e}")
            json.dump({"pass@k": {"pass@1": v}, "problems": 3, "benchmark": "jsonl"},
                      open(f"{o}/round-{r}/{e}/results.json", "w"))
    os.makedirs(f"{o}/round-1/ckpt")
    lines = {"executions": [{"passed": p} for p in (True, False, True, False)],
             "sft": [{"passed": True}, {"passed": True}], "ckpt/metrics": [{"step": 1}, {"step": 2}]}
    for n, recs in lines.items():
        open(f"{o}/round-1/{n}.jsonl", "w").write("".join(json.dumps(x) + "\n" for x in recs))
    os.makedirs(f"{o}/tests")
    tests = f"{o}/tests/tests.corrupt.jsonl"
    open(tests, "w").write(json.dumps({"tests": ["a", "b"], "corrupted": [1], "validated": True}) + "\n")
    json.dump({"loss": "sft", "seed": 0, "tests": "generated", "corrupt_tests": 0.5, "num_samples": 4,
               "temperature": 1.0}, open(f"{o}/run.json", "w"))
    pr.summarize(o, 1, "sft", tests)
    rows = [json.loads(x) for x in open(f"{o}/summary.jsonl")]
    assert rows[1]["sft_examples"] == 2 and rows[1]["desirable"] == 2 and rows[1]["samples_passing"] == 0.5
    assert [r["corrupted_tests"] for r in rows] == [1, 1] and rows[1]["pass@1_eval2"] == 0.25
    assert rows[1]["train_steps"] == 2 and rows[0]["kept_tests"] == 2
    assert "| 1 | 60.0% | 25.0% | 50.0% of 4 | 2 (1) | 2 (2) |" in open(f"{o}/summary.md").read()
    assert open(f"{o}/pass_at_1.png", "rb").read(4) == b"\x89PNG"


# ----------------------------------------------------------------------------------------------------------------
# the two drivers' shell scripts, with a stand-in for the stages' Python

STAND_IN = r'''#!{python}
"""The stages' Python, standing in: records each command, writes the files the stage would (shards too)."""
import json, os, sys
a = sys.argv[1:]
if a[0] == "-m":   # torchrun (slurm/05_train_kto.sbatch): the script and its arguments
    a = a[next(i for i, x in enumerate(a) if x.endswith(".py")):]
if a[0] == "-c":   # slurm/check_shards.sh asks common.shard_path for the shards' names
    os.execv(sys.executable, [sys.executable, *a])
if a[0].endswith("plum_round.py"):
    if a[1:] == ["environment"]:
        print(json.dumps({{"torch": "stand-in"}}))
        sys.exit(0)
    os.execv(sys.executable, [sys.executable, *a])
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps(a) + "\n")
def get(k):
    return a[a.index(k) + 1] if k in a else None
k, n = int(get("--shard_id") or 0), int(get("--num_shards") or 1)
def shard(path):
    root, ext = os.path.splitext(path)
    return f"{{root}}.shard-{{k:05d}}-of-{{n:05d}}{{ext}}" if n > 1 else path
name = os.path.basename(a[0])
if name == "05_train_kto.py":
    d = get("--output_dir") + "/final"
    os.makedirs(d, exist_ok=True)
    open(d + "/config.json", "w").write("{{}}")
    open(d + "/model.safetensors", "w").close()
elif name == "06_eval.py":
    d = get("--output_dir")
    os.makedirs(d, exist_ok=True)
    json.dump({{"pass@k": {{"pass@1": 0.5}}, "problems": 3}},
              open(shard(d + "/results.json") if "--merge" not in a else d + "/results.json", "w"))
else:
    open(shard(get("--output")), "w").write(json.dumps({{"task_id": "t", "tests": ["x"], "passed": True,
                                                         "label": True}}) + "\n")
print(name, "stand-in done")
'''


def _stand_in(tmp_path):
    path = tmp_path / "stand_in_python"
    path.write_text(STAND_IN.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def test_both_drivers_run_the_plan_through_their_shell_scripts(world, tmp_path, monkeypatch):
    py = _stand_in(tmp_path)
    env = dict(os.environ, PYTHON=py, CALLS=str(tmp_path / "calls.jsonl"))
    flags = ["--model", world["model"], "--data", world["instr"], "--benchmark", "jsonl", "--eval_data",
             world["heldout"], "--rounds", "2", "--loss", "grpo", "--corrupt_tests", "0.5", "--eval2_data",
             world["long"], "--train_args", "--lr 1e-3"]
    # run_plum.sh: every stage's command, logged as its log's first line, a marker each; a rerun skips them all
    out = str(tmp_path / "local")
    p = subprocess.run(["bash", os.path.join(REPO, "run_plum.sh"), *flags, "--out", out], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    monkeypatch.setenv("PYTHON", py)   # the plan's commands start with the stages' Python, as the driver's did
    plan = pr.stages(run_of(flags + ["--out", out]))
    calls = [json.loads(x) for x in open(env["CALLS"])]
    assert calls == [s.argv[1:] for s in plan]
    for s in plan:
        assert open(f"{s.dir}/logs/{s.id}.log").readline() == "+ " + " ".join(s.argv) + "\n"
        assert os.path.exists(f"{s.dir}/.done/{s.id}")
    assert "05 train grpo (" in p.stdout and "| 2 | 50.0% | 50.0% |" in p.stdout
    p = subprocess.run(["bash", os.path.join(REPO, "run_plum.sh"), *flags, "--out", out], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.count("done, skipped") == len(plan) and "running" not in p.stdout
    # submit_round.sh --local: the same stages as jobs over 2 shards, each merge after every shard is there
    os.remove(env["CALLS"])
    out = str(tmp_path / "slurm")
    p = subprocess.run(["bash", os.path.join(REPO, "slurm", "submit_round.sh"), *flags, "--out", out, "--shards", "2",
                        "--local"], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    calls = [json.loads(x) for x in open(env["CALLS"])]
    jobs = pr.slurm_jobs(run_of(flags + ["--out", out, "--shards", "2"], "slurm"))
    want = []
    for j in jobs:
        script = os.path.join(REPO, j[5][:-7] + ".py")
        want += [[script, *j[7], "--shard_id", str(k), "--num_shards", "2"] for k in range(2)] if j[2] else [
            [script, *j[7]]]
    assert calls == want
    assert len(jobs) == 2 + 2 * 2 + 2 * (4 + 2 * 2)   # 01, 01c; 06(b) + merges; per round 02 03 04 05 06(b) + merges
    assert os.path.exists(f"{out}/round-2/ckpt/final/config.json") and os.path.exists(f"{out}/round-2/eval2/results.json")
    submit = open(f"{out}/round-1/samples.jsonl.submit").read()
    assert "02_sample.sbatch --model" in submit and f"--output {out}/round-1/samples.jsonl" in submit
    assert "round-2-05: done locally" in p.stdout
    # --help of each driver: its header
    for sh in ("run_plum.sh", "slurm/submit_round.sh"):
        p = subprocess.run(["bash", os.path.join(REPO, sh), "--help"], env=env, capture_output=True, text=True)
        assert p.returncode == 0 and "--corrupt_tests" in p.stdout and "set -euo" not in p.stdout
