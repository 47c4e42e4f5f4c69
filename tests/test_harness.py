"""Issue 10, family 9: whatever a program does, the harness keeps running and every program gets one record.

Programs that once crashed or stalled 03 and 06: lone surrogates in an exception, a printed or returned value or an
exception's class name; 'sNaN' / 'NaN' / 'Infinity' printed on a numeric stdout test; unsolicited frames flooding
the channel, with and without big requests the worker must write while the program is not reading; a 4-byte header
claiming a huge frame, then silence; a deeply shared DAG returned (a = [a, a] 200 times); a ~256 MB frame sent or
returned, and a frame of 64 M one-byte items. Each must come back as one non-passing result within a generous bound,
from the worker's own deadlines (not the pool's backstop, which reports "killed"), and a correct program after it
still passes: through the Sandbox API, and through real `python 03_execute.py` and `python 06_eval.py` runs whose
output lines are strict UTF-8 JSON, one per sample.
"""

import json
import os
import struct
import subprocess
import sys
import time

import pytest

import sandbox
from conftest import REPO, SHARED_DATA
from sandbox import Sandbox

GOOD = "def f(x):\n    return x * 2\n"
GOOD_STDIO = "print(int(input()) * 2)\n"
BOUND = 30.0   # seconds: generous; the pool's backstop alone would answer well inside it for these timeouts


def frame(obj):
    b = sandbox.encode(obj)
    return struct.pack(">I", len(b)) + b


OK0 = frame(("ok", 0))

SURROGATE_LOAD = "raise ValueError(chr(0xD800))\ndef f(x):\n    return x * 2\n"
SURROGATE_RAISE = "def f(x):\n    raise ValueError('bad ' + chr(0xD800) + chr(0xDFFF))\n"
SURROGATE_TYPE = "E = type(chr(0xD800), (ValueError,), {})\ndef f(x):\n    raise E(chr(0xDC80))\n"
SURROGATE_RETURN = "def f(x):\n    return chr(0xD800) * 3\n"
SURROGATE_PRINT = "def f(x):\n    print(chr(0xD800))\n    return 0\n"
SURROGATE_EXIT = "import sys\ndef f(x):\n    sys.exit(chr(0xD800))\n"
FLOOD_THEN_SLEEP = f'''import os, fcntl, time
FR = {OK0 * 64!r}
def flood():
    fl = fcntl.fcntl(3, fcntl.F_GETFL)
    fcntl.fcntl(3, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    try:
        while True:
            os.write(3, FR)
    except OSError:
        pass
    fcntl.fcntl(3, fcntl.F_SETFL, fl)
def f(x):
    flood()
    time.sleep(1000)
'''
FLOOD_AT_LOAD = FLOOD_THEN_SLEEP.replace("def f(x):\n    flood()\n    time.sleep(1000)\n",
                                         "flood()\ntime.sleep(1000)\ndef f(x):\n    return x * 2\n")
FLOOD_FOREVER = f'''import os
FR = {OK0 * 64!r}
def f(x):
    while True:
        os.write(3, FR)   # blocking: the program never reads its channel again
'''
HEADER_STALL_LOAD = "import os, struct, time\nos.write(3, struct.pack('>I', 200 << 20) + b'L')\ntime.sleep(1000)\n" \
                    "def f(x):\n    return x * 2\n"
HEADER_STALL_CALL = "import os, struct, time\ndef f(x):\n    os.write(3, struct.pack('>I', 200 << 20) + b'L')\n" \
                    "    time.sleep(1000)\n"
HEADER_HUGE = "import os, struct, time\ndef f(x):\n    os.write(3, b'\\xff\\xff\\xff\\xff' + b'L' * 64)\n" \
              "    time.sleep(1000)\n"
DAG = "def f(x):\n    a = []\n    for _ in range(200):\n        a = [a, a]\n    return a\n"
DAG_DICT = "def f(x):\n    a = {}\n    for i in range(200):\n        a = {'l': a, 'r': a}\n    return a\n"
DAG_IN_LIST = "def f(x):\n    a = [0]\n    for _ in range(200):\n        a = [a, a, 0]\n    return [4, a]\n"
BIG_RETURN = "def f(x):\n    return 'x' * (250 << 20)\n"
BIG_RAW = '''import os, struct
n = (256 << 20) - 64
os.write(3, struct.pack(">I", n) + b"S" + struct.pack(">I", n - 5))
chunk = b"x" * (1 << 20)
left = n - 5
while left:
    left -= os.write(3, chunk[:min(left, len(chunk))])
def f(x):
    return x * 2
'''
NONES_RAW = '''import os, struct
n = 64 << 20
os.write(3, struct.pack(">I", n + 5) + b"L" + struct.pack(">I", n))
chunk = b"N" * (1 << 20)
left = n
while left:
    left -= os.write(3, chunk[:min(left, len(chunk))])
def f(x):
    return x * 2
'''


