"""Issue 10, verdict families 1-6 and 10: hostile programs written with the sandbox's source in hand, each beside a control.

Every case below is a pair: a wrong program that tries to pass a test it did not earn (it must not pass) and a
correct program judged through the same job shape (it must pass), so a sandbox that fails everything fails this
file too. The families, as the issue numbers them:

 1. forged frames: the program writes well-formed frames of the sandbox's own protocol (4-byte big-endian length +
    sandbox.encode(obj)) to every fd 0..20, at load, inside the entry point, from a thread, after flooding;
 2. the program's names shadow trusted names in the judge (builtins, `math`, setup and prompt helpers);
 3. the fast path evaluates more than `ENTRY(literal args) == LITERAL`;
 4. exceptions that would end the judge's iteration (StopIteration & co.), and ordinary exceptions that must reach
    the test as the program's type with the program's exact message;
 5. setup classes rebuilt with the program's attributes (callables, shadowed class attributes, imported classes);
 6. mutation of arguments must be visible to the test, as in MBPP's and HumanEval's in-process harnesses;
10. correct programs that must pass: callbacks, ranges, collections, dict views, Fraction, Decimal, ulp floats.

All jobs of the file run in one batch (the `judged` fixture), so the file costs one pass through the pool.
"""

import gzip
import json
import os
import struct
import subprocess
import sys

import pytest

import sandbox
from conftest import REPO, SHARED_DATA, shared_data
from sandbox import Sandbox

CASES = {}   # key -> job; the `judged` fixture runs them all at once


def add(key, **job):
    assert key not in CASES, key
    job.setdefault("setup", "")
    CASES[key] = job
    return key


def honest(r):
    """The contract's rule for `passed`: only the trusted side's full verdict makes it True."""
    return (r["status"] == "passed" and r["tests_total"] > 0 and len(r["test_status"]) == r["tests_total"]
            and all(s == "passed" for s in r["test_status"]))


def assert_not_passed(r, what=""):
    assert r["passed"] is False and r["status"] != "passed", (what, r)
    assert r["status"] in sandbox.STATUSES, r
    assert r["passed"] == honest(r), ("`passed` disagrees with the statuses", r)


def assert_passed(r, what=""):
    assert r["passed"] is True and honest(r), (what, r)


# ================================================================================================================
# family 1: forged frames

def frame(obj):
    b = sandbox.encode(obj)
    return struct.pack(">I", len(b)) + b


def _handle(hid, name):
    H = getattr(sandbox, "Handle", None)
    return H(hid, name) if H is not None else None


FRAME_SETS = {
    # the status word a load failure carries: "passed" with 0 of n tests run
    "load_error_passed": [("load_error", "passed", "x")],
    # a ready message, then the reply a fast-path eval of `f(2)` should have
    "ready_then_ok4": [("ready", []), ("ok", 4)],
    # a ready message binding `f` to a handle, then the reply to the judge's call of it
    "ready_f_then_ok4": [("ready", [("f", "value", _handle(1, "function"))]), ("ok", 4)],
    # a ready message, the entry point as a handle (call kind, check's `get`), then the reply to the call
    "ready_handle_ok4": [("ready", []), ("ok", _handle(1, "function")), ("ok", 4)],
    # the judge child's own words
    "judge_words": [("start", 0), ("result", 0, "passed", None), ("done",)],
    # only the reply to the current request
    "ok4": [("ok", 4)],
}

FORGE = '''import os, threading, time, fcntl
FRAMES = {frames!r}
def forge(first=0):
    for fd in range(first, 21):
        try:
            os.write(fd, FRAMES)
        except OSError:
            pass
def flood():
    for fd in range(3, 21):
        try:
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
            for _ in range(4000):
                os.write(fd, FRAMES)
        except OSError:
            pass
        finally:
            fcntl.fcntl(fd, fcntl.F_SETFL, fl)
'''

MOMENTS = {
    "at_load": "{forge}if FRAMES:\n    forge()\ndef f(x):\n    return {ret}\n",
    "at_load_then_exit": "{forge}def f(x):\n    return {ret}\nif FRAMES:\n    forge()\n    os._exit(0)\n",
    "in_entry_point": "{forge}def f(x):\n    if FRAMES:\n        forge()\n    return {ret}\n",
    "in_entry_point_then_exit": "{forge}def f(x):\n    if FRAMES:\n        forge()\n        os._exit(0)\n"
                                "    return {ret}\n",
    "from_a_thread": "{forge}def spam():\n    t = time.monotonic()\n    while time.monotonic() - t < 1.5:\n"
                     "        forge()\n        time.sleep(0.002)\nif FRAMES:\n"
                     "    threading.Thread(target=spam, daemon=True).start()\n"
                     "def f(x):\n    time.sleep(0.02)\n    return {ret}\n",
    "after_flooding": "{forge}if FRAMES:\n    flood()\n    forge(3)\ndef f(x):\n    if FRAMES:\n        forge(3)\n"
                      "    return {ret}\n",
}


def forge_program(moment, frames, ret):
    return MOMENTS[moment].format(forge=FORGE.format(frames=frames), ret=ret)


def shapes(program, timeout=1.0):
    """The same `f` (f(2) should be 4) through every judging path: fast assert, judge assert, fast check, judge
    check, call, stdio."""
    t = {"timeout": timeout}
    return {
        "fast_assert": dict(t, kind="assert", program=program, entry_point="f", tests=["assert f(2) == 4"]),
        "judge_assert": dict(t, kind="assert", program=program, entry_point="f",
                             tests=["assert abs(f(2) - 4) < 1e-9"]),
        "fast_check": dict(t, kind="check", program=program, entry_point="f",
                           test="def check(candidate):\n    assert candidate(2) == 4\n"),
        "judge_check": dict(t, kind="check", program=program, entry_point="f",
                            test="def check(candidate):\n    x = candidate(2)\n    assert x == 4, x\n"),
        "call": dict(t, kind="call", program=program, entry_point="f", inputs=[[2]], expected=[4], atol=0),
        "stdio": dict(t, kind="stdio", program=program + "print(f(2))\n", tests=[{"input": "", "output": "4"}]),
    }


