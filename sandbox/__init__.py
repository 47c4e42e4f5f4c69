"""The only place untrusted code runs: a pool of warm, namespaced workers that fork one child per program.

    from sandbox import Sandbox
    with Sandbox(workers=2, timeout=3.0) as sb:
        print(sb.isolation)                       # every layer in force, e.g. "user+net+mount+pid+ipc namespaces, ..."
        for i, result in sb.run(jobs):            # (index into jobs, result) as each finishes, exactly one per job
            ...

One module per process role; this one is the pool and the contract, the only part stages import:
    __init__.py   the pool (Sandbox), isolation refused or opted out of; the contract below
    jobs.py       what a job and a result are (test counts, budgets, statuses); shared by every role
    worker.py     the worker process: namespaces once, then one program at a time; every verdict is decided here
    fastpath.py   which tests the worker judges itself (`assert ENTRY(literals) == LITERAL`)
    zygote.py     the zygote, forked before any job, and the spare C/J processes it forks ahead of each job
    candidate.py  C: runs the program, serves calls (untrusted once the program has run)
    judge.py      J: runs trusted tests against a proxy of the program's entry point; never runs the program
    kernel.py     namespaces, the minimal root, uids, capabilities, seccomp, rlimits (ctypes, no dependency)
    codec.py      the plain-data codec: what crosses between processes (never pickle)

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

import select
import sys
import time

from compare import COMPARES, VALUE_BLIND, compare_call, evalplus_compare, lcb_stdio_equal  # noqa: F401 (API)

from .codec import (CodecError, Digest, Handle, MAX_FRAME, MAX_ITEMS, decode, encode, plain_digest,  # noqa: F401
                    recv_msg, send_msg)
from .jobs import STATUSES, TEST_STATUSES, _fitted, _result, _tests_of, _validate_job, job_budget  # noqa: F401
from .kernel import _repository
from .worker import _Deadline, _worker_main  # noqa: F401
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

    def __init__(self, workers=2, timeout=None, program_timeout=None, memory_mb=2048, max_output_bytes=4 << 20,
                 max_file_bytes=16 << 20, processes=0, tmpfs_mb=256, unsafe_no_isolation=False, namespaces=True,
                 grace=10.0):
        """`unsafe_no_isolation`: run programs even where the kernel refuses isolation (IsolationRefused
        otherwise). `namespaces=False` skips isolation on purpose (tests of the unisolated path); it needs
        `unsafe_no_isolation` as well. `timeout`: seconds per test of a job that names none (None: the stages'
        per-test limit, common.TEST_TIMEOUT)."""
        if timeout is None:
            # here, not at the top: the workers import this package too, and common's imports (secrets: random,
            # with its at-fork hook) must stay out of the processes that fork programs
            from common import TEST_TIMEOUT as timeout
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
        boot = f"import sys; sys.path.insert(0, {_repository()!r}); " \
               "from sandbox.worker import _worker_main; _worker_main()"
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
