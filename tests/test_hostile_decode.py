"""Issue 19, families 7 and 8: replies that buy time by being slow to rebuild, and programs that die mid-test.

Family 7. The worker rebuilds each reply of the program's process (C) before it judges it; a reply that is cheap for
C to send but slow to rebuild (integers that all hash alike in a set or a dict, a Fraction whose string is
'1e-3000000', megabytes of values) used to stall the worker while C went on computing the next answer, unwatched:
a program that needs 2 s per test passed a 1 s limit. Each hostile program below answers its first call at once
with such a payload and then needs 2 s of CPU for the next; each must now time out or error, and a control beside it
(the same program with a benign payload of the same type, and a fast second call) must still pass.

Family 8. A program that dies during a fast-path test (os._exit, a segfault, the CPU limit, a malformed frame on its
channel) got `error` with tests_total 0 and `sandbox: TypeError: keywords must be strings`. Every record must have
one status per test of its job, on every path (fast path of assert and check, judge path, call, stdio).
"""

import struct
import time
from fractions import Fraction

import pytest

import sandbox
from sandbox import CodecError, Sandbox, decode, encode

M61 = 2 ** 61 - 1   # ints congruent modulo this all have the same hash
SPIN = ("import time\n"
        "def _spin(s):\n"
        "    t = time.process_time()\n"
        "    while time.process_time() - t < s:\n"
        "        pass\n")
# C builds a colliding set in linear time: its own ints hash by identity; they cross as plain ints, which collide
SPREAD = "class _H(int):\n    def __hash__(self):\n        return id(self)\n"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=1, timeout=1.0, memory_mb=1024) as s:
        yield s


def run(sb, jobs):
    out = dict(sb.run(jobs))
    assert sorted(out) == list(range(len(jobs))), "exactly one result per job"
    return [out[i] for i in range(len(jobs))]


def _payload_program(payload, spin):
    """f(2) answers at once with (4, payload); f(3) computes for `spin` CPU seconds, then answers (9, None)."""
    return (SPIN + SPREAD + "import collections, decimal, fractions\nM = 2 ** 61 - 1\n" + payload
            + f"def f(x):\n    if x == 2:\n        return (4, PAYLOAD)\n    _spin({spin})\n    return (9, None)\n")


N = 16000   # about 3 s to rebuild as a colliding set on a slow core (quadratic); milliseconds for C to build
HOSTILE = {   # the payload, and its benign twin (same type, ordinary values) for the control
    "colliding_frozenset": ("PAYLOAD = frozenset(_H(k * M) for k in range(1, %d))\n" % N,
                            "PAYLOAD = frozenset(range(%d))\n" % N),
    "colliding_set": ("PAYLOAD = {_H(k * M) for k in range(1, %d)}\n" % N, "PAYLOAD = set(range(%d))\n" % N),
    "colliding_dict": ("PAYLOAD = {_H(k * M): 0 for k in range(1, %d)}\n" % N,
                       "PAYLOAD = {k: 0 for k in range(%d)}\n" % N),
    "colliding_counter": ("PAYLOAD = collections.Counter({_H(k * M): 1 for k in range(1, %d)})\n" % N,
                          "PAYLOAD = collections.Counter(range(%d))\n" % N),
    "colliding_dict_keys": ("PAYLOAD = {_H(k * M): 0 for k in range(1, %d)}.keys()\n" % N,
                            "PAYLOAD = {k: 0 for k in range(%d)}.keys()\n" % N),
    # C's encoder used str(Fraction), which the program can redefine: the worker then computed 10**3000000
    "fraction_exponent": ("fractions.Fraction.__str__ = lambda self: '1e-3000000'\n"
                          "PAYLOAD = fractions.Fraction(1, 3)\n",
                          "PAYLOAD = fractions.Fraction(10 ** 400 + 1, 3 ** 300)\n"),
}


