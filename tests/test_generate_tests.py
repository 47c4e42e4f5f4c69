"""01_generate_tests.py: parsing model-written tests, the loaders, validation against references, counted skips."""

import importlib
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, shared_data

gt = importlib.import_module("01_generate_tests")

# (case, completion, entry point, n_generated, tests kept by the parser)
PARSE_CASES = [
    ("fenced block, one assert a line",
     "Here are the tests:\n```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n```\nThese cover zero.",
     "add", 2, ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]),
    ("duplicates with other spacing dropped",
     "```python\nassert add(1,2)==3\nassert add(1, 2) == 3\nassert add( 1 , 2 ) == 3\n```", "add", 3,
     ["assert add(1,2)==3"]),
    ("test of another function dropped", "```python\nassert add(1, 2) == 3\nassert sub(3, 1) == 2\n```", "add", 2,
     ["assert add(1, 2) == 3"]),
    ("multi-line assert kept whole",
     "```python\nassert add(\n    1,\n    2,\n) == 3\n```", "add", 1, ["assert add(\n    1,\n    2,\n) == 3"]),
    ("bare lines with prose and a truncated last line",
     "Tests:\nassert add(1, 2) == 3\nThis checks small numbers.\nassert add(5, 5) == 1", "add", 2,
     ["assert add(1, 2) == 3", "assert add(5, 5) == 1"]),
    ("syntax error counted as generated, not kept",
     "```python\nassert add(1, 2) == 3\nassert add(1, 2 == 3\n```", "add", 2, ["assert add(1, 2) == 3"]),
    ("non-assert statements ignored (setup lines, prints)",
     "```python\nx = 3\nprint(add(1, 2))\nassert add(1, 2) == 3\n```", "add", 1, ["assert add(1, 2) == 3"]),
    ("method entry point", "```python\nassert Solution().twoSum([2, 7], 9) == [0, 1]\nassert twoSum([1], 1) == []\n```",
     "Solution().twoSum", 2, ["assert Solution().twoSum([2, 7], 9) == [0, 1]", "assert twoSum([1], 1) == []"]),
    ("assert that calls nothing dropped", "```python\nassert 1 + 1 == 2\nassert add(1, 1) == 2\n```", "add", 2,
     ["assert add(1, 1) == 2"]),
    ("name only as a substring is not a call", "```python\nassert add_all([1]) == 1\n```", "add", 1, []),
    ("indented asserts (inside a test function) read", "```python\ndef test():\n    assert add(1, 2) == 3\n```",
     "add", 1, ["assert add(1, 2) == 3"]),
    ("reasoning before </think> dropped",
     "<think>assert add(9, 9) == 0</think>\n```python\nassert add(1, 2) == 3\n```", "add", 1,
     ["assert add(1, 2) == 3"]),
    ("nothing at all", "I cannot write tests for this.", "add", 0, []),
    ("garbage from a random model", "\x13\ufffd^v\ufffd\x16s\nassert\ufffd;on= ranU add(", "add", 1, []),
]


@pytest.mark.parametrize("name,completion,entry_point,n_generated,tests", PARSE_CASES,
                         ids=[c[0] for c in PARSE_CASES])
def test_parse_tests_table(name, completion, entry_point, n_generated, tests):
    assert gt.parse_tests(completion, entry_point) == (n_generated, tests)


def test_mbpp_loader_train_split():
    path = shared_data("mbpp", "mbpp.jsonl")
    rows = list(gt.load_mbpp(path))
    assert len(rows) == 374 and rows[0]["task_id"] == "mbpp/601" and rows[-1]["task_id"] == "mbpp/974"
    assert all(r["entry_point"] and f"def {r['entry_point']}" in r["reference"] for r in rows)
    assert all("\r" not in r["reference"] for r in rows)


def test_leetcode_loader():
    path = shared_data("leetcodedataset", "LeetCodeDataset-v0.2.0-train.jsonl.gz")
    first = next(gt.load_leetcode(path))
    assert first["task_id"] == "leetcode/two-sum" and first["entry_point"] == "Solution().twoSum"
    assert first["reference"].startswith("from typing import *") and "class Solution" in first["reference"]
    assert "```python" in first["instruction"]  # the query carries the starter code


# ---- the stage end to end, with completions given by file (the deterministic path; the model path is in test_e2e)