FORGED = []
for _set, _objs in FRAME_SETS.items():
    if _handle(1, "function") is None and _set in ("ready_f_then_ok4", "ready_handle_ok4"):
        continue   # sandbox.Handle is gone: these frames cannot be built
    _frames = b"".join(frame(o) for o in _objs)
    for _moment in MOMENTS:
        for _shape, _job in shapes(forge_program(_moment, _frames, "0")).items():
            FORGED.append(add(f"forge/{_set}/{_moment}/{_shape}", **_job))
PROC_FDS = """import os
FRAMES = {frames!r}
def f(x):
    me = os.getpid()
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            fds = os.listdir('/proc/' + p + '/fd')
        except OSError:
            continue
        for fd in fds:
            try:
                w = os.open('/proc/' + p + '/fd/' + fd, os.O_WRONLY | os.O_NONBLOCK)
                os.write(w, FRAMES)
            except OSError:
                pass
    return 0
"""
_frames = b"".join(frame(o) for o in FRAME_SETS["judge_words"] + FRAME_SETS["load_error_passed"])
for _shape, _job in shapes(PROC_FDS.format(frames=_frames)).items():
    FORGED.append(add(f"forge/other_processes_fds/{_shape}", **_job))
FORGED_CONTROLS = []
for _moment in MOMENTS:
    for _shape, _job in shapes(forge_program(_moment, b"", "x * 2")).items():
        FORGED_CONTROLS.append(add(f"forge-control/{_moment}/{_shape}", **_job))


# ================================================================================================================
# family 2: the program's names shadow trusted names (J-path shapes; `entry_point` names the function under test)

# (id, hostile program, correct program, kind, test(s), setup)
SHADOWS = [
    ("abs", "def abs(x):\n    return 0\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2\n",
     "assert", ["assert abs(f(2) - 4) < 1e-9"], ""),
    ("abs_builtins_patch", "import builtins\nbuiltins.abs = lambda x: 0\ndef f(x):\n    return 0\n",
     "def f(x):\n    return x * 2\n", "assert", ["assert abs(f(2) - 4) < 1e-9"], ""),
    ("sorted", "def sorted(*a, **k):\n    return [1, 2, 3]\ndef f(x):\n    return []\n",
     "def f(x):\n    return list(x)\n", "assert", ["assert sorted(f([3, 1, 2])) == [1, 2, 3]"], ""),
    ("sorted_builtins_patch", "import builtins\nbuiltins.sorted = lambda *a, **k: [1, 2, 3]\ndef f(x):\n"
     "    return []\n", "def f(x):\n    return list(x)\n", "assert", ["assert sorted(f([3, 1, 2])) == [1, 2, 3]"],
     ""),
    ("set", "def set(*a):\n    return {1, 2}\ndef f(x):\n    return []\n", "def f(x):\n    return x\n",
     "assert", ["assert set(f([2, 1, 2])) == {1, 2}"], ""),
    ("len", "def len(x):\n    return 3\ndef f(n):\n    return []\n", "def f(n):\n    return [0] * n\n",
     "assert", ["assert len(f(3)) == 3"], ""),
    ("range_in_check_loop", "def range(*a):\n    return [0]\ndef f(x):\n    return 0 if x == 0 else -1\n",
     "def f(x):\n    return x * x\n", "check",
     "def check(candidate):\n    for i in range(5):\n        assert candidate(i) == i * i\n", ""),
    ("round", "def round(x, n=None):\n    return 4\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2.0\n",
     "assert", ["assert round(f(2), 2) == 4"], ""),
    ("tuple", "def tuple(x):\n    return (1, 2)\ndef f(n):\n    return []\n",
     "def f(n):\n    return [i + 1 for i in range(n)]\n", "assert", ["assert tuple(f(2)) == (1, 2)"], ""),
    ("sum", "def sum(x, start=0):\n    return 10\ndef f(n):\n    return []\n",
     "def f(n):\n    return [i + 1 for i in range(n)]\n", "assert", ["assert sum(f(4)) == 10"], ""),
    ("all", "def all(x):\n    return True\ndef f(x):\n    return -1\n", "def f(x):\n    return x\n",
     "assert", ["assert all(f(x) > 0 for x in [1, 2])"], ""),
    ("any", "def any(x):\n    return False\ndef f(x):\n    return -1\n", "def f(x):\n    return x\n",
     "assert", ["assert not any(f(x) < 0 for x in [1, 2])"], ""),
    ("isinstance", "def isinstance(*a):\n    return True\ndef f(x):\n    return '1'\n", "def f(x):\n    return x\n",
     "assert", ["assert isinstance(f(1), int)"], ""),
    ("str", "def str(x):\n    return '4'\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2\n",
     "assert", ["assert str(f(2)) == '4'"], ""),
    ("list", "def list(x):\n    return [1, 2, 3]\ndef f(n):\n    return (3, 2, 1)\n",
     "def f(n):\n    return (1, 2, 3)\n", "assert", ["assert list(f(3)) == [1, 2, 3]"], ""),
    ("int", "def int(x):\n    return 4\ndef f(x):\n    return '0'\n", "def f(x):\n    return '4'\n",
     "assert", ["assert int(f(2)) == 4"], ""),
    ("float", "def float(x):\n    return 4.0\ndef f(x):\n    return 'x'\n", "def f(x):\n    return '4'\n",
     "assert", ["assert float(f(2)) == 4.0"], ""),
    ("max", "def max(*a, **k):\n    return 9\ndef f(n):\n    return [1]\n", "def f(n):\n    return [1, 9, 3]\n",
     "assert", ["assert max(f(3)) == 9"], ""),
    ("min", "def min(*a, **k):\n    return 0\ndef f(n):\n    return [5]\n", "def f(n):\n    return [3, 0, 5]\n",
     "assert", ["assert min(f(3)) == 0"], ""),
    ("zip", "def zip(*a):\n    return iter([])\ndef f(n):\n    return [0, 0]\n", "def f(n):\n    return [1, 2]\n",
     "assert", ["for a, b in zip(f(2), [1, 2]):\n    assert a == b"], ""),
    ("map", "def map(*a):\n    return iter([True])\ndef f(x):\n    return False\n",
     "def f(x):\n    return x > 0\n", "assert", ["assert all(map(f, [1, 2, 3]))"], ""),
    ("enumerate", "def enumerate(x):\n    return iter([])\ndef f(n):\n    return [9] * n\n",
     "def f(n):\n    return [i for i in range(n)]\n", "assert", ["for i, v in enumerate(f(3)):\n    assert v == i"],
     ""),
    ("print", "def print(*a, **k):\n    return None\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2\n",
     "assert", ["print('checking', f(2))\nassert f(2) == 2 * 2"], ""),
    ("AssertionError", "class AssertionError(Exception):\n    pass\ndef f(x):\n    return 0\n",
     "def f(x):\n    return x * 2\n", "assert", ["if f(2) != 4:\n    raise AssertionError('wrong')"], ""),
    ("AssertionError_builtins_patch", "import builtins\nbuiltins.AssertionError = type('AssertionError', "
     "(Exception,), {})\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2\n", "assert",
     ["assert f(2) == 2 * 2"], ""),
    ("ValueError_is_AssertionError", "ValueError = AssertionError\ndef f(x):\n    return 0\n",
     "def f(x):\n    return x * 2\n", "assert", ["try:\n    assert f(2) == 4\nexcept ValueError:\n    pass"], ""),
    ("Exception_is_AssertionError", "Exception = AssertionError\ndef f(x):\n    return 0\n",
     "def f(x):\n    return x * 2\n", "assert",
     ["try:\n    r = f(2)\nexcept Exception:\n    r = None\nassert r == 2 * 2"], ""),
    ("math_fake_instance", "import math\nclass _M:\n    def isclose(self, *a, **k):\n        return True\n"
     "math = _M()\ndef f(x):\n    return 0.0\n", "import math\ndef f(x):\n    return math.sqrt(x) ** 2 * 2\n",
     "assert", ["assert math.isclose(f(2), 4.0)"], ""),
    ("math_fake_sys_modules", "import sys, types\n_m = types.ModuleType('math')\n_m.isclose = lambda *a, **k: True\n"
     "sys.modules['math'] = _m\nimport math\ndef f(x):\n    return 0.0\n",
     "import math\ndef f(x):\n    return math.sqrt(x) ** 2 * 2\n", "assert", ["assert math.isclose(f(2), 4.0)"], ""),
    ("math_is_fractions", "import fractions as math\nmath.isclose = lambda *a, **k: True\ndef f(x):\n"
     "    return 0.0\n", "import math\ndef f(x):\n    return math.sqrt(x) ** 2 * 2\n", "assert",
     ["assert math.isclose(f(2), 4.0)"], ""),
    ("math_patched", "import math\nmath.isclose = lambda *a, **k: True\ndef f(x):\n    return 0.0\n",
     "import math\ndef f(x):\n    return math.sqrt(x) ** 2 * 2\n", "assert", ["assert math.isclose(f(2), 4.0)"], ""),
    ("isclose_from_setup", "def isclose(*a, **k):\n    return True\ndef f(x):\n    return 0.0\n",
     "def f(x):\n    return x * 2.0\n", "assert", ["assert isclose(f(2), 4.0)"], "from math import isclose\n"),
    ("test_helper", "def _ref(x):\n    return 0\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2\n",
     "check", "def _ref(x):\n    return x * 2\n\ndef check(candidate):\n    for i in range(4):\n"
     "        assert candidate(i) == _ref(i)\n", ""),
    ("setup_helper", "def double(x):\n    return 0\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2\n",
     "assert", ["assert f(3) == double(3)"], "def double(x):\n    return x * 2\n"),
]


