"""Issue 19, families 3 and 4 (and family 11's in-place changes to the standard containers): which names of a test
come from the program.

The rule: a name in a test resolves to builtins, the setup, the test's own definitions, or a standard-library module
imported by the judge under its exact name; the entry point is the only name that comes from the program (as a
proxy whose calls run in the candidate and return plain data). Nothing the program says about itself is believed.

 3. the program describes itself falsely: a start-up message forged on its channel, or objects whose `__module__`
    and `__qualname__` name a library function, so that the judge would bind a test's name to `builtins.eval` or
    `pickle.loads` and run the program's data inside the judge;
 4. names no trusted code defines: `pi = 0`, a math-like object, `Counter`, `np` with a lying `allclose`, a helper
    the test calls, a class; such a name is a NameError in the test, whoever defines it.
11. in-place changes to deque, Counter, OrderedDict and defaultdict arguments reach the test, like lists' and dicts'.

Every hostile case runs on the "assert" and "check" kinds beside a control (a correct program on a self-contained
test of the same shape) that must pass. All jobs run in one batch.
"""

import pytest

import sandbox
from sandbox import Sandbox

CASES = {}


def add(key, **job):
    assert key not in CASES, key
    job.setdefault("setup", "")
    job.setdefault("entry_point", "f")
    CASES[key] = job


def both_kinds(key, program, test, setup="", entry="f"):
    """`test` is the body of one test that calls `f`: as an assert job, and as a check function calling the entry
    point through `candidate`."""
    add(f"{key}/assert", kind="assert", program=program, tests=[test], setup=setup, entry_point=entry)
    body = "".join("    " + ln + "\n" for ln in test.replace(f"{entry}(", "candidate(").splitlines())
    add(f"{key}/check", kind="check", program=program, test="def check(candidate):\n" + body, setup=setup,
        entry_point=entry)


# ================================================================================================================
# family 3: the judge binds nothing on the program's word

def _frame(obj):
    import struct
    b = sandbox.encode(obj)
    return struct.pack(">I", len(b)) + b


def _forged_ready():
    """The start-up message of the old protocol, naming `f` a function of the program and `verify` the library
    object builtins.eval."""
    h = sandbox.Handle
    return _frame(("ready", [("f", "value", h(1, "function")), ("verify", "from", h(2, "function"), "builtins",
                                                                  "eval")]))


# The program writes the forged start-up message on C's channel (fd 3) while it loads and then serves the channel
# itself, never returning to C's code: `get` gets the handle of `f`, a call of `f` returns the string "True" (or a
# payload that only succeeds inside the judge, which holds fd 4), `bye` its answer.
FORGED_PROGRAM = '''import os, struct
READY = {ready!r}
GET = {get!r}
CALL = {call!r}
BYE = {bye!r}
def _read(n):
    b = b""
    while len(b) < n:
        c = os.read(3, n - len(b))
        if not c:
            os._exit(0)
        b += c
    return b
os.write(3, READY)
while True:
    req = _read(struct.unpack(">I", _read(4))[0])
    if b"bye" in req[:16]:
        os.write(3, BYE)
        os._exit(0)
    os.write(3, GET if b"get" in req[:16] else CALL)
'''
PAYLOAD = "__import__('os').fstat(4) is not None"   # true in the judge (fd 4 is its channel to the worker), not in C


def forged_program():
    return FORGED_PROGRAM.format(ready=_forged_ready(), get=_frame(("ok", sandbox.Handle(1, "function"))),
                                 call=_frame(("ok", PAYLOAD, [{}])), bye=_frame(("bye",)))


HONEST_F = "def f(x):\n    return x * 2\n"
VERIFY = "def verify(x):\n    return x == 4\n"
both_kinds("hostile3/forged_ready_binds_builtins_eval", forged_program(), "assert verify(f(2))")
both_kinds("control3/forged_ready_binds_builtins_eval", HONEST_F, "assert verify(f(2))", setup=VERIFY)

