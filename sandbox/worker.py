"""The worker: a fresh interpreter started by the pool (`_worker_main`), one per slot. It enters the namespaces and the
minimal root once (kernel.py), forks the zygote before it sees any job, then runs one program at a time: it starts
C (and J where a test needs one), sends requests, reads replies under deadlines, and decides every verdict."""

import os
import select
import signal
import socket
import struct
import sys
import time

from compare import VALUE_BLIND, compare_call, lcb_stdio_equal
from .codec import (CodecError, DIGEST_AT, Digest, Handle, MAX_FRAME, MAX_ITEMS, REF_INLINE_AT, REF_INLINE_TOTAL,
                    _from_last_reply, _recv_n, decode, encode, plain_digest, recv_msg, send_msg)
from .fastpath import _fast_plan_cached, _task_facts
from .jobs import TEST_STATUSES, _fitted, _judged, _program_failed, _result, _short_exc, _tests_of, job_budget
from .judge import _holds
from .kernel import (NOBODY, PR_SET_DUMPABLE, _PROC_READONLY, _become_init, _enter_namespaces, _minimal_root, _prctl,
                     _prepared, _remove_sysv_ipc, _repository, _seccomp_program)
from .zygote import _zygote_main


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
    if not namespaces:   # the namespaces may be in force without the minimal root: say only what is missing
        missing = "no minimal root" if words[0].startswith("user+") else "no namespaces"
        words.insert(0, f"UNSAFE: NO isolation ({missing}, the host's file system)")
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
    here = _repository()
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