def _shadow_job(kind, program, tests, setup):
    if kind == "check":
        return dict(kind="check", program=program, entry_point="f", test=tests, setup=setup)
    return dict(kind="assert", program=program, entry_point="f", tests=tests, setup=setup)


for _id, _bad, _good, _kind, _tests, _setup in SHADOWS:
    add(f"shadow/{_id}", **_shadow_job(_kind, _bad, _tests, _setup))
    add(f"shadow-control/{_id}", **_shadow_job(_kind, _good, _tests, _setup))
# a correct program may shadow builtins for its own use: inside the program its names are its own
add("shadow-control/program_uses_its_own_max", kind="assert", entry_point="f",
    program="def max(a, b):\n    return a if a > b else b\ndef f(x, y):\n    return max(x, y)\n",
    tests=["assert abs(f(2, 3) - 3) < 1e-9", "assert f(5, 1) == 5"])


def humaneval_rows():
    path = os.path.join(SHARED_DATA, "humaneval", "HumanEval.jsonl.gz")
    if not os.path.exists(path):
        return None
    with gzip.open(path, "rt") as f:
        return {r["task_id"]: r for r in map(json.loads, f)}


HE = humaneval_rows()
# completions that redefine the prompt helper the test trusts, so that their wrong answer checks out
HE_HOSTILE = {
    "HumanEval/32": "    return 0.0\n\n\ndef poly(xs, x):\n    return 0.0\n",
    "HumanEval/38": "    return s\n\n\ndef encode_cyclic(s):\n    return s\n",
}
if HE is not None:
    for _tid, _comp in HE_HOSTILE.items():
        _r = HE[_tid]
        _base = dict(kind="check", test=_r["test"], entry_point=_r["entry_point"], setup=_r["prompt"], timeout=3.0)
        add(f"prompt_helper/{_tid}", program=_r["prompt"] + _comp, **_base)
        add(f"prompt_helper-control/{_tid}", program=_r["prompt"] + _r["canonical_solution"], **_base)


# ================================================================================================================
# family 3: the fast path takes only `assert ENTRY(literal args) == LITERAL`

LYING = ("class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
         "    def __bool__(self): return True\n    def __gt__(self, o): return True\n"
         "    def __str__(self): return '4'\n    def __repr__(self): return '4'\n    __hash__ = object.__hash__\n")