# no forgery at all: the program's own objects claim to be library functions (C used to report __module__ and
# __qualname__, and J imported what they named)
PICKLED_TRUE = b"cbuiltins\neval\n(V__import__('os').fstat(4) is not None\ntR."   # pickle.loads runs eval in J
SELF_DESCRIBED = [
    ("is_pickle_loads", "def verify(x):\n    return True\nverify.__module__ = 'pickle'\n"
     "verify.__qualname__ = 'loads'\ndef f(x):\n    return %r\n" % PICKLED_TRUE),
    ("is_operator_truth", "def verify(x):\n    return True\nverify.__module__ = 'operator'\n"
     "verify.__qualname__ = 'truth'\ndef f(x):\n    return 1\n"),
    ("class_is_operator_truth", "class verify:\n    pass\nverify.__module__ = 'operator'\n"
     "verify.__qualname__ = 'truth'\ndef f(x):\n    return 1\n"),
]
for _id, _prog in SELF_DESCRIBED:
    both_kinds(f"hostile3/{_id}", _prog, "assert verify(f(2))")
    both_kinds(f"control3/{_id}", HONEST_F, "assert verify(f(2))", setup=VERIFY)


# ================================================================================================================
# family 4: names no trusted code defines do not come from the program

AREA = "from math import pi\ndef f(r):\n    return pi * r * r\n"
# (id, hostile program, test using a name no trusted code of the hostile job defines, correct program, setup that
#  makes the test self-contained for the control)
NAMES = [
    ("pi", "pi = 0\ndef f(r):\n    return 0\n", "assert abs(f(2) - pi * 4) < 1e-6", AREA, "from math import pi\n"),
    ("math_like_object", "class m:\n    @staticmethod\n    def isclose(*a, **k):\n        return True\n"
     "def f(r):\n    return 0\n", "assert m.isclose(f(2), 12.566, rel_tol=1e-3)", AREA, "import math as m\n"),
    ("math_like_instance", "class _M:\n    pi = 0\n    def isclose(self, *a, **k):\n        return True\nm = _M()\n"
     "def f(r):\n    return 0\n", "assert m.isclose(f(2), m.pi * 4)", AREA, "import math as m\n"),
    ("Counter_returns_data", "def Counter(x=None, **k):\n    return 1\ndef f(s):\n    return 'zz'\n",
     "assert Counter(f('aab')) == Counter({'a': 2, 'b': 1})", "def f(s):\n    return s\n",
     "from collections import Counter\n"),
    ("np_with_lying_allclose", "class np:\n    @staticmethod\n    def allclose(*a, **k):\n        return True\n"
     "def f(x):\n    return [0.0]\n", "assert np.allclose(f([1.0]), [2.0])", "def f(x):\n    return [2 * v for v in x]\n",
     "import numpy as np\n"),
    ("np_instance_lying_allclose", "import numpy\nclass _N:\n    def allclose(self, *a, **k):\n        return True\n"
     "np = _N()\ndef f(x):\n    return [0.0]\n", "assert np.allclose(f([1.0]), [2.0])",
     "def f(x):\n    return [2 * v for v in x]\n", "import numpy as np\n"),
    ("helper_the_test_calls", "def is_sorted(x):\n    return True\ndef f(x):\n    return x\n",
     "assert is_sorted(f([3, 1, 2]))", "def f(x):\n    return sorted(x)\n",
     "def is_sorted(x):\n    return all(a <= b for a, b in zip(x, x[1:]))\n"),
    ("expected_value_from_program", "EXPECTED = 0\ndef f(x):\n    return 0\n", "assert f(3) == EXPECTED",
     HONEST_F, "EXPECTED = 6\n"),
    ("class_the_test_builds", "class Point:\n    def __new__(cls, *a):\n        return 0\ndef f(x):\n    return 0\n",
     "assert f(1) == Point(1, 2)", "def f(x):\n    return (x, 2 * x)\n",
     "from collections import namedtuple\nPoint = namedtuple('Point', 'x y')\n"),
]
for _id, _bad, _test, _good, _setup in NAMES:
    both_kinds(f"hostile4/{_id}", _bad, _test)
    both_kinds(f"control4/{_id}", _good, _test, setup=_setup)
    # the rule itself: the correct program does not make a test that leans on its names pass either
    both_kinds(f"rule4/{_id}", _good, _test)