def fast(p):
    return {"kind": "assert", "setup": "", "entry_point": "f", "program": p, "tests": ["assert f(2) == 4"]}


def judge(p):
    return {"kind": "assert", "setup": "", "entry_point": "f", "program": p, "tests": ["x = f(2)\nassert x == 4, x"]}


def check(p):
    return {"kind": "check", "setup": "", "entry_point": "f", "program": p,
            "test": "def check(candidate):\n    x = candidate(2)\n    assert x == 4, repr(x)\n"}


def call(p, inputs=((2,),), expected=None):
    return {"kind": "call", "setup": "", "entry_point": "f", "program": p, "inputs": [list(a) for a in inputs],
            "expected": list(expected) if expected is not None else [4] * len(inputs), "atol": 0}


def stdio(p, out="4\n"):
    return {"kind": "stdio", "program": p, "tests": [{"input": "2\n", "output": out}]}


BIG_INPUT = "y" * (4 << 20)
HOSTILE = {
    "surrogate_at_load/fast": fast(SURROGATE_LOAD),
    "surrogate_at_load/judge": judge(SURROGATE_LOAD),
    "surrogate_at_load/call": call(SURROGATE_LOAD),
    "surrogate_raised/fast": fast(SURROGATE_RAISE),
    "surrogate_raised/judge": judge(SURROGATE_RAISE),
    "surrogate_raised/check": check(SURROGATE_RAISE),
    "surrogate_raised/call": call(SURROGATE_RAISE),
    "surrogate_type_name/fast": fast(SURROGATE_TYPE),
    "surrogate_type_name/judge": judge(SURROGATE_TYPE),
    "surrogate_returned/judge": judge(SURROGATE_RETURN),
    "surrogate_returned/check": check(SURROGATE_RETURN),
    "surrogate_returned/call": call(SURROGATE_RETURN),
    "surrogate_printed/fast": fast(SURROGATE_PRINT),
    "surrogate_exit/judge": judge(SURROGATE_EXIT),
    "surrogate_stdio_raise/stdio": stdio("raise ValueError(chr(0xD800))\n"),
    "surrogate_stdio_exit/stdio": stdio("import sys\nsys.exit(chr(0xD800))\n"),
    "surrogate_stdio_bytes/stdio": stdio("import sys\nsys.stdout.buffer.write(b'\\xed\\xa0\\x80\\n')\n"),
    "sNaN/stdio": stdio("print('sNaN')\n"),
    "minus_sNaN/stdio": stdio("print('-sNaN')\n"),
    "sNaN_payload/stdio": stdio("print('sNaN123')\n"),
    "NaN/stdio": stdio("print('NaN')\n"),
    "Infinity/stdio": stdio("print('Infinity')\n"),
    "sNaN_among_numbers/stdio": {"kind": "stdio", "program": "print('1 sNaN 3')\n",
                                 "tests": [{"input": "", "output": "1 2 3\n"}]},
    "sNaN_expected/stdio": stdio("print(4)\n", out="sNaN\n"),
    "flood_then_sleep/fast": fast(FLOOD_THEN_SLEEP),
    "flood_then_sleep/judge": judge(FLOOD_THEN_SLEEP),
    "flood_then_sleep/call": call(FLOOD_THEN_SLEEP),
    "flood_at_load/fast": fast(FLOOD_AT_LOAD),
    "flood_at_load/call": call(FLOOD_AT_LOAD),
    "flood_forever_big_requests/call": call(FLOOD_FOREVER, inputs=[(BIG_INPUT,)] * 3, expected=[1, 1, 1]),
    "flood_forever/judge": judge(FLOOD_FOREVER),
    "header_stall_at_load/fast": fast(HEADER_STALL_LOAD),
    "header_stall_at_load/judge": judge(HEADER_STALL_LOAD),
    "header_stall_in_call/fast": fast(HEADER_STALL_CALL),
    "header_stall_in_call/judge": judge(HEADER_STALL_CALL),
    "header_stall_in_call/call": call(HEADER_STALL_CALL),
    "header_huge/fast": fast(HEADER_HUGE),
    "dag/fast": fast(DAG),
    "dag/judge": judge(DAG),
    "dag/check": check(DAG),
    "dag/call": call(DAG),
    "dag_dict/fast": fast(DAG_DICT),
    "dag_dict/call": call(DAG_DICT),
    "dag_inside_list/judge": {"kind": "assert", "setup": "", "entry_point": "f", "program": DAG_IN_LIST,
                              "tests": ["assert f(2)[0] == 4 and len(f(2)[1]) == 2"]},
    "big_return/fast": dict(fast(BIG_RETURN), timeout=10.0),
    "big_return/call": dict(call(BIG_RETURN), timeout=10.0),
    "big_raw_frame/fast": dict(fast(BIG_RAW), timeout=10.0),
    "nones_raw_frame/fast": dict(fast(NONES_RAW), timeout=10.0),
}
CONTROL = {"fast": fast(GOOD), "judge": judge(GOOD), "check": check(GOOD), "call": call(GOOD),
           "stdio": stdio(GOOD_STDIO)}