INSTRUCTIONS = [
    {"task_id": "add", "instruction": "Write a function to add two numbers.",
     "reference": "def add(a, b):\n    return a + b\n", "entry_point": "add"},
    {"task_id": "rev", "instruction": "Reverse a string.", "reference": "def rev(s):\n    return s[::-1]\n",
     "entry_point": "rev"},
    {"task_id": "noref", "instruction": "Square a number.", "reference": None, "entry_point": "sq"},
    {"task_id": "silent", "instruction": "Double a number.", "reference": "def dbl(x):\n    return 2 * x\n",
     "entry_point": "dbl"},
    {"task_id": "slow", "instruction": "Identity of a natural number.",
     "reference": "def g(n):\n    while n < 0:\n        pass\n    return n\n", "entry_point": "g"},
    {"task_id": "cls", "instruction": "Add one.", "reference": "class Solution:\n    def inc(self, x):\n"
                                                              "        return x + 1\n", "entry_point": "Solution().inc"},
]
COMPLETIONS = [
    # two right, one wrong (the reference fails it), one duplicate, one calling another function
    # and three more the reference passes: two trivial (every stub passes them), one that a stub returning True
    # passes (True == 1) but the others fail, so it is kept
    {"task_id": "add", "completion": "```python\nassert add(1, 2) == 3\nassert add(2, 2) == 5\nassert add(1,2) == 3\n"
                                     "assert add(-1, 1) == 0\nassert mul(2, 2) == 4\nassert add(1, 2) == add(1, 2)\n"
                                     "assert add(0, 0) is not None\nassert add(1, 0) == 1\n```"},
    # only wrong tests: nothing survives validation
    {"task_id": "rev", "completion": "```python\nassert rev('ab') == 'ab'\n```"},
    {"task_id": "noref", "completions": ["assert sq(3) == 9", "assert sq(3) == 9\nassert sq(2) == 5",
                                         "assert sq(2) == sq(2)"]},  # trivial: dropped even without a reference
    {"task_id": "silent", "completion": ""},  # the model wrote nothing
    # the reference hangs on the middle test: the tests after it are still judged
    {"task_id": "slow", "completion": "assert g(1) == 1\nassert g(-1) == -1\nassert g(2) == 2\nassert g(3) == 4"},
    # a method entry point: the stubs are classes; `inc(3) == inc(3)` is trivial, a bare truthy call is not
    {"task_id": "cls", "completion": "assert Solution().inc(1) == 2\nassert Solution().inc(3) == Solution().inc(3)\n"
                                     "assert Solution().inc(5)"},
]