# no entry_point given: the entry point is the first name the tests call that no trusted code defines; a second name
# of the program (pi) is still a NameError
add("hostile4/no_entry_point_pi/assert", kind="assert", program="pi = 0\ndef f(r):\n    return 0\n",
    tests=["assert abs(f(2) - pi * 4) < 1e-6"], entry_point=None)
add("control4/no_entry_point_pi/assert", kind="assert", program=AREA, tests=["assert abs(f(2) - pi * 4) < 1e-6"],
    setup="from math import pi\n", entry_point=None)
# a standard-library module the test uses without importing it is imported by the judge itself, under its name
both_kinds("control4/stdlib_module_by_its_name", "import fractions as math\nmath.isclose = lambda *a, **k: True\n"
           "def f(r):\n    return 3.14159 * r * r\n", "assert math.isclose(f(2), 12.566, rel_tol=1e-3)")
both_kinds("hostile4/stdlib_module_by_its_name", "import fractions as math\nmath.isclose = lambda *a, **k: True\n"
           "def f(r):\n    return 0\n", "assert math.isclose(f(2), 12.566, rel_tol=1e-3)")
# MBPP 367's setup builds its trees from the program's own Node class: names the setup uses without defining them
# are the program's (trusted code names them), as proxies
NODE = ("class Node:\n    def __init__(self, data):\n        self.data = data\n        self.left = self.right = None\n"
        "def f(n):\n    return 0 if n is None else 1 + max(f(n.left), f(n.right))\n")
add("control4/setup_uses_the_programs_class/assert", kind="assert", program=NODE,
    setup="root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)\n",
    tests=["assert f(root) == 3", "assert f(root.left) == 2"])
# LeetCodeDataset: Solution().method entry point, setup classes rebuilt on the judge's side
LEET_SETUP = ("from typing import *\nfrom collections import *\n\nclass ListNode:\n    def __init__(self, val=0, next=None):\n"
              "        self.val = val\n        self.next = next\n\ndef list_node(values):\n    head = None\n"
              "    for v in reversed(values):\n        head = ListNode(v, head)\n    return head\n\n"
              "def is_same_list(a, b):\n    while a and b:\n        if a.val != b.val:\n            return False\n"
              "        a, b = a.next, b.next\n    return a is None and b is None\n")
LEET_PROG = LEET_SETUP + ("\nclass Solution:\n    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n"
                          "        prev = None\n        while head:\n            head.next, prev, head = prev, head, head.next\n"
                          "        return prev\n")
add("control4/leetcode_solution_method/check", kind="check", program=LEET_PROG, setup=LEET_SETUP,
    entry_point="Solution().reverseList",
    test="def check(candidate):\n    assert is_same_list(candidate(head=list_node([1, 2, 3])), list_node([3, 2, 1]))\n"
         "    assert candidate(head=None) is None\n")
add("control4/leetcode_solution_method/assert", kind="assert", program=LEET_PROG, setup=LEET_SETUP,
    entry_point="Solution().reverseList",
    tests=["assert is_same_list(Solution().reverseList(list_node([1, 2])), list_node([2, 1]))"])


# ================================================================================================================
# family 11: in-place changes to the standard containers reach the test