def utf8_json(r):
    """The result as strict UTF-8 JSON, as 03 and 06 write it (raises on a lone surrogate)."""
    return json.dumps(r, ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="module")
def harnessed():
    """Every hostile job, each followed by a correct job of the same shape, in one run of one pool."""
    jobs, keys = [], []
    for name, job in HOSTILE.items():
        shape = name.split("/")[1]
        keys += [(name, "hostile"), (name, "control")]
        jobs += [dict(job, timeout=job.get("timeout", 1.5)), dict(CONTROL[shape], timeout=1.5)]
    t0 = time.monotonic()
    with Sandbox(workers=2, timeout=1.5, memory_mb=1024, max_output_bytes=1 << 20) as sb:
        out = dict(sb.run(jobs))
    wall = time.monotonic() - t0
    assert sorted(out) == list(range(len(jobs))), "exactly one result per job"
    return {k: out[i] for i, k in enumerate(keys)}, wall


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_gets_one_prompt_non_passing_result(harnessed, name):
    res, _ = harnessed
    r = res[(name, "hostile")]
    assert not r["passed"] and r["status"] != "passed", (name, r)
    assert r["status"] in sandbox.STATUSES and len(r["test_status"]) == r["tests_total"], r
    # the worker's own deadlines answered, not the pool's backstop (which replaces the worker and says "killed")
    assert r["status"] != "killed", (name, r)
    assert r["seconds"] < BOUND, (name, r)
    utf8_json(r)   # every text in the result is encodable


@pytest.mark.parametrize("name", list(HOSTILE))
def test_correct_program_after_it_passes(harnessed, name):
    res, _ = harnessed
    r = res[(name, "control")]
    assert r["passed"], (name, r)


def test_the_whole_hostile_run_is_bounded(harnessed):
    _, wall = harnessed
    assert wall < 4 * BOUND, wall


# ================================================================================================================
# through 03_execute.py and 06_eval.py

# (sample id, task, code, passes?)
SAMPLES = [
    ("surrogate_at_load", "t", SURROGATE_LOAD, False),
    ("surrogate_raised", "t", SURROGATE_RAISE, False),
    ("surrogate_type_name", "t", SURROGATE_TYPE, False),
    ("surrogate_returned", "t", SURROGATE_RETURN, False),
    ("surrogate_printed", "t", SURROGATE_PRINT, False),
    ("surrogate_exit", "t", SURROGATE_EXIT, False),
    ("flood_then_sleep", "t", FLOOD_THEN_SLEEP, False),
    ("flood_forever", "t", FLOOD_FOREVER, False),
    ("header_stall_in_call", "t", HEADER_STALL_CALL, False),
    ("header_stall_at_load", "t", HEADER_STALL_LOAD, False),
    ("dag", "t", DAG, False),
    ("sNaN", "s", "print('sNaN')\n", False),
    ("NaN", "s", "print('NaN')\n", False),
    ("Infinity", "s", "print('Infinity')\n", False),
    ("surrogate_stdio_raise", "s", "raise ValueError(chr(0xD800))\n", False),
    ("surrogate_stdio_exit", "s", "import sys\nsys.exit(chr(0xD800))\n", False),
    ("surrogate_stdio_bytes", "s", "import sys\nsys.stdout.buffer.write(b'\\xed\\xa0\\x80\\n')\n", False),
]
TASKS = [
    {"task_id": "t", "instruction": "Double x.", "entry_point": "f", "setup": "",
     "tests": ["assert f(2) == 4", "x = f(3)\nassert x == 6, x"]},
    {"task_id": "s", "instruction": "Double the number on stdin.", "entry_point": None, "setup": "",
     "tests": [{"input": "2\n", "output": "4\n"}, {"input": "5\n", "output": "10"}]},
]