# (id, hostile program, correct program, kind, tests)
FAST = [
    ("eq_is_true_lying_eq", LYING + "def f(x):\n    return A()\n", "def f(x):\n    return x * 2\n",
     "assert", ["assert (f(2) == 4) == True"]),
    ("isclose_is_true_patched_math", "import math\nmath.isclose = lambda *a, **k: True\ndef f(x):\n    return 0.0\n",
     "import math\ndef f(x):\n    return 2.0 * x\n", "assert", ["assert math.isclose(f(2), 4.0) == True"]),
    ("isclose_is_true_fake_math", "class _M:\n    def isclose(self, *a, **k):\n        return True\nmath = _M()\n"
     "def f(x):\n    return 0.0\n", "import math\ndef f(x):\n    return 2.0 * x\n", "assert",
     ["assert math.isclose(f(2), 4.0) == True"]),
    ("isinstance_is_true_defined", "def isinstance(*a):\n    return True\ndef f(x):\n    return '1'\n",
     "def f(x):\n    return x\n", "assert", ["assert isinstance(f(1), int) == True"]),
    ("isinstance_is_true_builtins_patch", "import builtins\nbuiltins.isinstance = lambda *a: True\n"
     "def f(x):\n    return '1'\n", "def f(x):\n    return x\n", "assert", ["assert isinstance(f(1), int) == True"]),
    ("all_genexp_is_true_lying_gt", LYING + "def f(x):\n    return A()\n", "def f(x):\n    return x\n",
     "assert", ["assert all(f(x) > 0 for x in [1, 2]) == True"]),
    ("all_genexp_is_true_defined_all", "def all(x):\n    return True\ndef f(x):\n    return -1\n",
     "def f(x):\n    return x\n", "assert", ["assert all(f(x) > 0 for x in [1, 2]) == True"]),
    ("real_property", "class I(int):\n    real = property(lambda s: 4)\ndef f(x):\n    return I(0)\n",
     "def f(x):\n    return x * 2\n", "assert", ["assert f(2).real == 4"]),
    ("str_of_lying_object", LYING + "def f(x):\n    return A()\n", "def f(x):\n    return x * 2\n",
     "assert", ["assert str(f(2)) == '4'"]),
    ("str_of_int_subclass", "class I(int):\n    def __str__(self): return '4'\n    __repr__ = __str__\n"
     "def f(x):\n    return I(0)\n", "def f(x):\n    return x * 2\n", "assert", ["assert str(f(2)) == '4'"]),
    ("str_defined", "def str(x):\n    return '4'\ndef f(x):\n    return 0\n", "def f(x):\n    return x * 2\n",
     "assert", ["assert str(f(2)) == '4'"]),
    ("subscript_of_lying_list", "class L(list):\n    def __getitem__(self, i): return 4\ndef f(x):\n"
     "    return L([0])\n", "def f(x):\n    return [x * 2]\n", "assert", ["assert f(2)[0] == 4"]),
    ("len_of_lying_list", "class L(list):\n    def __len__(self): return 3\ndef f(n):\n    return L()\n",
     "def f(n):\n    return [0] * n\n", "assert", ["assert len(f(3)) == 3"]),
    ("neg_of_lying_object", "class A:\n    def __neg__(self): return -4\ndef f(x):\n    return A()\n",
     "def f(x):\n    return x * 2\n", "assert", ["assert -f(2) == -4"]),
    ("add_of_int_subclass", "class I(int):\n    def __add__(self, o): return 4\ndef f(x):\n    return I(0)\n",
     "def f(x):\n    return x * 2\n", "assert", ["assert f(2) + 0 == 4"]),
    ("argument_computed_by_program", "def abs(x):\n    return 'magic'\ndef f(x):\n"
     "    return 4 if x == 'magic' else 0\n", "def f(x):\n    return x * 2\n", "assert", ["assert f(abs(-2)) == 4"]),
    ("check_eq_is_true_lying_eq", LYING + "def f(x):\n    return A()\n", "def f(x):\n    return x * 2\n",
     "check", "def check(candidate):\n    assert (candidate(2) == 4) == True\n"),
    ("check_isinstance_is_true_patch", "import builtins\nbuiltins.isinstance = lambda *a: True\n"
     "def f(x):\n    return '1'\n", "def f(x):\n    return x\n", "check",
     "def check(candidate):\n    assert isinstance(candidate(1), int) == True\n"),
    ("check_sorted_defined", "def sorted(*a, **k):\n    return [1, 2, 3]\ndef f(x):\n    return []\n",
     "def f(x):\n    return list(x)\n", "check",
     "def check(candidate):\n    assert sorted(candidate([3, 1, 2])) == [1, 2, 3]\n"),
    # no entry_point given (03's jobs): a builtin the program shadows, a helper the setup defines
    ("no_entry_point_shadowed_builtin", "def len(x):\n    return 0\ndef f(x):\n    return [0] * x\n",
     "def f(x):\n    return []\n", "assert-noentry", ["assert len(f(3)) == 0"]),
    ("no_entry_point_setup_helper_literal_args", "def verify(x):\n    return True\ndef f(x):\n    return 0\n",
     "def f(x):\n    return 2 * x\n", "assert-noentry-setup", ["assert verify(2) == True"]),
]
for _id, _bad, _good, _kind, _tests in FAST:
    if _kind.startswith("assert-noentry"):
        _setup = "def verify(x):\n    return f(x) == 2 * x\n" if _kind.endswith("setup") else ""
        add(f"fast/{_id}", kind="assert", program=_bad, tests=_tests, setup=_setup)
        add(f"fast-control/{_id}", kind="assert", program=_good, tests=_tests, setup=_setup)
        continue
    add(f"fast/{_id}", **_shadow_job(_kind, _bad, _tests, ""))
    add(f"fast-control/{_id}", **_shadow_job(_kind, _good, _tests, ""))


# ================================================================================================================
# family 4: exceptions that would steer the judge; ordinary exceptions reach the test as the program's own

