"""Issue 19, families 1, 2, 5, 9 and part of 11: the trust boundary of the sandbox, seen from three sides.

Every hostile program here answers `f() == 1` only if its attack worked, so a pass is a false pass; a control that
must pass runs right after it on the same worker (workers=1), so an attack that spoils the next program shows too.
The same programs run in three set-ups, each from a copy of the checkout under /tmp (where a repository on the
import path would land on the programs' writable /tmp):
  root      the harness as this process's user (root in CI and in most GPU containers);
  user      the harness as an ordinary user (created with useradd when this process is root);
  refused   user namespaces refused (a user namespace of our own with user.max_user_namespaces = 0, the host's
            settings untouched): the sandbox must refuse to start unless --unsafe_no_isolation is given.
Family 1: a root harness must not give programs host root: they run as uid 65534, kernel interfaces (/proc/sys,
/proc/sysrq-trigger, /sys) are read-only or absent, the hostname is the UTS namespace's own.
Family 2: fail closed, through Sandbox, 03_execute.py and 06_eval.py; the opt-in is loud and recorded.
Family 5: nothing a program writes is ever imported by the judge; the repository is hidden even where the
interpreter's prefix holds it.
Family 9: calls that act on another process (prlimit, kill, renice, affinity, pidfd, oom_score_adj) cannot touch the
worker, the zygote or the spares.
Family 11: reopening /dev/stdout with "w" cannot erase output; a program may run main() in a big-stack thread.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, write_jsonl

TAG = os.urandom(4).hex()
USER = "plumsandbox"

SCRIPT = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from sandbox import IsolationRefused, Sandbox
jobs = json.load(open(sys.argv[2]))
try:
    with Sandbox(workers=1, timeout=3.0, memory_mb=1024, unsafe_no_isolation=sys.argv[3] == "unsafe") as sb:
        res = dict(sb.run(jobs))
        print(json.dumps({"isolation": sb.isolation, "results": [res[i] for i in range(len(jobs))]}))
except IsolationRefused as e:
    print(json.dumps({"refused": str(e)}))
'''


def job(body, kind="assert"):
    """An assert job whose program is `def f(): <body>`: it must never pass (the body returns 1 on success)."""
    prog = "import os, sys, signal, resource, socket, threading\n\ndef f():\n" + textwrap.indent(
        textwrap.dedent(body).strip("\n"), "    ") + "\n"
    return {"kind": "assert", "setup": "", "entry_point": "f", "program": prog, "tests": ["assert f() == 1"]}


def others():
    return "[int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]"


# hostile programs: name -> body that returns 1 only if the attack worked
def rewrite(path):
    """Open a kernel interface for writing and write back what it holds: success is the attack (a regression must
    not change the host the suite runs on)."""
    return f"v = open({path!r}).read()\nopen({path!r}, 'w').write(v)\nreturn 1"


KERNEL = {
    "core_pattern": rewrite("/proc/sys/kernel/core_pattern"),
    "hostname_sysctl": rewrite("/proc/sys/kernel/hostname"),
    "sethostname": "socket.sethostname(socket.gethostname())\nreturn 1",
    "drop_caches": "open('/proc/sys/vm/drop_caches', 'w').write('1')\nreturn 1",
    "sysrq": "open('/proc/sysrq-trigger', 'w')\nreturn 1",
    "ipc_sysctl": rewrite("/proc/sys/kernel/shmmni"),
    "mqueue_sysctl": rewrite("/proc/sys/fs/mqueue/queues_max"),
    "pid_sysctl": rewrite("/proc/sys/kernel/ns_last_pid"),
    "sys_fs": "return 1 if os.path.exists('/sys/kernel') or os.listdir('/sys') else 0",
    "capabilities": "caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
                    "return 1 if int(caps[0].split()[1], 16) else 0",
    "setuid_root": "os.setresuid(0, 0, 0)\nos.setgroups([0])\nreturn 1",
}
OTHERS = {
    "prlimit_others": f"""
        hit = 0
        for pid in {others()}:
            for r, v in ((resource.RLIMIT_AS, 64 << 20), (resource.RLIMIT_NOFILE, 8), (resource.RLIMIT_CPU, 1),
                         (resource.RLIMIT_NPROC, 1), (resource.RLIMIT_FSIZE, 0)):
                try:
                    resource.prlimit(pid, r, (v, v))
                    hit = 1
                except OSError:
                    pass
        return hit""",
    "kill_others": f"""
        hit = 0
        for pid in {others()} + [-1]:
            try:
                os.kill(pid, signal.SIGSTOP)
                hit = 1
            except OSError:
                pass
        return hit""",
    "renice": f"""
        hit = 0
        for which, who in [(os.PRIO_USER, 0), (os.PRIO_USER, os.getuid()), (os.PRIO_PGRP, 1)] + \\
                [(os.PRIO_PROCESS, p) for p in {others()}]:
            try:
                os.setpriority(which, who, 19)
                hit = 1
            except OSError:
                pass
        return hit""",
    "affinity": f"""
        hit = 0
        for pid in {others()}:
            try:
                os.sched_setaffinity(pid, {{0}})
                hit = 1
            except OSError:
                pass
        return hit""",
    "pidfd": f"""
        hit = 0
        for pid in {others()}:
            try:
                fd = os.pidfd_open(pid)
                signal.pidfd_send_signal(fd, signal.SIGSTOP)
                hit = 1
            except OSError:
                pass
        return hit""",
    # as an ordinary user the write itself may succeed (same uid); what must not happen is that it outlives the
    # program: the control after it reads the scores back
    "oom_score": f"""
        for pid in {others()}:
            try:
                open('/proc/%d/oom_score_adj' % pid, 'w').write('1000')
            except OSError:
                pass
        return 0""",
}
# after every hostile program: a correct program that needs the worker's normal limits and scores
CONTROL = job("""
    import tempfile
    block = bytearray(300 << 20)                      # RLIMIT_AS not lowered
    files = [tempfile.TemporaryFile() for _ in range(60)]   # RLIMIT_NOFILE not lowered
    out = []
    t = threading.Thread(target=lambda: out.append(len(block)))
    t.start()
    t.join()
    scores = [open('/proc/%d/oom_score_adj' % p).read().strip() for p in (1, os.getppid())]
    return 1 if out == [300 << 20] and len(files) == 60 and scores == ['0', '0'] else 0""")
# the contest idiom: main() in a thread with a big stack and a high recursion limit
THREAD = job("""
    sys.setrecursionlimit(100000)
    threading.stack_size(1 << 27)
    out = []
    def deep(n):
        return 0 if n == 0 else 1 + deep(n - 1)
    t = threading.Thread(target=lambda: out.append(deep(20000)))
    t.start()
    t.join()
    return 1 if out == [20000] else 0""")
# family 5: C plants a module in every sys.path folder it can write; the test then imports that module in J; a
# module that ran in J leaves a mark C can see
PLANT = ("import os, sys\n\ndef f(x):\n"
         "    if x == 0:\n"
         "        for p in list(sys.path) + [os.getcwd(), '/tmp']:\n"
         "            try:\n"
         "                os.makedirs(p or '.', exist_ok=True)\n"
         "                with open(os.path.join(p or '.', 'statistics.py'), 'w') as fh:\n"
         "                    fh.write(\"open('/tmp/planted-ran', 'w').write('1')\\nfrom math import *\\n\")\n"
         "            except OSError:\n"
         "                pass\n"
         "        return 0\n"
         "    return 1 if os.path.exists('/tmp/planted-ran') else 0\n")
PLANT_JOB = {"kind": "check", "setup": "", "entry_point": "f", "program": PLANT,
             "test": "def check(candidate):\n    candidate(0)\n    import statistics\n    assert candidate(1) == 1\n"}
# family 11: a wrong answer, then /dev/stdout reopened with "w" (O_TRUNC) and the right one
STDOUT = [{"kind": "stdio", "program": "print(41)\nimport sys\nsys.stdout.flush()\n"
                                       "open('/dev/stdout', 'w').write('42\\n')\n",
           "tests": [{"input": "", "output": "42\n"}]},
          {"kind": "stdio", "program": "print(42)\n", "tests": [{"input": "", "output": "42\n"}]}]

HOSTILE = {**KERNEL, **OTHERS}


def all_jobs():
    jobs, names = [], []
    for name, body in HOSTILE.items():
        jobs += [job(body), CONTROL]
        names += [name, "control after " + name]
    jobs += [THREAD, PLANT_JOB, CONTROL] + STDOUT
    names += ["thread idiom", "planted module", "control after planted module", "stdout truncated", "stdout plain"]
    return jobs, names


def checkout(tmp_root):
    """A copy of the sandbox's modules under /tmp, readable by everyone (the checkout-under-/tmp case)."""
    d = os.path.join(tmp_root, "checkout")
    os.makedirs(d)
    copy_sandbox(d)
    with open(os.path.join(d, "run.py"), "w") as f:
        f.write(SCRIPT)
    for root, dirs, files in os.walk(tmp_root):
        for n in [root] + [os.path.join(root, f) for f in files]:
            os.chmod(n, 0o755)
    return d


