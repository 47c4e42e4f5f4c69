"""What a job is and what a result says: a job's test count and time budget, the one constructor of a result, and
how a program's status follows from its tests' statuses. Imported by the pool and by every process role."""

from compare import COMPARES
from .codec import CodecError, encode

STATUSES = ("passed", "failed", "error", "syntax_error", "timeout", "memory", "output_limit", "killed")
TEST_STATUSES = STATUSES + ("not_run",)
_FAIL_WORDS = ("error", "syntax_error", "memory")   # all a program's own message may ever say about it


def job_budget(job, cfg):
    """(number of tests, seconds per test, seconds for the whole program) of a job under the pool's config."""
    kind = job.get("kind")
    n = len(job.get("inputs") or []) if kind == "call" else 1 if kind == "check" else len(job.get("tests") or [])
    per_test = float(job.get("timeout") or cfg["timeout"])
    total = float(job.get("program_timeout") or cfg["program_timeout"] or per_test * (n + 1))
    return n, per_test, total


def _validate_job(job):
    """A malformed job is a caller's bug: it gets an error result (never a worker crash)."""
    if not isinstance(job, dict) or not isinstance(job.get("program"), str):
        return "job lacks a 'program' string"
    kind = job.get("kind")
    if kind == "assert":
        if not isinstance(job.get("tests"), list) or not all(isinstance(t, str) for t in job["tests"]):
            return "assert job needs 'tests': list of str"
        if job.get("entry_point") is not None and not isinstance(job["entry_point"], str):
            return "assert job: 'entry_point' must be a string"
    elif kind == "check":
        if not isinstance(job.get("test"), str) or not isinstance(job.get("entry_point"), str):
            return "check job needs 'test' and 'entry_point' strings"
    elif kind == "stdio":
        ok = isinstance(job.get("tests"), list) and all(
            isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)
            for t in job["tests"])
        if not ok:
            return "stdio job needs 'tests': list of {'input': str, 'output': str}"
    elif kind == "call":
        if not isinstance(job.get("entry_point"), str) or not isinstance(job.get("inputs"), list):
            return "call job needs 'entry_point' and 'inputs'"
        if job.get("expected") is not None and len(job["expected"]) != len(job["inputs"]):
            return "call job: 'expected' and 'inputs' differ in length"
        if job.get("compare") not in (None,) + COMPARES:
            return f"call job: unknown compare {job.get('compare')!r}; one of {COMPARES}"
    else:
        return f"unknown job kind {kind!r}; one of assert, check, stdio, call"
    for key, typ in (("exit_ok", bool), ("int_max_str_digits", int), ("max_output_bytes", int),
                     ("atol_reset_at", int)):
        if job.get(key) is not None and type(job[key]) is not typ:
            return f"job option {key!r} must be {typ.__name__}"
    if job_budget(job, {"timeout": 1.0, "program_timeout": None})[0] == 0:
        return f"{kind} job has no tests"
    try:
        encode(job)
    except CodecError as e:
        return f"job is not plain data ({e})"
    return None


def _text(s, n=300):
    """A short error text that any UTF-8 writer can write (a program's message may hold lone surrogates)."""
    s = str(s)[:n]
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _result(status, statuses, error, seconds):
    """The one constructor of a result. `passed` is derived here, never taken from anyone: every test ran and
    passed, and there was at least one."""
    statuses = list(statuses)
    passed = status == "passed" and bool(statuses) and all(s == "passed" for s in statuses)
    if status == "passed" and not passed:
        status = "error"
    return {"status": status, "passed": passed, "tests_passed": statuses.count("passed"),
            "tests_total": len(statuses), "test_status": statuses, "error": None if error is None else _text(error),
            "seconds": seconds}


def _tests_of(job, cfg):
    """The job's number of tests, 0 where the job is too malformed to say."""
    try:
        return job_budget(job, cfg)[0]
    except Exception:
        return 0


def _fitted(res, n):
    """`res` with exactly one status per test of its job (n), whatever went wrong on the way: a record that lost or
    gained statuses (a bug of ours) keeps its status, never `passed`, and says so."""
    statuses = res.get("test_status")
    if type(statuses) is list and len(statuses) == n and res.get("tests_total") == n:
        return res
    statuses = ((statuses if type(statuses) is list else []) + ["not_run"] * n)[:n]
    word = res.get("status") if res.get("status") in STATUSES and res.get("status") != "passed" else "error"
    fixed = _result(word, statuses, res.get("error") or "sandbox: the record lost its tests' statuses",
                    res.get("seconds") or 0.0)
    return dict(res, **{k: fixed[k] for k in fixed})


def _judged(statuses, errs):
    """The program's result from its tests: status and error of the first test that did not pass."""
    bad = [i for i, s in enumerate(statuses) if s != "passed"]
    if not bad:
        return _result("passed", statuses, None, 0.0)
    i = bad[0]
    st = statuses[i] if statuses[i] in STATUSES else "error"
    return _result(st, statuses, f"test {i}: " + str(errs.get(i) or statuses[i]), 0.0)


def _program_failed(word, statuses, error):
    """A failure the program's own process reported (a load error, a syntax error): its status word is only
    believed when it names a failure."""
    return _result(word if word in _FAIL_WORDS else "error", statuses, error, 0.0)


def _short_exc(e):
    s = type(e).__name__
    try:
        msg = str(e) if not isinstance(e, SystemExit) else f"exit({e.code!r})"
    except BaseException:
        msg = "<unprintable message>"
    if msg:
        s += f": {msg}"
    return s[:300]