# (id, test, correct expression of x, threshold past which the hostile f raises)
ITERATIONS = [
    ("all_map", "assert all(map(f, [1, 2, 3]))", "x > 0", 1),
    ("zip_map_loop", "xs = [1, 2, 3]\nfor x, y in zip(xs, map(f, xs)):\n    assert y == x * 2", "x * 2", 1),
    ("filter_list", "assert list(filter(f, [2, 4, 5, 7])) == [2, 4]", "x % 2 == 0", 4),
    ("for_map_loop", "for y in map(f, [1, 2, 3]):\n    assert y == 7", "7", 1),
    ("genexp_sum", "assert sum(f(x) for x in [1, 2, 3]) == 3", "1", 1),
]
STOPPERS = {
    "StopIteration": "raise StopIteration",
    "StopIteration_value": "raise StopIteration(True)",
    "StopIteration_subclass": "raise Stop('x')",
    "ValueError_and_StopIteration": "raise Both('x')",
    "StopAsyncIteration": "raise StopAsyncIteration",
    "GeneratorExit": "raise GeneratorExit",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "SystemExit": "raise SystemExit(0)",
    "next_of_empty_iterator": "next(iter(()))",
}
EXC_CLASSES = "class Stop(StopIteration):\n    pass\nclass Both(ValueError, StopIteration):\n    pass\n"
for _id, _test, _expr, _limit in ITERATIONS:
    for _exc, _raise in STOPPERS.items():
        add(f"stop/{_id}/{_exc}", kind="assert", entry_point="f", tests=[_test],
            program=EXC_CLASSES + f"def f(x):\n    if x > {_limit}:\n        {_raise}\n    return {_expr}\n")
    add(f"stop-control/{_id}", kind="assert", entry_point="f", tests=[_test],
        program=EXC_CLASSES + f"def f(x):\n    return {_expr}\n")
    add(f"stop/{_id}/check/StopIteration", kind="check", entry_point="f",
        test="def check(candidate):\n    f = candidate\n" + "".join("    " + ln + "\n" for ln in _test.splitlines()),
        program=f"def f(x):\n    if x > {_limit}:\n        raise StopIteration\n    return {_expr}\n")
    add(f"stop-control/{_id}/check", kind="check", entry_point="f",
        test="def check(candidate):\n    f = candidate\n" + "".join("    " + ln + "\n" for ln in _test.splitlines()),
        program=f"def f(x):\n    return {_expr}\n")

EXPECT_VALUEERROR = "try:\n    f(-1)\nexcept ValueError:\n    pass\nelse:\n    assert False"
EXPECT_MESSAGE = ("try:\n    f(-1)\nexcept ValueError as e:\n    assert str(e) == 'negative', str(e)\n"
                  "else:\n    assert False")
# (id, program, test, must pass?)
RAISES = [
    ("subclass_of_ValueError", "class MyErr(ValueError):\n    pass\ndef f(x):\n    if x < 0:\n"
     "        raise MyErr('negative')\n    return x\n", EXPECT_VALUEERROR, True),
    ("ValueError", "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n",
     EXPECT_VALUEERROR, True),
    ("message_exact", "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n",
     EXPECT_MESSAGE, True),
    ("message_exact_subclass", "class MyErr(ValueError):\n    pass\ndef f(x):\n    if x < 0:\n"
     "        raise MyErr('negative')\n    return x\n", EXPECT_MESSAGE, True),
    ("isinstance_of_exception", "class MyErr(ValueError):\n    pass\ndef f(x):\n    raise MyErr('negative')\n",
     "try:\n    f(-1)\nexcept Exception as e:\n    assert isinstance(e, ValueError) and not isinstance(e, TypeError)",
     True),
    ("KeyError_str", "def f(x):\n    return {}['k']\n",
     "try:\n    f(-1)\nexcept KeyError as e:\n    assert str(e) == \"'k'\", str(e)\nelse:\n    assert False", True),
    ("check_subclass_of_ValueError", "class MyErr(ValueError):\n    pass\ndef f(x):\n    if x < 0:\n"
     "        raise MyErr('negative')\n    return x\n",
     "def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        pass\n    else:\n"
     "        assert False\n", True),
    # wrong programs beside them
    ("no_raise", "def f(x):\n    return x\n", EXPECT_VALUEERROR, False),
    ("TypeError_instead", "def f(x):\n    raise TypeError('negative')\n", EXPECT_VALUEERROR, False),
    ("own_class_named_ValueError", "class ValueError(Exception):\n    pass\ndef f(x):\n"
     "    raise ValueError('negative')\n", EXPECT_VALUEERROR, False),
    ("wrong_message", "def f(x):\n    raise ValueError('positive')\n", EXPECT_MESSAGE, False),
    ("prefixed_message", "def f(x):\n    raise ValueError('ValueError: negative')\n", EXPECT_MESSAGE, False),
]
for _id, _prog, _test, _ok in RAISES:
    if _test.startswith("def check"):
        add(f"raise/{_id}", kind="check", entry_point="f", program=_prog, test=_test)
    else:
        add(f"raise/{_id}", kind="assert", entry_point="f", program=_prog, tests=[_test])


# ================================================================================================================
# family 5: setup classes rebuilt with the program's attributes

PRELUDE = '''from typing import *
from collections import *
from math import *
import math


class ListNode:
    limit = 1000   # a class attribute the trusted method reads

    def __init__(self, val=0, next=None):
        self.val = val
        self.next = next

    def values(self):
        out, p = [], self
        while p is not None and len(out) < self.limit:
            out.append(p.val)
            p = p.next
        return out


def list_node(values):
    head = None
    for v in reversed(values):
        head = ListNode(v, head)
    return head


def same_list(a, b):
    return a.values() == b.values()


def is_same_list(p1, p2):
    if p1 is None and p2 is None:
        return True
    if not p1 or not p2:
        return False
    return p1.val == p2.val and is_same_list(p1.next, p2.next)
'''
REVERSE = ("class Solution:\n    def reverseList(self, head):\n        prev = None\n        while head:\n"
           "            head.next, prev, head = prev, head, head.next\n        return prev\n")
# (id, hostile program, test); every hostile program's list is wrong, the correct REVERSE passes each test
REBUILT = [
    ("callable_shadows_method", "class Solution:\n    def reverseList(self, head):\n"
     "        head.values = lambda: [3, 2, 1]\n        return head\n",
     "def check(candidate):\n    assert same_list(candidate(head=list_node([1, 2, 3])), list_node([3, 2, 1]))\n"),
    ("plain_data_shadows_class_attribute", "class Solution:\n    def reverseList(self, head):\n"
     "        node = ListNode(3, ListNode(2, ListNode(1, ListNode(9))))\n        node.limit = 3\n        return node\n",
     "def check(candidate):\n    assert same_list(candidate(head=list_node([1, 2, 3])), list_node([3, 2, 1]))\n"),
    ("plain_data_shadows_method", "class Solution:\n    def reverseList(self, head):\n"
     "        head.values = [3, 2, 1]\n        return head\n",
     "def check(candidate):\n    r = candidate(head=list_node([1, 2, 3]))\n"
     "    v = r.values if isinstance(r.values, list) else r.values()\n    assert v == [3, 2, 1]\n"),
    ("lying_val", "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
     "    __hash__ = object.__hash__\nclass Solution:\n    def reverseList(self, head):\n"
     "        return ListNode(A(), ListNode(A(), ListNode(A())))\n",
     "def check(candidate):\n    assert is_same_list(candidate(head=list_node([1, 2, 3])), list_node([3, 2, 1]))\n"),
    # UserDict is merely imported by the prelude (`from collections import *`): not a setup class
    ("imported_class_with_shadowing_items", "class Solution:\n    def reverseList(self, head):\n"
     "        u = UserDict()\n        u.items = lambda: [('a', 4)]\n        return u\n",
     "def check(candidate):\n    r = candidate(head=None)\n    assert r == {'a': 4}\n"),
    ("imported_class_with_shadowing_keys", "class Solution:\n    def reverseList(self, head):\n"
     "        u = UserDict({'a': 4, 'z': 0})\n        u.keys = lambda: ['a']\n        return u\n",
     "def check(candidate):\n    r = candidate(head=None)\n    assert dict(r) == {'a': 4}\n"),
]
REBUILT_GOOD = {"imported_class_with_shadowing_items": "class Solution:\n    def reverseList(self, head):\n"
                                                       "        return {'a': 4}\n",
                "imported_class_with_shadowing_keys": "class Solution:\n    def reverseList(self, head):\n"
                                                      "        return {'a': 4}\n"}