COLL = "from collections import Counter, OrderedDict, defaultdict, deque\n"
# (id, test body calling f, program that changes its argument in place, program that does not)
IN_PLACE = [
    ("deque", "q = deque([0])\nf(q)\nassert list(q) == [1, 2] and type(q) is deque",
     "def f(q):\n    q.append(1)\n    q.append(2)\n    q.popleft()\n", "def f(q):\n    q = deque([1, 2])\n"),
    ("deque_maxlen_kept", "q = deque([0], maxlen=2)\nf(q)\nassert list(q) == [2, 3] and q.maxlen == 2",
     "def f(q):\n    q.extend([1, 2, 3])\n", "def f(q):\n    return None\n"),
    ("Counter", "c = Counter('ab')\nf(c)\nassert c == Counter('abb') and type(c) is Counter",
     "def f(c):\n    c['b'] += 1\n", "def f(c):\n    c = c + Counter('b')\n"),
    ("Counter_keeps_zero_and_negative", "c = Counter(a=1)\nf(c)\nassert dict(c) == {'a': 0, 'b': -1}",
     "def f(c):\n    c['a'] -= 1\n    c['b'] -= 1\n", "def f(c):\n    c.clear()\n"),
    ("OrderedDict", "d = OrderedDict(a=1, b=2)\nf(d)\nassert list(d.items()) == [('b', 2), ('a', 1), ('z', 3)]",
     "def f(d):\n    d.move_to_end('a')\n    d['z'] = 3\n", "def f(d):\n    d['z'] = 3\n"),
    ("defaultdict", "d = defaultdict(list)\nf(d)\nassert d == {'k': [1]}\nassert d['new'] == [] and type(d) is defaultdict",
     "def f(d):\n    d['k'].append(1)\n", "def f(d):\n    d = {'k': [1]}\n"),
    ("kwarg_deque", "q = deque()\nf(q=q)\nassert list(q) == [1]", "def f(q):\n    q.append(1)\n",
     "def f(q):\n    pass\n"),
    ("deque_in_a_list", "qs = [deque(), deque([5])]\nf(qs)\nassert [list(q) for q in qs] == [[1], []]",
     "def f(qs):\n    qs[0].append(1)\n    qs[1].pop()\n", "def f(qs):\n    qs = [deque([1]), deque()]\n"),
    ("same_deque_twice", "q = deque()\nf(q, q)\nassert list(q) == [1, 2]",
     "def f(a, b):\n    a.append(1)\n    b.append(2)\n", "def f(a, b):\n    a.append(1)\n"),
    ("across_calls", "c = Counter()\nfor ch in 'aba':\n    f(c, ch)\nassert c == Counter('aba')",
     "def f(c, ch):\n    c[ch] += 1\n", "def f(c, ch):\n    c = Counter(ch)\n"),
]
for _id, _test, _good, _bad in IN_PLACE:
    both_kinds(f"inplace/{_id}", COLL + _good, _test, setup=COLL)
    both_kinds(f"inplace-wrong/{_id}", COLL + _bad, _test, setup=COLL)


# ================================================================================================================
# the batch

@pytest.fixture(scope="module")
def judged():
    keys = list(CASES)
    with Sandbox(workers=2, timeout=2.0, memory_mb=1024, max_output_bytes=1 << 20) as s:
        out = dict(s.run([CASES[k] for k in keys]))
    assert sorted(out) == list(range(len(keys))), "exactly one result per job"
    return {k: out[i] for i, k in enumerate(keys)}


def keys(prefix):
    return [k[len(prefix):] for k in CASES if k.startswith(prefix)]


def assert_not_passed(r, what):
    assert r["passed"] is False and r["status"] != "passed", (what, r)
    assert r["tests_total"] == len(r["test_status"]) > 0, (what, r)


def assert_passed(r, what):
    assert r["passed"] is True and r["status"] == "passed", (what, r)


@pytest.mark.parametrize("case", keys("hostile3/"))
def test_the_judge_binds_nothing_on_the_programs_word(judged, case):
    assert_not_passed(judged["hostile3/" + case], case)


@pytest.mark.parametrize("case", keys("control3/"))
def test_family3_controls_pass(judged, case):
    assert_passed(judged["control3/" + case], case)


@pytest.mark.parametrize("case", keys("hostile4/"))
def test_names_no_trusted_code_defines_do_not_come_from_the_program(judged, case):
    assert_not_passed(judged["hostile4/" + case], case)


@pytest.mark.parametrize("case", keys("control4/"))
def test_family4_controls_pass(judged, case):
    assert_passed(judged["control4/" + case], case)


@pytest.mark.parametrize("case", keys("rule4/"))
def test_a_test_leaning_on_a_programs_name_fails_for_a_correct_program_too(judged, case):
    r = judged["rule4/" + case]
    assert_not_passed(r, case)
    assert "NameError" in (r["error"] or ""), r


@pytest.mark.parametrize("case", keys("inplace/"))
def test_in_place_changes_to_standard_containers_reach_the_test(judged, case):
    assert_passed(judged["inplace/" + case], case)


@pytest.mark.parametrize("case", keys("inplace-wrong/"))
def test_standard_containers_left_alone_fail_the_test(judged, case):
    assert_not_passed(judged["inplace-wrong/" + case], case)