def _write(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def _run01(tmp_path, *extra):
    cmd = [sys.executable, "01_generate_tests.py", "--dataset", "jsonl", "--data_path", str(tmp_path / "ins.jsonl"),
           "--completions", str(tmp_path / "comp.jsonl"), "--output", str(tmp_path / "tests.jsonl"), "--workers", "1",
           "--timeout", "1",
           *extra]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


def _jsonl(path):
    return [json.loads(line) for line in open(path)]


def test_validation_counts_and_skips(tmp_path):
    pytest.importorskip("sandbox")
    _write(tmp_path / "ins.jsonl", INSTRUCTIONS)
    _write(tmp_path / "comp.jsonl", COMPLETIONS)
    r = _run01(tmp_path)
    assert r.returncode == 0, r.stderr
    recs = {x["task_id"]: x for x in _jsonl(tmp_path / "tests.jsonl")}
    assert set(recs) == {"add", "noref", "slow", "cls"}
    assert recs["slow"]["tests"] == ["assert g(1) == 1", "assert g(2) == 2"]
    add = recs["add"]
    assert add["tests"] == ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(1, 0) == 1"]
    assert (add["n_generated"], add["n_parsed"], add["n_trivial"], add["n_kept"], add["validated"]) == (8, 6, 2, 3, True)
    noref = recs["noref"]
    assert noref["tests"] == ["assert sq(3) == 9", "assert sq(2) == 5"]  # unvalidated: the wrong one stays
    assert (noref["n_generated"], noref["n_trivial"], noref["n_kept"], noref["validated"]) == (4, 1, 2, False)
    assert recs["cls"]["tests"] == ["assert Solution().inc(1) == 2", "assert Solution().inc(5)"]
    assert recs["cls"]["n_trivial"] == 1
    skipped = {x["task_id"]: x for x in _jsonl(tmp_path / "tests.skipped.jsonl")}
    assert set(skipped) == {"rev", "silent"}
    assert skipped["rev"]["reason"].startswith("fewer than --min_tests") and skipped["rev"]["n_parsed"] == 1
    assert skipped["silent"]["reason"] == "no assert statement in the completion"
    assert "4/6 instructions kept" in r.stdout and "generated 20, parsed 17, trivial 4, kept 9" in r.stdout
    # a rerun asks nothing again, and --min_tests 4 on a fresh run drops everything: exit non-zero
    r2 = _run01(tmp_path)
    assert r2.returncode == 0 and "nothing to do" in r2.stdout
    r3 = _run01(tmp_path, "--overwrite", "--min_tests", "4")
    assert r3.returncode == 1 and os.path.getsize(tmp_path / "tests.jsonl") == 0


def test_a_run_begun_under_the_old_flag_name_resumes_under_the_new(tmp_path):
    """--num_generations is --num_samples under its old name (common.RENAMED): it says so, the run's args.json
    holds the current name only, and a rerun with --num_samples finishes the run without asking anything twice."""
    pytest.importorskip("sandbox")
    _write(tmp_path / "ins.jsonl", INSTRUCTIONS)
    _write(tmp_path / "comp.jsonl", COMPLETIONS)
    r = _run01(tmp_path, "--limit", "2", "--num_generations", "1", "--tasks_per_call", "1")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("note: --num_generations is now --num_samples\n") == 1
    then = json.load(open(tmp_path / "tests.args.json"))
    assert then["num_samples"] == 1 and "num_generations" not in then
    assert [x["task_id"] for x in _jsonl(tmp_path / "tests.jsonl")] == ["add"]
    r = _run01(tmp_path, "--num_samples", "1", "--tasks_per_call", "1")
    assert r.returncode == 0 and "note:" not in r.stderr, r.stderr
    now = json.load(open(tmp_path / "tests.args.json"))
    assert {k: v for k, v in now.items() if k not in ("argv", "limit")} == \
        {k: v for k, v in then.items() if k not in ("argv", "limit")}
    assert [x["task_id"] for x in _jsonl(tmp_path / "tests.jsonl")] == ["add", "noref", "slow", "cls"]
    assert [x["task_id"] for x in _jsonl(tmp_path / "tests.skipped.jsonl")] == ["rev", "silent"]


def test_bad_inputs(tmp_path):
    _write(tmp_path / "ins.jsonl", [{"task_id": "a", "question": "x"}])
    _write(tmp_path / "comp.jsonl", [])
    r = _run01(tmp_path)
    assert r.returncode != 0 and "--instruction_field" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "01_generate_tests.py", "--dataset", "jsonl", "--data_path",
                        str(tmp_path / "ins.jsonl"), "--instruction_field", "question", "--model",
                        str(tmp_path / "no_such_model"), "--output", str(tmp_path / "t.jsonl")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "no such directory" in r.stderr and "Traceback" not in r.stderr


def test_validation_drops_tests_that_lean_on_the_references_own_names(tmp_path):
    """The sandbox's rule (issue 19, families 3-4): only the entry point comes from the program. A model-written test
    that uses a name the reference defines or imports (`pi`, a helper, a class) fails against the reference and is
    dropped; a standard-library module the test names itself (`math`) is the judge's own, and the test is kept."""
    pytest.importorskip("sandbox")
    ref = ("from math import pi\nclass Circle:\n    def __init__(self, r):\n        self.r = r\n"
           "def double(x):\n    return 2 * x\ndef area(r):\n    return pi * r * r\n")
    _write(tmp_path / "ins.jsonl", [{"task_id": "area", "instruction": "Area of a circle.", "reference": ref,
                                     "entry_point": "area"}])
    _write(tmp_path / "comp.jsonl", [{"task_id": "area", "completion": (
        "```python\nassert abs(area(2) - pi * 4) < 1e-6\nassert area(1) == double(area(1)) / 2\n"
        "assert area(Circle(1).r) > 3\nassert abs(area(1) - math.pi) < 1e-6\nassert area(0) == 0\n```")}])
    r = _run01(tmp_path)
    assert r.returncode == 0, r.stderr
    rec = _jsonl(tmp_path / "tests.jsonl")[0]
    assert rec["tests"] == ["assert abs(area(1) - math.pi) < 1e-6", "assert area(0) == 0"], rec
    assert rec["validated"] and rec["n_parsed"] == 5 and rec["n_kept"] == 2


def test_instruction_rows_missing_a_field_name_the_file_and_line(tmp_path):
    """An MBPP or LeetCodeDataset row without a field the loader reads: an error naming the file, the line (the
    record's number in a .json array) and the key, not a KeyError traceback."""
    from common import InputError
    row = {"task_id": 601, "text": "Add.", "code": "def add(a, b):\n    return a + b\n",
           "test_list": ["assert add(1, 2) == 3"]}
    _write(tmp_path / "mbpp.jsonl", [row, {k: v for k, v in row.items() if k != "code"}])
    with pytest.raises(InputError, match=r"mbpp\.jsonl:2: record lacks key\(s\) \['code'\]"):
        list(gt.load_mbpp(str(tmp_path / "mbpp.jsonl")))
    (tmp_path / "mbpp.json").write_text(json.dumps([row, {k: v for k, v in row.items() if k != "test_list"}]))
    with pytest.raises(InputError, match=r"mbpp\.json: record 2 of the array: record lacks key\(s\) \['test_list'\]"):
        list(gt.load_mbpp(str(tmp_path / "mbpp.json")))
    lc = {"task_id": "two-sum", "query": "q", "prompt": "", "completion": "x", "entry_point": "Solution().f"}
    _write(tmp_path / "lc.jsonl", [{k: v for k, v in lc.items() if k != "entry_point"}])
    with pytest.raises(InputError, match=r"lc\.jsonl:1: record lacks key\(s\) \['entry_point'\]"):
        list(gt.load_leetcode(str(tmp_path / "lc.jsonl")))