for _id, _bad, _test in REBUILT:
    _base = dict(kind="check", setup=PRELUDE, entry_point="Solution().reverseList", test=_test)
    add(f"rebuilt/{_id}", program=_bad, **_base)
    add(f"rebuilt-control/{_id}", program=REBUILT_GOOD.get(_id, REVERSE), **_base)
add("rebuilt-control/reverse_is_same_list", kind="check", setup=PRELUDE, entry_point="Solution().reverseList",
    program=REVERSE, test="def check(candidate):\n    assert is_same_list(candidate(head=list_node([1, 2, 3])), "
                          "list_node([3, 2, 1]))\n    assert candidate(head=None) is None\n")
add("rebuilt-control/imported_deque_is_not_a_setup_class", kind="check", setup=PRELUDE, entry_point="Solution().q",
    program="class Solution:\n    def q(self, n):\n        return deque(range(n))\n",
    test="def check(candidate):\n    assert candidate(2) == deque([0, 1])\n    assert list(candidate(3)) == [0, 1, 2]\n")


# ================================================================================================================
# family 6: mutation of arguments is visible to the test

# (id, test, program that is right for it, program that is wrong for it)
MUTATION = [
    ("list_sorted_in_place", "x = [3, 1, 2]\nf(x)\nassert x == [1, 2, 3]",
     "def f(x):\n    x.sort()\n", "def f(x):\n    return sorted(x)\n"),
    ("list_left_alone", "x = [3, 1, 2]\nassert f(x) == [1, 2, 3]\nassert x == [3, 1, 2]",
     "def f(x):\n    return sorted(x)\n", "def f(x):\n    x.sort()\n    return x\n"),
    ("nested_in_place", "m = [[3, 1], [2, 0]]\nf(m)\nassert m == [[1, 3], [0, 2]]",
     "def f(m):\n    for r in m:\n        r.sort()\n", "def f(m):\n    m = [sorted(r) for r in m]\n"),
    ("nested_left_alone", "m = [[3, 1], [2, 0]]\nassert f(m) == [[1, 3], [0, 2]]\nassert m == [[3, 1], [2, 0]]",
     "def f(m):\n    return [sorted(r) for r in m]\n", "def f(m):\n    for r in m:\n        r.sort()\n    return m\n"),
    ("dict_in_place", "d = {'a': 1}\nf(d)\nassert d == {'a': 1, 'b': 2}",
     "def f(d):\n    d['b'] = 2\n", "def f(d):\n    d = dict(d, b=2)\n"),
    ("dict_left_alone", "d = {'a': 1}\nassert f(d) == {'a': 1, 'b': 2}\nassert d == {'a': 1}",
     "def f(d):\n    return dict(d, b=2)\n", "def f(d):\n    d['b'] = 2\n    return d\n"),
    ("set_in_place", "s = {1, 2}\nf(s)\nassert s == {1, 2, 3}", "def f(s):\n    s.add(3)\n",
     "def f(s):\n    s = s | {3}\n"),
    ("set_left_alone", "s = {1, 2}\nassert f(s) == {1, 2, 3}\nassert s == {1, 2}",
     "def f(s):\n    return s | {3}\n", "def f(s):\n    s.add(3)\n    return s\n"),
    ("alias_sees_it", "x = [3, 1, 2]\ny = x\nf(x)\nassert y == [1, 2, 3] and y is x",
     "def f(x):\n    x.sort()\n", "def f(x):\n    return sorted(x)\n"),
    ("shared_inner_list", "inner = [2, 1]\nm = [inner, inner]\nf(m)\nassert inner == [1, 2] and m == [[1, 2], [1, 2]]",
     "def f(m):\n    m[0].sort()\n", "def f(m):\n    m[0] = sorted(m[0])\n"),
    ("list_inside_tuple", "t = ([3, 1, 2],)\nf(t)\nassert t[0] == [1, 2, 3]",
     "def f(t):\n    t[0].sort()\n", "def f(t):\n    sorted(t[0])\n"),
    ("appends_across_calls", "x = []\nf(x, 1)\nf(x, 2)\nassert x == [1, 2]",
     "def f(x, v):\n    x.append(v)\n", "def f(x, v):\n    x = x + [v]\n"),
]
for _id, _test, _good, _bad in MUTATION:
    add(f"mutation/{_id}", kind="assert", entry_point="f", program=_bad, tests=[_test])
    add(f"mutation-control/{_id}", kind="assert", entry_point="f", program=_good, tests=[_test])
_CHECK_MUT = "def check(candidate):\n    x = [3, 1, 2]\n    candidate(x)\n    assert x == [1, 2, 3]\n"
add("mutation/check_in_place", kind="check", entry_point="f", program="def f(x):\n    return sorted(x)\n",
    test=_CHECK_MUT)
add("mutation-control/check_in_place", kind="check", entry_point="f", program="def f(x):\n    x.sort()\n",
    test=_CHECK_MUT)


# ================================================================================================================
# family 10: correct programs pass (and compare as in plain Python)

COLL = ("from collections import Counter, OrderedDict, defaultdict, deque\nfrom fractions import Fraction\n"
        "from decimal import Decimal\n")