def _jobs(program):
    """The same program judged on the fast path (assert, check) and by kind "call"."""
    return [
        {"kind": "assert", "setup": "", "program": program,
         "tests": ["assert f(2)[0] == 4", "assert f(3)[0] == 9"]},
        {"kind": "check", "setup": "", "program": program, "entry_point": "f",
         "test": "def check(candidate):\n    assert candidate(2)[0] == 4\n    assert candidate(3)[0] == 9\n"},
        # EvalPlus's not_none oracle: any value that is not None is right, so the payload may be the answer itself
        {"kind": "call", "setup": "", "program": program, "entry_point": "f", "inputs": [[2], [3]],
         "expected": [True, True], "atol": 0, "compare": "not_none"},
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_slow_to_rebuild_replies_buy_no_time(sb, name):
    hostile, benign = HOSTILE[name]
    jobs = _jobs(_payload_program(hostile, 2.0)) + _jobs(_payload_program(benign, 0.05))
    res = run(sb, jobs)
    wrong = [("hostile", job["kind"], r) for r, job in zip(res[:3], jobs)
             if r["passed"] or r["status"] not in ("timeout", "error") or r["seconds"] > 6.0   # never stalled long
             or not r["tests_total"] == len(r["test_status"]) == sandbox.job_budget(job, sb.cfg)[0]]
    wrong += [("control", job["kind"], r) for r, job in zip(res[3:], jobs) if not r["passed"]]
    assert not wrong, (name, wrong)


@pytest.mark.slow
def test_slow_ready_message_buys_no_time(sb):
    """The same through C's start-up message, which carried the program's data values: decoding a Fraction
    defined at load stalled the worker while C computed the first test (the message now carries nothing)."""
    hostile = (SPIN + "import fractions\nfractions.Fraction.__str__ = lambda self: '1e-3000000'\n"
               "G = fractions.Fraction(1, 3)\ndef f(x):\n    _spin(1.3)\n    return (4, None)\n")
    control = SPIN + "import fractions\nG = fractions.Fraction(1, 3)\ndef f(x):\n    _spin(0.05)\n    return (4, G)\n"
    jobs = [{"kind": "assert", "setup": "", "program": p, "tests": ["assert f(2)[0] == 4"]} for p in (hostile, control)]
    bad, good = run(sb, jobs)
    assert bad["status"] == "timeout" and bad["tests_total"] == 1, bad
    assert good["passed"], good


def _decode_seconds_per_none():
    b = encode(("ok", (4, [None] * 200_000)))
    t0 = time.perf_counter()
    decode(b, max_items=sandbox.MAX_ITEMS, deadline=time.monotonic() + 60)
    return (time.perf_counter() - t0) / 200_000


@pytest.mark.slow
def test_harness_work_on_a_reply_is_not_the_next_tests_time(sb):
    """A reply of ordinary values that takes the worker over a second to rebuild (linear work, allowed, within the
    test's limit): the program computes its next answer meanwhile, and that time is its own. The next test's limit
    runs from the reply's arrival, not from when the worker is done with it, so 3.6 s of CPU for the second test is
    a timeout under a 3 s limit (3 s, not 1 s: room for the timings on a loaded machine)."""
    k = min(8_000_000, int(1.35 / _decode_seconds_per_none()))   # ~1.35 s for the worker, ~0.6 s for C to send
    hostile = SPIN + f"BIG = [None] * {k}\n" + \
        "def f(x):\n    if x == 2:\n        return (4, BIG)\n    _spin(3.6)\n    return (9, None)\n"
    control = SPIN + f"BIG = [None] * {k}\n" + \
        "def f(x):\n    if x == 2:\n        return (4, BIG)\n    _spin(0.05)\n    return (9, None)\n"
    jobs = [{"kind": "assert", "setup": "", "program": p, "tests": ["assert f(2)[0] == 4", "assert f(3)[0] == 9"],
             "timeout": 3.0} for p in (hostile, control)]
    bad, good = run(sb, jobs)
    assert bad["status"] == "timeout" and bad["tests_total"] == 2, bad
    assert good["passed"], good


# -- the codec itself: every value linear to rebuild from a program's frame, and never past its deadline

def _crafted(tag, items):
    """A frame of `tag` (b"E" set, b"Z" frozenset) over plain items, built without building the container."""
    return tag + encode(list(items))[1:]


def test_codec_refuses_hash_collisions_in_program_frames():
    ints = [k * M61 for k in range(1, 3000)]
    later = time.monotonic() + 60
    frames = {"set": _crafted(b"E", ints), "frozenset": _crafted(b"Z", ints),
              "dict": b"M" + struct.pack(">I", len(ints)) + b"".join(encode(i) + b"N" for i in ints),
              "dict_keys": b"Xk" + encode(ints), "Counter": b"Xc" + encode([(i, 1) for i in ints]),
              "OrderedDict": b"Xo" + encode([(i, 1) for i in ints]), "items": b"Xi" + encode([(i, 1) for i in ints])}
    for name, b in frames.items():
        t0 = time.monotonic()
        with pytest.raises(CodecError, match="share one hash value"):
            decode(b, deadline=later)
        assert time.monotonic() - t0 < 0.5, name
    # ordinary sets and dicts of any size, and a few equal hashes (-1 and -2 hash alike), are fine
    assert decode(encode(set(range(100_000))), deadline=later) == set(range(100_000))
    assert decode(encode({-1: 1, -2: 2, M61: 3, 2 * M61: 4}), deadline=later) == {-1: 1, -2: 2, M61: 3, 2 * M61: 4}
    # trusted frames (jobs from the pool, without a deadline) are decoded as they come
    assert len(decode(_crafted(b"E", ints[:200]))) == 200


def test_codec_rebuilds_fractions_from_ints_and_bounds_numbers():
    later = time.monotonic() + 60
    for f in (Fraction(1, 3), Fraction(-10 ** 400 - 1, 3 ** 300), Fraction(0), Fraction(7)):
        assert decode(encode(f), deadline=later) == f and type(decode(encode(f))) is Fraction
    t0 = time.monotonic()
    for bad in (b"Xf" + encode("1e-3000000"), b"Xf" + encode(1) + encode(0), b"Xf" + encode(1) + encode(-3),
                b"Xf" + encode(1 << (1 << 17)) + encode(1), b"I" + struct.pack(">I", 5000) + b"7" * 5000):
        with pytest.raises(CodecError):
            decode(bad, deadline=later)
    from decimal import Decimal
    for d in (Decimal("1e-999999999"), Decimal("-1.5e999999999999999999"), Decimal("NaN")):
        assert str(decode(encode(d), deadline=later)) == str(d)
    assert time.monotonic() - t0 < 1.0


def test_codec_stops_at_the_deadline():
    b = encode([None] * 3_000_000)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        decode(b, max_items=sandbox.MAX_ITEMS, deadline=time.monotonic() + 0.05)
    assert time.monotonic() - t0 < 0.5


# -- family 8: one status per test, whatever the program does

DEATHS = {
    "os_exit": "import os\ndef f(x):\n    os._exit(0)\n",
    "segfault": "import ctypes\ndef f(x):\n    return ctypes.string_at(0)\n",
    "cpu_limit": "import resource\ndef f(x):\n    resource.setrlimit(resource.RLIMIT_CPU, (1, 1))\n"
                 "    while True:\n        pass\n",
    "malformed_frame": "import os\ndef f(x):\n    os.write(3, b'\\x00\\x00\\x00\\x05Qxxxx')\n    return x * x\n",
    "frame_too_long": "import os\ndef f(x):\n    os.write(3, b'\\xff\\xff\\xff\\xff')\n    return x * x\n",
    "truncated_frame": "import os\ndef f(x):\n    os.write(3, b'\\x00\\x00\\x01\\x00LL')\n    os._exit(0)\n",
    # a forged ("raise", bases, name, message) reply whose name is an int past 4,300 digits: str() of it raised
    "huge_int_in_raise": "import os, struct\n"
                         "def _s(b):\n    return b'S' + struct.pack('>I', len(b)) + b\n"
                         "H = hex(10 ** 5000).encode()\n"
                         "R = (b'U' + struct.pack('>I', 4) + _s(b'raise') + b'U' + struct.pack('>I', 1)\n"
                         "     + _s(b'ValueError') + b'I' + struct.pack('>I', len(H)) + H + _s(b'm'))\n"
                         "def f(x):\n    os.write(3, struct.pack('>I', len(R)) + R)\n    return x * x\n",
}
WRITES_ONLY = ("malformed_frame", "frame_too_long", "huge_int_in_raise")   # right answers: stdio may pass them
RIGHT = "def f(x):\n    return x * x\n"


def _all_kinds(program):
    return [
        {"kind": "assert", "setup": "", "program": program, "tests": ["assert f(2) == 4", "assert f(3) == 9",
                                                                      "assert f(4) == 16"]},          # fast path
        {"kind": "assert", "setup": "", "program": program, "tests": ["assert f(2) + 0 == 4", "assert f(3) == 9"]},
        {"kind": "check", "setup": "", "program": program, "entry_point": "f",                         # fast path
         "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n"},
        {"kind": "check", "setup": "", "program": program, "entry_point": "f",                         # judge
         "test": "def check(candidate):\n    x = candidate(2)\n    assert x == 4, x\n"},
        {"kind": "call", "setup": "", "program": program, "entry_point": "f", "inputs": [[2], [3], [4]],
         "expected": [4, 9, 16], "atol": 0},
        {"kind": "stdio", "setup": "", "program": program + "print(f(int(input())))\n",
         "tests": [{"input": "2\n", "output": "4\n"}, {"input": "3\n", "output": "9\n"}]},
    ]


@pytest.mark.slow
def test_every_record_has_one_status_per_test(sb):
    names = sorted(DEATHS)
    jobs = [dict(j, timeout=3.0) for name in names for j in _all_kinds(DEATHS[name])] + _all_kinds(RIGHT)
    who = [name for name in names for _ in range(6)] + ["right"] * 6
    res = run(sb, jobs)
    wrong = []
    for r, job, name in zip(res, jobs, who):
        n = sandbox.job_budget(job, sb.cfg)[0]
        if not (r["tests_total"] == n and len(r["test_status"]) == n) or "sandbox:" in (r["error"] or ""):
            wrong.append((name, job["kind"], n, r))
        elif r["passed"] != (name == "right") and not (job["kind"] == "stdio" and name in WRITES_ONLY):
            wrong.append((name, job["kind"], n, r))
    assert not wrong, "\n".join(map(str, wrong))


def test_records_are_fitted_to_the_job():
    """The worker's last guard: a record that lost its statuses (a bug of ours) gets one per test, never a pass."""
    job = {"kind": "assert", "program": "", "tests": ["assert 1", "assert 2"]}
    n = sandbox._tests_of(job, {"timeout": 1.0, "program_timeout": None})
    assert n == 2 and sandbox._tests_of("not a job", {"timeout": 1.0, "program_timeout": None}) == 0
    r = sandbox._fitted(sandbox._result("passed", [], None, 0.1), n)
    assert r["status"] == "error" and r["tests_total"] == 2 and r["test_status"] == ["not_run", "not_run"]
    r = sandbox._fitted(dict(sandbox._result("timeout", ["timeout"] * 3, "t", 0.1), outputs=[1]), n)
    assert r["status"] == "timeout" and r["test_status"] == ["timeout", "timeout"] and r["outputs"] == [1]
    ok = sandbox._result("failed", ["passed", "failed"], "test 1", 0.1)
    assert sandbox._fitted(ok, n) is ok
