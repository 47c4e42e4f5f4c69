"""03_execute.py: the join, the records, resume after a kill, sharding, and bad input (message, exit status, nothing
already written lost)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO

TESTS = [
    {"task_id": "add", "instruction": "add", "entry_point": "add", "setup": "",
     "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"], "n_generated": 2, "n_kept": 2, "validated": True},
    {"task_id": "dbl", "instruction": "double stdin", "entry_point": None, "setup": "",
     "tests": [{"input": "3\n", "output": "6\n"}, {"input": "5\n", "output": "10"}]},
]


def sample(tid, sid, code):
    return {"task_id": tid, "sample_id": sid, "prompt": "p", "completion": code, "code": code, "model": "m",
            "round": 0}


GOOD = {"add": "def add(a, b):\n    return a + b\n", "dbl": "print(int(input()) * 2)\n"}
BAD = {"add": "def add(a, b):\n    return a - b\n", "dbl": "print(1)\n"}


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def run03(tmp_path, *extra, samples="samples.jsonl", tests="tests.jsonl", out="ex.jsonl", **kw):
    cmd = [sys.executable, os.path.join(REPO, "03_execute.py"), "--samples", str(tmp_path / samples),
           "--tests", str(tmp_path / tests), "--output", str(tmp_path / out), "--workers", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300, **kw)


def read(path):
    return [json.loads(l) for l in open(path)]


@pytest.fixture
def world(tmp_path):
    write_jsonl(tmp_path / "tests.jsonl", TESTS)
    recs = []
    for sid in range(6):
        for tid in ("add", "dbl"):
            recs.append(sample(tid, sid, (GOOD if sid % 2 == 0 else BAD)[tid]))
    write_jsonl(tmp_path / "samples.jsonl", recs)
    return tmp_path


def test_records_and_summary(world):
    p = run03(world)
    assert p.returncode == 0, p.stderr
    recs = read(world / "ex.jsonl")
    assert len(recs) == 12
    keys = {"task_id", "sample_id", "status", "passed", "tests_passed", "tests_total", "test_status", "error",
            "seconds"}
    for r in recs:
        assert keys <= set(r)
        assert r["passed"] == (r["sample_id"] % 2 == 0)
        assert r["tests_total"] == 2
    bad_add = next(r for r in recs if r["task_id"] == "add" and r["sample_id"] == 1)
    assert bad_add["test_status"] == ["failed", "passed"]   # add(0, 0) == 0 holds for a - b too
    assert "pass rate 0.500" in p.stdout and "programs/s" in p.stdout
    args = json.load(open(world / "ex.args.json"))
    assert args["workers"] == 2 and "isolation" in args
    # a rerun has nothing left to do: success (a Slurm afterok chain goes on), it says so, the file is unchanged
    p2 = run03(world)
    assert p2.returncode == 0, p2.stderr
    assert "nothing to do" in p2.stdout and "pass rate 0.500 over 12 programs" in p2.stdout
    assert read(world / "ex.jsonl") == recs


def test_empty_input_is_an_error(world):
    write_jsonl(world / "none.jsonl", [])
    p = run03(world, samples="none.jsonl")
    assert p.returncode == 1 and "no samples" in p.stderr and "nothing to execute" in p.stderr


def test_resume_after_a_kill(world):
    slow = [sample("add", 100 + i, "import time\ntime.sleep(0.3)\ndef add(a, b):\n    return a + b\n")
            for i in range(30)]
    write_jsonl(world / "slow.jsonl", slow)
    cmd = [sys.executable, os.path.join(REPO, "03_execute.py"), "--samples", str(world / "slow.jsonl"),
           "--tests", str(world / "tests.jsonl"), "--output", str(world / "ex.jsonl"), "--workers", "2"]
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    out = world / "ex.jsonl"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and (not out.exists() or len(out.read_text().splitlines()) < 5):
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    with open(out, "a") as f:
        f.write('{"task_id": "add", "sample_id": 1')   # a torn last line, as a kill mid-write leaves it
    first = [json.loads(l) for l in out.read_text().splitlines()[:-1]]
    assert 5 <= len(first) < 30
    p2 = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p2.returncode == 0, p2.stderr
    recs = read(out)
    assert recs[:len(first)] == first                        # what was written before the kill is kept as is
    assert sorted(r["sample_id"] for r in recs) == list(range(100, 130))   # each sample exactly once
    assert all(r["passed"] for r in recs)
    assert f"({len(first)} resumed)" in p2.stdout
    assert "whole output: 30 programs, pass rate 1.000" in p2.stdout   # the run's figures, not only this part's


def test_shards_partition_the_samples(world):
    for k in range(2):
        p = run03(world, "--num_shards", "2", "--shard_id", str(k))
        assert p.returncode == 0, p.stderr
    a = read(world / "ex.shard-00000-of-00002.jsonl")
    b = read(world / "ex.shard-00001-of-00002.jsonl")
    keys = sorted((r["task_id"], r["sample_id"]) for r in a + b)
    assert keys == sorted((t, s) for s in range(6) for t in ("add", "dbl"))
    assert len(a) == len(b) == 6


@pytest.mark.parametrize("case", ["malformed_line", "no_tests_for_task", "code_not_a_string", "surrogate_code",
                                  "missing_samples", "missing_tests", "non_utf8_file", "bad_tests_shape",
                                  "no_entry_point_key"])
def test_bad_input(world, case):
    recs = [sample("add", i, GOOD["add"]) for i in range(3)]
    lines = [json.dumps(r) for r in recs]
    samples = "samples.jsonl"
    tests = "tests.jsonl"
    if case == "malformed_line":
        lines.insert(2, '{"task_id": "add", "sample_id": 9, "code": ')
    elif case == "no_tests_for_task":
        lines.insert(2, json.dumps(sample("nope", 0, GOOD["add"])))
    elif case == "code_not_a_string":
        lines.insert(2, json.dumps(sample("add", 9, None)))
    elif case == "surrogate_code":
        lines.insert(2, json.dumps(sample("add", 9, "x = '\ud800'")))
    elif case == "missing_samples":
        samples = "nothere.jsonl"
    elif case == "missing_tests":
        tests = "nothere.jsonl"
    elif case == "bad_tests_shape":
        write_jsonl(world / "t2.jsonl", [{"task_id": "add", "entry_point": "add",
                                          "tests": ["assert 1", {"input": 1}]}])
        tests = "t2.jsonl"
    elif case == "no_entry_point_key":   # it decides which name the judge takes: not 01's tests.jsonl without it
        write_jsonl(world / "t2.jsonl", [TESTS[1], {k: v for k, v in TESTS[0].items() if k != "entry_point"}])
        tests = "t2.jsonl"
    (world / "samples.jsonl").write_text("\n".join(lines) + "\n")
    if case == "non_utf8_file":
        with open(world / "samples.jsonl", "ab") as f:
            f.write(b'{"task_id": "add", "sample_id": 7, "code": "\xff\xfe"}\n')
    p = run03(world, samples=samples, tests=tests)
    assert p.returncode != 0
    msg = p.stderr.strip().splitlines()[-1]
    assert msg.startswith("error: ")
    if case in ("malformed_line", "non_utf8_file"):
        assert "samples.jsonl:" in msg          # file and line
    if case in ("no_tests_for_task", "code_not_a_string", "surrogate_code"):
        assert "sample" in msg and "samples.jsonl" in msg
        # the two good samples before the bad one were executed and kept
        assert sorted(r["sample_id"] for r in read(world / "ex.jsonl")) == [0, 1]
    if case.startswith("missing"):
        assert "nothere.jsonl" in msg and not (world / "ex.jsonl").exists()
    if case == "bad_tests_shape":
        assert "'tests' mixes or misshapes items" in msg
    if case == "no_entry_point_key":
        assert "t2.jsonl:2: record lacks key(s) ['entry_point']" in msg and not (world / "ex.jsonl").exists()


def test_a_rerun_that_stops_at_the_same_bad_sample_counts_the_records_in_the_output(world):
    """A bad sample after good ones: the first run keeps the two it wrote; a rerun writes none and stops at the
    same line, and says the output holds 2 records (it once said 0), leaving the output and the first run's
    args.json as they were. A run that fails before any record leaves no empty output and no args.json."""
    recs = [sample("add", 0, GOOD["add"]), sample("add", 1, BAD["add"]), sample("nope", 0, GOOD["add"])]
    write_jsonl(world / "samples.jsonl", recs)
    p = run03(world)
    assert p.returncode == 1 and "(2 records are in" in p.stderr and "2 of them written by this run" in p.stderr
    kept, args = (world / "ex.jsonl").read_text(), (world / "ex.args.json").read_text()
    p = run03(world, "--workers", "1")   # other arguments: its args.json would differ
    assert p.returncode == 1 and "(2 records are in" in p.stderr and "0 of them written by this run" in p.stderr
    assert "'nope'" in p.stderr and "Traceback" not in p.stderr
    assert (world / "ex.jsonl").read_text() == kept and (world / "ex.args.json").read_text() == args
    write_jsonl(world / "bad.jsonl", recs[2:])
    p = run03(world, samples="bad.jsonl", out="fresh.jsonl")
    assert p.returncode == 1 and "(no record was written)" in p.stderr
    assert not (world / "fresh.jsonl").exists() and not (world / "fresh.args.json").exists()


def test_empty_code_is_judged_not_refused(world):
    """02 writes code "" when the model wrote none: 03 judges it (every test fails) so KTO can learn from it."""
    recs = [sample("add", 0, GOOD["add"]), sample("add", 1, ""), sample("add", 2, "  \n")]
    write_jsonl(world / "samples.jsonl", recs)
    p = run03(world)
    assert p.returncode == 0, p.stderr
    got = {r["sample_id"]: r for r in read(world / "ex.jsonl")}
    assert got[0]["passed"] and not got[1]["passed"] and not got[2]["passed"]
    assert got[1]["tests_passed"] == 0 and got[1]["status"] != "passed"
    assert "2 empty programs" in p.stdout


def test_a_package_the_programs_need_but_cannot_import_stops_the_run(world, monkeypatch, capsys):
    """03 checks the programs' environment inside the sandbox before any program runs: a module that does not
    import there would fail every program that uses it, silently."""
    import importlib
    ex = importlib.import_module("03_execute")
    monkeypatch.setattr(ex, "PROGRAM_MODULES", ("numpy", "plum_no_such_module"))
    with pytest.raises(SystemExit) as e:
        ex.main(["--samples", str(world / "samples.jsonl"), "--tests", str(world / "tests.jsonl"),
                 "--output", str(world / "ex.jsonl"), "--workers", "1"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "plum_no_such_module" in err and "ModuleNotFoundError" in err and "numpy" not in err.split("(")[0]
    assert not (world / "ex.jsonl").exists() or (world / "ex.jsonl").read_text() == ""
    assert not (world / "ex.args.json").exists()   # nothing was started


def test_the_programs_environment_is_recorded(world):
    run03(world)
    env = json.loads((world / "ex.args.json").read_text())["environment"]
    assert env["python"].count(".") == 2 and env["numpy"] and env["sortedcontainers"]