# (id, program, tests, must pass?)
PLAIN = [
    ("lambda_as_key", "def f(xs, key):\n    return sorted(xs, key=key)\n",
     ["assert f([3, 1, 2], key=lambda v: -v) == [3, 2, 1]"], True),
    ("lambda_as_key_ignored", "def f(xs, key):\n    return sorted(xs)\n",
     ["assert f([3, 1, 2], key=lambda v: -v) == [3, 2, 1]"], False),
    ("callback_side_effects", "def f(g, xs):\n    return [g(v) for v in xs]\n",
     ["calls = []\nassert f(lambda v: calls.append(v) or v * 2, [1, 2]) == [2, 4]\nassert calls == [1, 2]"], True),
    ("callback_not_called", "def f(g, xs):\n    return [v * 2 for v in xs]\n",
     ["calls = []\nassert f(lambda v: calls.append(v) or v * 2, [1, 2]) == [2, 4]\nassert calls == [1, 2]"], False),
    ("range_argument", "def f(r):\n    return (type(r).__name__, sum(r), len(r))\n",
     ["assert f(range(5)) == ('range', 10, 5)", "assert f(range(2, 10, 3)) == ('range', 15, 3)"], True),
    ("range_argument_wrong", "def f(r):\n    return ('range', 0, 0)\n", ["assert f(range(5)) == ('range', 10, 5)"],
     False),
    ("Counter_argument", COLL + "def f(c):\n    return c.most_common(1)\n",
     ["assert f(Counter('aab')) == [('a', 2)]"], True),
    ("OrderedDict_argument", COLL + "def f(d):\n    d.move_to_end('a')\n    return list(d)\n",
     ["assert f(OrderedDict([('a', 1), ('b', 2)])) == ['b', 'a']"], True),
    ("defaultdict_argument", COLL + "def f(d):\n    d['x'].append(1)\n    return dict(d)\n",
     ["assert f(defaultdict(list)) == {'x': [1]}"], True),
    ("deque_argument", COLL + "def f(q):\n    q.rotate(1)\n    return list(q)\n",
     ["assert f(deque([1, 2, 3])) == [3, 1, 2]"], True),
    ("returns_deque", COLL + "def f():\n    return deque([1, 2])\n",
     ["assert f() == deque([1, 2])", "assert list(f()) == [1, 2]"], True),
    ("returns_deque_vs_list", COLL + "def f():\n    return deque([1, 2])\n", ["assert f() == [1, 2]"], False),
    ("returns_dict_keys", "def f(d):\n    return d.keys()\n", ["assert f({'a': 1, 'b': 2}) == {'a', 'b'}"], True),
    ("returns_dict_values", "def f(d):\n    return d.values()\n",
     ["assert sorted(f({'a': 1, 'b': 2})) == [1, 2]", "assert list(f({'a': 3})) == [3]"], True),
    ("returns_dict_items", "def f(d):\n    return d.items()\n", ["assert f({'a': 1}) == {('a', 1)}"], True),
    ("returns_Counter", COLL + "def f(s):\n    return Counter(s)\n",
     ["assert f('aab') == Counter({'a': 2, 'b': 1})", "assert f('aab').most_common(1) == [('a', 2)]"], True),
    ("returns_OrderedDict", COLL + "def f():\n    return OrderedDict([('a', 1), ('b', 2)])\n",
     ["assert f() == OrderedDict([('a', 1), ('b', 2)])"], True),
    ("returns_OrderedDict_wrong_order", COLL + "def f():\n    return OrderedDict([('b', 2), ('a', 1)])\n",
     ["assert f() == OrderedDict([('a', 1), ('b', 2)])"], False),
    ("returns_defaultdict", COLL + "def f():\n    d = defaultdict(int)\n    d['a'] = 1\n    return d\n",
     ["d = f()\nassert d == {'a': 1}\nassert d['zz'] == 0"], True),
    ("returns_range", "def f(n):\n    return range(n)\n", ["assert f(3) == range(3)", "assert list(f(3)) == [0, 1, 2]"],
     True),
    ("returns_range_vs_list", "def f(n):\n    return range(n)\n", ["assert f(3) == [0, 1, 2]"], False),
    ("returns_Fraction", COLL + "def f():\n    return Fraction(1, 3)\n", ["assert f() == Fraction(1, 3)"], True),
    ("returns_Fraction_vs_float", COLL + "def f():\n    return Fraction(1, 3)\n", ["assert f() == 1 / 3"], False),
    ("returns_Decimal", COLL + "def f():\n    return Decimal('0.1')\n", ["assert f() == Decimal('0.1')"], True),
    ("returns_Decimal_vs_float", COLL + "def f():\n    return Decimal('0.1')\n", ["assert f() == 0.1"], False),
]
for _id, _prog, _tests, _ok in PLAIN:
    add(f"plain/{_id}", kind="assert", entry_point="f", program=_prog, tests=_tests, setup=COLL)
add("plain/check_test_defined_function", kind="check", entry_point="f", program="def f(g, x):\n    return g(x)\n",
    test="def check(candidate):\n    def inc(v):\n        return v + 1\n    assert candidate(inc, 3) == 4\n"
         "    assert candidate(lambda v: v * 10, 3) == 30\n")
PLAIN_CHECK_OK = {"check_test_defined_function": True}

# a float one ulp off the expected value passes a call job (EvalPlus: atol 1e-6 once a float is expected)
ULP = [
    ("float", "import math\ndef f(x):\n    return math.nextafter(x, 1.0)\n", [[0.3]], [0.3], 0, True),
    ("float_list", "import math\ndef f(x):\n    return [math.nextafter(v, 1.0) for v in x]\n", [[[0.1, 0.2]]],
     [[0.1, 0.2]], 0, True),
    ("float_tuple", "import math\ndef f(x):\n    return tuple(math.nextafter(v, -1.0) for v in x)\n",
     [[(0.1, 0.2)]], [(0.1, 0.2)], 0, True),
    ("float_atol_given", "import math\ndef f(x):\n    return math.nextafter(x, 1.0)\n", [[0.3]], [0.3], 1e-6, True),
    ("int_then_float", "import math\ndef f(x):\n    return x if x == 1 else math.nextafter(x / 10, 1.0)\n",
     [[1], [3]], [1, 0.3], 0, True),
    ("float_off_by_1e-3", "def f(x):\n    return x + 1e-3\n", [[0.3]], [0.3], 0, False),
    ("str_for_float", "def f(x):\n    return '0.3'\n", [[0.3]], [0.3], 0, False),
]
for _id, _prog, _inputs, _expected, _atol, _ok in ULP:
    add(f"ulp/{_id}", kind="call", entry_point="f", program=_prog, inputs=_inputs, expected=_expected, atol=_atol)