def _samples():
    """Each hostile sample followed by a correct one of its task: (records, {(task, sample_id): passes?})."""
    recs, want = [], {}
    for i, (name, task, code, ok) in enumerate(SAMPLES):
        recs.append({"task_id": task, "sample_id": 2 * i, "code": code, "name": name})
        want[(task, 2 * i)] = ok
        recs.append({"task_id": task, "sample_id": 2 * i + 1, "code": GOOD if task == "t" else GOOD_STDIO,
                     "name": "control"})
        want[(task, 2 * i + 1)] = True
    return recs, want


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")   # ensure_ascii: the samples themselves carry no lone surrogate


def _read_strict(path):
    """Every line strict UTF-8 and valid JSON."""
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")   # strict: a lone surrogate written raw would raise here
    assert text.endswith("\n"), "the last record is torn"
    return [json.loads(line) for line in text.splitlines()]


def _check_records(recs, want, names):
    keys = [(r["task_id"], r["sample_id"]) for r in recs]
    assert len(keys) == len(set(keys)), "a sample got two records"
    assert set(keys) == set(want), f"missing records: {sorted(set(want) - set(keys))[:10]}"
    wrong = [(names[k], k, r["status"], r["error"]) for r, k in zip(recs, keys) if r["passed"] != want[k]]
    assert wrong == [], wrong
    for r in recs:
        assert r["status"] != "killed", (names[(r["task_id"], r["sample_id"])], r)


def test_03_execute_survives_every_hostile_program(tmp_path):
    recs, want = _samples()
    names = {(r["task_id"], r["sample_id"]): r["name"] for r in recs}
    _write_jsonl(tmp_path / "tests.jsonl", TASKS)
    _write_jsonl(tmp_path / "samples.jsonl", [dict(r, prompt="p", completion=r["code"], model="m", round=0)
                                              for r in recs])
    out = tmp_path / "ex.jsonl"
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, os.path.join(REPO, "03_execute.py"), "--samples", str(tmp_path / "samples.jsonl"),
                        "--tests", str(tmp_path / "tests.jsonl"), "--output", str(out), "--workers", "2",
                        "--timeout", "1.5", "--memory_mb", "1024"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    _check_records(_read_strict(out), want, names)
    assert time.monotonic() - t0 < 4 * BOUND


def test_06_eval_survives_every_hostile_program(tmp_path):
    recs, want = _samples()
    names = {(r["task_id"], r["sample_id"]): r["name"] for r in recs}
    _write_jsonl(tmp_path / "tests.jsonl", TASKS)
    _write_jsonl(tmp_path / "s.jsonl", recs)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", "jsonl", "--data_path",
                        str(tmp_path / "tests.jsonl"), "--samples", str(tmp_path / "s.jsonl"), "--output_dir", str(out),
                        "--workers", "2", "--timeout", "1.5", "--memory_mb", "1024", "--k", "1"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    _check_records(_read_strict(out / "executions.jsonl"), want, names)
    assert os.path.exists(out / "results.json")


def test_06_eval_on_humaneval_survives_surrogates(tmp_path):
    import gzip
    path = os.path.join(SHARED_DATA, "humaneval", "HumanEval.jsonl.gz")
    if not os.path.exists(path):
        pytest.skip(f"{path} not present")
    with gzip.open(path, "rt") as f:
        row = next(r for r in map(json.loads, f) if r["task_id"] == "HumanEval/0")
    hostile = ["    raise ValueError(chr(0xD800))\n", "    return chr(0xD800)\n",
               "    raise type(chr(0xD800), (ValueError,), {})(chr(0xDC00))\n",
               "    print(chr(0xD800))\n", "    a = []\n    for _ in range(200):\n        a = [a, a]\n    return a\n"]
    rows, want = [], {}
    for i, comp in enumerate(hostile):
        rows.append({"task_id": "HumanEval/0", "sample_id": 2 * i, "completion": comp})
        rows.append({"task_id": "HumanEval/0", "sample_id": 2 * i + 1, "completion": row["canonical_solution"]})
        want[("HumanEval/0", 2 * i)], want[("HumanEval/0", 2 * i + 1)] = False, True
    _write_jsonl(tmp_path / "s.jsonl", rows)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", "humaneval", "--data_path",
                        path, "--samples", str(tmp_path / "s.jsonl"), "--output_dir", str(out), "--workers", "2",
                        "--k", "1"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    names = {k: f"sample {k[1]}" for k in want}
    _check_records(_read_strict(out / "executions.jsonl"), want, names)