def copy_sandbox(d):
    """The sandbox's code (the package and compare.py) into folder d."""
    shutil.copytree(os.path.join(REPO, "sandbox"), os.path.join(d, "sandbox"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(REPO, "compare.py"), d)


@pytest.fixture(scope="module")
def tmp_root():
    d = f"/tmp/plum-trust-{TAG}"
    os.makedirs(d)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def ordinary_user():
    """(username or None for this process's own user, python it can run) or skip with the reason."""
    if os.geteuid() != 0:
        return None, sys.executable
    try:
        pwd.getpwnam(USER)
    except KeyError:
        p = subprocess.run(["useradd", "-M", "-s", "/bin/sh", USER], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"could not create an ordinary user: {p.stderr.strip()}")
    for py in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        ok = subprocess.run(["su", USER, "-s", "/bin/sh", "-c", f"{py} -c 'import ctypes, socket'"],
                            capture_output=True, cwd="/")
        if ok.returncode == 0:
            return USER, py
    pytest.skip(f"no Python that {USER} may run (this one lives under a folder only root can enter)")


def run_here(cmd, user=None, refuse=False, timeout=600):
    """Run argv `cmd` as `user` (None: this process's user), with user namespaces refused if asked."""
    line = " ".join(map(repr, cmd))
    if refuse:   # our own user namespace, where we may set its limit of nested namespaces to 0
        line = f"unshare -Ur sh -c \"echo 0 > /proc/sys/user/max_user_namespaces && exec {line}\""
    argv = ["su", user, "-s", "/bin/sh", "-c", line] if user else ["sh", "-c", line]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")


def sandbox_run(tmp_root, user=None, py=sys.executable, refuse=False, unsafe=False, jobs=None):
    d = os.path.join(tmp_root, "checkout")
    if not os.path.isdir(d):
        checkout(tmp_root)
    jobs_path = os.path.join(tmp_root, f"jobs-{os.urandom(3).hex()}.json")
    with open(jobs_path, "w") as f:
        json.dump(jobs if jobs is not None else all_jobs()[0], f)
    os.chmod(jobs_path, 0o644)
    p = run_here([py, os.path.join(d, "run.py"), d, jobs_path, "unsafe" if unsafe else "safe"], user, refuse)
    if refuse and "unshare" in p.stderr and "Operation not permitted" in p.stderr:
        pytest.skip(f"this machine refuses even our own user namespace: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def check_verdicts(got, names, skip=()):
    res = got["results"]
    assert len(res) == len(names)
    wrong = []
    for name, r in zip(names, res):
        hostile = not (name.startswith("control") or name in ("thread idiom", "stdout plain"))
        if name in skip:
            continue
        if r["passed"] == hostile:
            wrong.append((name, r["status"], r["error"]))
    assert not wrong, (got["isolation"], wrong)


@pytest.fixture(scope="module")
def as_root(tmp_root):
    if os.geteuid() != 0:
        pytest.skip("the harness is not root here")
    return sandbox_run(tmp_root)


def test_root_harness_programs_run_as_nobody_and_every_attack_fails(as_root, tmp_root):
    got, _ = as_root
    assert "programs run as host uid/gid 65534" in got["isolation"] and "uts" in got["isolation"]
    check_verdicts(got, all_jobs()[1])
    probe = {"kind": "call", "setup": "", "entry_point": "f", "inputs": [[]], "expected": None,
             "program": "import os, socket\ndef f():\n    return [os.getuid(), os.getgid(), socket.gethostname(), "
                        "open('/proc/self/uid_map').read().split()]\n"}
    got, _ = sandbox_run(tmp_root, jobs=[probe])
    uid, gid, host, uid_map = got["results"][0]["outputs"][0]
    assert (uid, gid) == (65534, 65534) and host != os.uname().nodename
    # 65534 inside is 65534 on the host: the program owns nothing there
    assert ["65534", "65534", "1"] in [uid_map[i:i + 3] for i in range(0, len(uid_map), 3)]


def test_ordinary_user_harness_every_attack_fails(tmp_root):
    user, py = ordinary_user()
    got, _ = sandbox_run(tmp_root, user=user, py=py)
    assert got.get("isolation", "").startswith("user+net+mount+pid+ipc+uts namespaces"), got
    # the oom_score_adj write itself may succeed for the worker's own uid; the control after it checks it was undone
    check_verdicts(got, all_jobs()[1])


def test_refused_user_namespaces_stop_the_sandbox_with_the_fixes(tmp_root):
    got, _ = sandbox_run(tmp_root, refuse=True)
    msg = got.get("refused") or ""
    assert "refused a user namespace" in msg, got
    for fix in ("max_user_namespaces", "Docker", "Podman", "Apptainer", "--unsafe_no_isolation"):
        assert fix in msg, fix


def test_refused_user_namespaces_with_the_opt_in_run_loudly_and_say_so(tmp_root):
    ok = {"kind": "assert", "setup": "", "entry_point": "f", "program": "def f():\n    return 1\n",
          "tests": ["assert f() == 1"]}
    got, err = sandbox_run(tmp_root, refuse=True, unsafe=True, jobs=[ok])
    assert got["isolation"].startswith("UNSAFE: NO isolation") and "namespaces," not in got["isolation"].split(")")[1]
    assert "WARNING: --unsafe_no_isolation" in err
    assert got["results"][0]["passed"]


def test_refused_user_namespaces_stop_03_and_06_unless_opted_in(tmp_path):
    tests = [{"task_id": "t", "instruction": "i", "entry_point": "f", "setup": "", "tests": ["assert f() == 1"]}]
    samples = [{"task_id": "t", "sample_id": 0, "prompt": "p", "completion": "c", "model": "m", "round": 0,
                "code": "def f():\n    return 1\n"}]
    write_jsonl(tmp_path / "tests.jsonl", tests)
    write_jsonl(tmp_path / "samples.jsonl", samples)
    os.chmod(tmp_path, 0o777)
    base = [sys.executable, os.path.join(REPO, "03_execute.py"), "--samples", str(tmp_path / "samples.jsonl"),
            "--tests", str(tmp_path / "tests.jsonl"), "--workers", "1"]
    p = run_here(base + ["--output", str(tmp_path / "a.jsonl")], refuse=True)
    if "unshare" in p.stderr and "Operation not permitted" in p.stderr:
        pytest.skip(f"this machine refuses even our own user namespace: {p.stderr.strip()}")
    assert p.returncode == 1 and "refused a user namespace" in p.stderr and "--unsafe_no_isolation" in p.stderr
    assert not os.path.exists(tmp_path / "a.jsonl") or not open(tmp_path / "a.jsonl").read()
    p = run_here(base + ["--output", str(tmp_path / "b.jsonl"), "--unsafe_no_isolation"], refuse=True)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "WARNING: --unsafe_no_isolation" in p.stderr
    args = json.load(open(tmp_path / "b.args.json"))
    assert args["unsafe_no_isolation"] is True and args["isolation"].startswith("UNSAFE")
    # 06 on saved completions of a one-task JSONL benchmark
    bench = [{"task_id": "t", "instruction": "i", "entry_point": "f", "setup": "", "tests": ["assert f() == 1"]}]
    write_jsonl(tmp_path / "bench.jsonl", bench)
    write_jsonl(tmp_path / "done.jsonl", [{"task_id": "t", "code": "def f():\n    return 1\n"}])
    ev = [sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", "jsonl", "--data_path",
          str(tmp_path / "bench.jsonl"), "--samples", str(tmp_path / "done.jsonl"), "--workers", "1"]
    p = run_here(ev + ["--output_dir", str(tmp_path / "e1")], refuse=True)
    assert p.returncode == 1 and "refused a user namespace" in p.stderr, p.stderr[-2000:]
    p = run_here(ev + ["--output_dir", str(tmp_path / "e2"), "--unsafe_no_isolation"], refuse=True)
    assert p.returncode == 0, p.stderr[-2000:]
    results = [json.load(open(os.path.join(r, f))) for r, _, fs in os.walk(tmp_path / "e2") for f in fs
               if f.endswith("results.json")]
    assert results and results[0]["unsafe_no_isolation"] is True and results[0]["isolation"].startswith("UNSAFE")


def test_repository_inside_the_interpreter_prefix_is_hidden(tmp_root):
    """A checkout inside the interpreter's prefix (a venv here) is bound in with it unless hidden."""
    venv = os.path.join(tmp_root, "venv")
    p = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        pytest.skip(f"could not create a venv: {p.stderr[-300:]}")
    inside = os.path.join(venv, "plum")
    os.makedirs(inside)
    copy_sandbox(inside)
    with open(os.path.join(inside, "run.py"), "w") as f:
        f.write(SCRIPT)
    probe = ("import os, sys\ndef f():\n    hits = []\n"
             f"    for p in ({os.path.join(inside, 'sandbox', 'kernel.py')!r}, {os.path.join(inside, 'run.py')!r}):\n"
             "        try:\n            open(p).read()\n            hits.append(p)\n"
             "        except OSError:\n            pass\n"
             f"    if os.path.isdir({inside!r}) and os.listdir({inside!r}):\n        hits.append('listdir')\n"
             "    return 1 if hits else 0\n")
    jobs = [{"kind": "assert", "setup": "", "entry_point": "f", "program": probe, "tests": ["assert f() == 1"]},
            {"kind": "assert", "setup": "", "entry_point": "f", "program": "def f():\n    return 1\n",
             "tests": ["assert f() == 1"]}]
    jobs_path = os.path.join(tmp_root, "prefix-jobs.json")
    with open(jobs_path, "w") as f:
        json.dump(jobs, f)
    p = subprocess.run([os.path.join(venv, "bin", "python"), os.path.join(inside, "run.py"), inside, jobs_path,
                        "safe"], capture_output=True, text=True, timeout=300, cwd="/")
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert inside in got["isolation"]   # named among what is hidden
    assert [r["passed"] for r in got["results"]] == [False, True], got["results"]


def test_time_slept_while_loading_buys_no_time_later():
    """Family 10: the limit moves only by run-queue wait. A program that sleeps 0.9 s while loading, then computes
    for 1.4 s against a 1 s per-test limit is a timeout (it passed when the limit moved by the job's CPU rate); the
    same computation at 0.3 s passes."""
    from sandbox import Sandbox
    prog = ("import time\ntime.sleep(0.9)\n\ndef f(seconds):\n    t = time.process_time()\n"
            "    while time.process_time() - t < seconds:\n        pass\n    return 1\n")
    jobs = [{"kind": "assert", "setup": "", "entry_point": "f", "program": prog, "tests": [f"assert f({s}) == 1"],
             "timeout": 1.0, "program_timeout": 6.0} for s in (1.4, 0.3)]
    with Sandbox(workers=1) as sb:
        res = dict(sb.run(jobs))
    assert res[0]["status"] == "timeout", res[0]
    assert res[1]["passed"], res[1]


def test_hostile_programs_through_03_and_06(tmp_path):
    """The same hostile programs and controls as samples of a PLUM round (03) and of a JSONL benchmark (06): no
    hostile program passes, every control does, one record each."""
    jobs, names = all_jobs()
    asserts = [(n, j) for n, j in zip(names, jobs) if j["kind"] == "assert"]
    tests = [{"task_id": f"t{i}", "instruction": n, "entry_point": "f", "setup": "", "tests": j["tests"],
              "n_generated": 1, "n_kept": 1, "validated": True} for i, (n, j) in enumerate(asserts)]
    samples = [{"task_id": f"t{i}", "sample_id": 0, "prompt": "p", "completion": j["program"], "code": j["program"],
                "model": "m", "round": 0} for i, (n, j) in enumerate(asserts)]
    write_jsonl(tmp_path / "tests.jsonl", tests)
    write_jsonl(tmp_path / "samples.jsonl", samples)
    want = {f"t{i}": n.startswith("control") or n == "thread idiom" for i, (n, _) in enumerate(asserts)}
    p = subprocess.run([sys.executable, os.path.join(REPO, "03_execute.py"), "--samples",
                        str(tmp_path / "samples.jsonl"), "--tests", str(tmp_path / "tests.jsonl"),
                        "--output", str(tmp_path / "ex.jsonl"), "--workers", "1"],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert p.returncode == 0, p.stderr[-2000:]
    got = {r["task_id"]: r["passed"] for r in map(json.loads, open(tmp_path / "ex.jsonl"))}
    assert got == want, [t for t in got if got[t] != want[t]]
    p = subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", "jsonl", "--data_path",
                        str(tmp_path / "tests.jsonl"), "--samples", str(tmp_path / "samples.jsonl"), "--workers", "1",
                        "--output_dir", str(tmp_path / "eval")], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert p.returncode == 0, p.stderr[-2000:]
    got = {r["task_id"]: r["passed"] for d, _, fs in os.walk(tmp_path / "eval") for f in fs
           if f == "executions.jsonl" for r in map(json.loads, open(os.path.join(d, f)))}
    assert got == want, [t for t in got if got[t] != want[t]]


@pytest.mark.parametrize("stage", ["01_generate_tests", "03_execute", "06_eval"])
@pytest.mark.parametrize("flag,value", [("--workers", "0"), ("--timeout", "-1"), ("--timeout", "nan"),
                                        ("--memory_mb", "0")])
def test_sandbox_flags_must_be_positive(stage, flag, value):
    """`--timeout -1` once judged every program a timeout (exit 0), and those became KTO negatives."""
    p = subprocess.run([sys.executable, os.path.join(REPO, f"{stage}.py"), flag, value], capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    assert p.returncode == 2 and f"argument {flag}: must be a positive" in p.stderr, p.stderr[-500:]