# ================================================================================================================
# the batch


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=2, timeout=2.0, memory_mb=512, max_output_bytes=1 << 20) as s:
        yield s


@pytest.fixture(scope="module")
def judged(sb):
    keys = list(CASES)
    out = dict(sb.run([CASES[k] for k in keys]))
    assert sorted(out) == list(range(len(keys))), "exactly one result per job"
    return {k: out[i] for i, k in enumerate(keys)}


def keys(prefix):
    return [k[len(prefix):] for k in CASES if k.startswith(prefix)]


# -- family 1 --

VERDICT_SETS = ("load_error_passed", "judge_words", "other_processes_fds")


@pytest.mark.parametrize("case", [k for k in keys("forge/") if k.split("/")[0] in VERDICT_SETS])
def test_forged_verdicts_never_pass(judged, case):
    """Frames that carry a status word: only the trusted side may decide `passed`."""
    assert_not_passed(judged["forge/" + case], case)


@pytest.mark.parametrize("case", [k for k in keys("forge/") if k.split("/")[0] not in VERDICT_SETS])
def test_forged_replies_never_pass(judged, case):
    """Frames that answer a request before the program's own serving code does (a forged `ready`, the reply 4 to
    the call of f(2) that really returns 0): unsolicited frames on the channel must make the program fail."""
    assert_not_passed(judged["forge/" + case], case)


@pytest.mark.parametrize("case", keys("forge-control/"))
def test_forge_template_with_no_frames_and_a_correct_f_passes(judged, case):
    assert_passed(judged["forge-control/" + case], case)


# -- family 2 --

@pytest.mark.parametrize("case", keys("shadow/"))
def test_program_names_do_not_shadow_trusted_names(judged, case):
    assert_not_passed(judged["shadow/" + case], case)


@pytest.mark.parametrize("case", keys("shadow-control/"))
def test_shadow_controls_pass(judged, case):
    assert_passed(judged["shadow-control/" + case], case)


@pytest.mark.parametrize("tid", sorted(HE_HOSTILE))
def test_redefined_prompt_helper_does_not_pass(judged, tid):
    if HE is None:
        shared_data("humaneval", "HumanEval.jsonl.gz")
    assert_not_passed(judged["prompt_helper/" + tid], tid)
    assert_passed(judged["prompt_helper-control/" + tid], tid)


def test_redefined_prompt_helper_does_not_pass_through_06(tmp_path):
    """06 gives the judge HumanEval's prompt as trusted setup: a completion redefining poly/encode_cyclic fails."""
    path = shared_data("humaneval", "HumanEval.jsonl.gz")
    rows = []
    for tid, comp in HE_HOSTILE.items():
        rows.append({"task_id": tid, "completion": comp})
        rows.append({"task_id": tid, "completion": HE[tid]["canonical_solution"]})
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", "humaneval", "--data_path",
                        path, "--samples", str(samples), "--output_dir", str(out), "--workers", "2", "--k", "1"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    ex = [json.loads(line) for line in open(out / "executions.jsonl")]
    got = sorted((e["task_id"], e["sample_id"], e["passed"]) for e in ex)
    # per task: sample 0 is the hostile completion, sample 1 the canonical one
    assert got == [("HumanEval/32", 0, False), ("HumanEval/32", 1, True),
                   ("HumanEval/38", 0, False), ("HumanEval/38", 1, True)], (got, [e["error"] for e in ex])


# -- family 3 --

@pytest.mark.parametrize("case", keys("fast/"))
def test_fast_path_evaluates_only_the_call(judged, case):
    assert_not_passed(judged["fast/" + case], case)


@pytest.mark.parametrize("case", keys("fast-control/"))
def test_fast_path_controls_pass(judged, case):
    assert_passed(judged["fast-control/" + case], case)


# -- family 4 --

@pytest.mark.parametrize("case", keys("stop/"))
def test_exceptions_never_end_the_judges_iteration(judged, case):
    assert_not_passed(judged["stop/" + case], case)


@pytest.mark.parametrize("case", keys("stop-control/"))
def test_iteration_controls_pass(judged, case):
    assert_passed(judged["stop-control/" + case], case)


@pytest.mark.parametrize("case", [c[0] for c in RAISES])
def test_exceptions_reach_the_test_as_the_programs_own(judged, case):
    ok = dict((c[0], c[3]) for c in RAISES)[case]
    (assert_passed if ok else assert_not_passed)(judged["raise/" + case], case)


# -- family 5 --

@pytest.mark.parametrize("case", keys("rebuilt/"))
def test_rebuilt_setup_objects_carry_plain_data_only(judged, case):
    assert_not_passed(judged["rebuilt/" + case], case)


@pytest.mark.parametrize("case", keys("rebuilt-control/"))
def test_rebuilt_setup_object_controls_pass(judged, case):
    assert_passed(judged["rebuilt-control/" + case], case)


# -- family 6 --

@pytest.mark.parametrize("case", keys("mutation/"))
def test_mutation_is_seen_like_in_process_harnesses(judged, case):
    assert_not_passed(judged["mutation/" + case], case)


@pytest.mark.parametrize("case", keys("mutation-control/"))
def test_mutation_controls_pass(judged, case):
    assert_passed(judged["mutation-control/" + case], case)


# -- family 10 --

@pytest.mark.parametrize("case", keys("plain/"))
def test_values_cross_and_compare_as_in_plain_python(judged, case):
    ok = dict((c[0], c[3]) for c in PLAIN)
    ok.update(PLAIN_CHECK_OK)
    (assert_passed if ok[case] else assert_not_passed)(judged["plain/" + case], case)


@pytest.mark.parametrize("case", [c[0] for c in ULP])
def test_call_floats_are_compared_like_evalplus(judged, case):
    ok = dict((c[0], c[5]) for c in ULP)[case]
    (assert_passed if ok else assert_not_passed)(judged["ulp/" + case], case)
