"""The only place untrusted code runs: a pool of warm, namespaced workers that fork one child per program.

    from sandbox import Sandbox, STATUSES
    with Sandbox(workers=2, timeout=3.0) as sb:
        print(sb.isolation)                       # e.g. "user+net+mount+pid namespaces, read-only fs, seccomp ..."
        for i, result in sb.run(jobs):            # (index into jobs, result) as each finishes, one per job
            ...

A job is a dict {"program": str, "kind": ..., optional "timeout" (seconds per test), "program_timeout"}:
    "assert"  "tests": ["assert f(2, 3) == 5", ...], "setup": str (imports, MBPP test_setup_code; may be "")
    "check"   "test": "def check(candidate): ...", "entry_point": "f" or "Solution().twoSum", "setup": str
    "stdio"   "tests": [{"input": str, "output": str}, ...]  judged like LiveCodeBench (stripped lines, Decimal)
    "call"    "entry_point", "inputs": [[arg, ...], ...], "expected": [...] or None, "atol": float,
              "compare": None | a name in COMPARES (EvalPlus special oracles, "lcb" for LiveCodeBench functional)
              with "expected": None the result carries "outputs" (the plain-data return values, None where a
              call failed): how a caller computes a reference's expected outputs once.
A result is {"status", "passed", "tests_passed", "tests_total", "test_status", "error", "seconds"} (+ "outputs").

STATUSES (a program's status is its first non-passing test's status, or the loading failure):
    passed        every test passed
    failed        a test's assertion or comparison was false (a wrong answer)
    error         an exception, an early exit (exit(), os._exit, SystemExit), a return value that is not plain data
    syntax_error  the program does not compile
    timeout       a test or the whole program ran past its time (per-test `timeout`, per-program `program_timeout`)
    memory        MemoryError under the address-space limit `memory_mb`
    output_limit  the program wrote more than `max_output_bytes` to stdout/stderr
    killed        the worker running the program died (its program is still reported, the worker replaced)
Per test (test_status): the same words, plus "not_run" for tests after a timeout or a program that did not load.

HOW VERDICTS STAY HONEST. Each program runs in a candidate child C that holds nothing but the program and its
setup: C is forked from a zygote that was forked before the worker received any job, so no test, no expected value
and no other job is in its memory (a program walking gc or scanning its own memory finds nothing). What crosses
from C is plain data only, in this module's own encoding (never pickle/marshal): exact None, bool, int, float,
complex, str, bytes, list, tuple, dict, set, frozenset; subclasses of those and numpy scalars/arrays are turned
into the exact base value by the *decoder's* rules on the trusted side, so no object with a lying
__eq__/__bool__/__repr__ ever reaches a comparison. Everything else comes back as an opaque handle.

    kind "assert" and "check", fast path: when every test is `assert EXPR == LITERAL` (a check function made only
        of those, `assert True` and docstrings counts; EXPR may use `candidate` but no name the setup or test code
        binds), C evaluates only EXPR and returns plain data; the worker parses LITERAL (ast.literal_eval, never
        eval), never sends it, and compares. MBPP and 148 of HumanEval's 164 check functions take this path.
    kind "assert" and "check", every other test: a separate judge child J (same sandbox, never runs the candidate)
        binds the program's names, then runs the setup (after the program, as MBPP's harness does; the program
        also gets the setup first, errors ignored, so LeetCodeDataset's `List[int]` resolves) and the test code.
        Names the program defines become proxies in J unless the setup redefines them: calling one runs the
        function in C and returns plain data (or a handle: calls/attributes on handles go back to C, so
        `Solution().twoSum(...)` and objects the program constructs work; a handle is never equal to plain data).
        Modules the program imported are imported afresh in J. A handle has no truth value (bool() raises: the
        program's __bool__ could lie). So every `==`, `assert`, `abs(..) < 1e-6`, `set()`,
        `sorted()` of a test runs in J with J's untouched builtins; a program that exits early (exit(), sys.exit,
        os._exit, SystemExit, an atexit hook), prints fake results, writes to every fd it holds, patches builtins
        or walks gc/frames only changes C, and J reports the test as error. This holds for EVERY test shape, not
        only `assert EXPR == EXPECTED`. Setup names stay J's own (trusted prelude helpers such as HumanEval/32's
        `poly`, LeetCodeDataset's `list_node`/`is_same_list`). Instances of classes the setup defines (ListNode,
        TreeNode) cross as class name + attribute data and are rebuilt with J's own class, which is how
        LeetCodeDataset's linked-list and tree tasks are judged; other program objects stay handles (a test that
        needs to compare one fails: honest, documented). The tests themselves are trusted as the judge.
    kind "call": the worker sends each input to C, gets plain data back and compares it itself (EvalPlus rules:
        exact ==, else atol with numpy.allclose(rtol=1e-7) when atol>0 or the expected value is float(s), the
        EvalPlus special oracles; LiveCodeBench: tuple->list then ==). A return value whose encoding passes
        DIGEST_AT (16 MB) crosses as a Digest, the SHA-256 of its canonical bytes, compared type-strictly; with
        "expected": None it comes back as that Digest (see Digest for what this comparison cannot forgive).
    kind "stdio": one fresh C per test with the input on stdin; its stdout is compared like LiveCodeBench. Output
        is the answer, so early exits cannot forge anything.

ISOLATION (reported by `Sandbox.isolation`; degrades with a warning where the kernel refuses namespaces). Each
worker is started clean (fresh interpreter, empty environment), enters user+net+mount namespaces once and becomes
PID 1 of its own pid namespace with a fresh /proc; every mount is remounted read-only and /tmp and /dev/shm are
fresh small tmpfs; the worker marks itself non-dumpable (no /proc/1/mem, environ or fd peeking). Per program the
child gets: setsid, rlimits (CPU, AS, DATA, FSIZE, NOFILE, NPROC, CORE), a fresh temporary directory as cwd (removed
after, /tmp wiped), an environment of PATH/HOME/LANG only, stdin /dev/null (stdio: the test input), stdout/stderr
into capped memfds, its capabilities dropped (effective, permitted, inheritable) under no_new_privs, and a
seccomp filter that refuses new processes
(fork/vfork/clone without CLONE_THREAD: fork bombs die at the first fork; threads still work), mount, unshare,
setns, ptrace and process_vm_*. After each program the worker SIGKILLs every process of its pid namespace except
itself and the zygote, so nothing a program starts outlives it. The network namespace has no interface up.
"""

import ctypes
import ctypes.util
import functools
import math
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import warnings

STATUSES = ("passed", "failed", "error", "syntax_error", "timeout", "memory", "output_limit", "killed")
TEST_STATUSES = STATUSES + ("not_run",)

# EvalPlus special oracles (evalplus/eval/__init__.py, _special_oracle.py) and LiveCodeBench functional judging
COMPARES = ("lcb", "set_eq", "not_none", "always", "or_zero", "surface_area", "digit_distance", "poly_root")
_EVALPLUS_MBPP_SPECIAL = {"are_equivalent": "always", "sum_div": "or_zero", "surface_Area": "surface_area",
                          "digit_distance_nums": "digit_distance"}
_EVALPLUS_MBPP_SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly",
                         "larg_nnum", "intersection_array", "find_dissimilar", "Diff"}
_VALUE_BLIND = ("always", "not_none")   # oracles that never look at the value: a Digest is judged like any output
_EVALPLUS_MBPP_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}


def evalplus_compare(dataset, entry_point):
    """The `compare` name EvalPlus applies to (dataset "humaneval"|"mbpp", entry_point), or None for plain ==."""
    if dataset == "humaneval":
        return "poly_root" if entry_point == "find_zero" else None
    if dataset == "mbpp":
        if entry_point in _EVALPLUS_MBPP_SPECIAL:
            return _EVALPLUS_MBPP_SPECIAL[entry_point]
        if entry_point in _EVALPLUS_MBPP_SET_EQ:
            return "set_eq"
        if entry_point in _EVALPLUS_MBPP_NOT_NONE:
            return "not_none"
    return None


# ================================================================================================================
# plain-data codec: what crosses a process boundary. Never pickle: decoding untrusted bytes must build nothing
# but exact builtin values (and, where the receiver allows, handles and setup-class instances).

MAX_FRAME = 256 << 20


class CodecError(Exception):
    """Bytes that are not a well-formed message, or a value that is not plain data."""


class Handle:
    """An opaque reference to an object that lives in the candidate child (see module docstring)."""
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

    Compared type-strictly: two values match when their plain_digest bytes are equal, which is == for exact
    builtins of the same types in the same order, and not 1 == 1.0 == True, atol, or sets and dicts built in a
    different insertion order. Only kind "call" uses it, and only for such outputs (MBPP+ task 255's reference
    returns 1.66 M tuples, 1.1 GB in this codec, on one plus input)."""
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


DIGEST_AT = 16 << 20     # replies to a "call" whose encoding passes this many bytes cross as a Digest
_DIGEST_PIECES = DIGEST_AT // 8   # encode() stops early past this many pieces (most pieces are 1-9 bytes)


class _TooBig(Exception):
    pass


def plain_digest(x):
    """Digest of a plain value: SHA-256 over marshal (format 2: no back-references, so sharing does not change the
    bytes; exact builtins only) of lists and tuples 4,096 items at a time, so no second copy of a huge value is
    made. Raises ValueError for values marshal refuses (subclasses, handles)."""
    import hashlib
    import marshal
    h = hashlib.sha256()
    n = 0
    if type(x) in (list, tuple):
        head = (b"L" if type(x) is list else b"U") + struct.pack(">Q", len(x))
        h.update(head)
        n += len(head)
        for i in range(0, len(x), 4096):
            b = marshal.dumps(x[i:i + 4096], 2)
            h.update(b)
            n += len(b)
    else:
        b = marshal.dumps(x, 2)
        h.update(b)
        n += len(b)
    return Digest(h.digest(), n)


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
        if id(x) in memo:  # shared or cyclic structure (a linked list with a cycle) crosses as a back-reference
            out.append(b"R" + struct.pack(">I", memo[id(x)][0]))
            return
        memo[id(x)] = (len(memo), x)
        if t is list:
            out.append(b"L" + struct.pack(">I", len(x)))
            for v in x:
                _enc(v, out, memo, to_plain, depth + 1, limit)
        elif t is set:
            out.append(b"E" + struct.pack(">I", len(x)))
            for v in x:
                _enc(v, out, memo, to_plain, depth + 1, limit)
        else:
            out.append(b"M" + struct.pack(">I", len(x)))
            for k, v in x.items():
                _enc(k, out, memo, to_plain, depth + 1, limit)
                _enc(v, out, memo, to_plain, depth + 1, limit)
    elif t is Digest:
        out.append(b"G" + struct.pack(">Q", x.nbytes) + x.sha256)
    elif t is Handle:
        name = x.tname.encode("utf-8", "replace")[:200]
        out.append(b"H" + struct.pack(">QI", x.hid, len(name)) + name)
    elif to_plain is not None:
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


def encode(x, to_plain=None, limit=None):
    """Plain data -> bytes. `to_plain(x)` may map other objects to plain data, a Handle or a SetupObject. With
    `limit`, raises _TooBig once the encoding passes that many pieces."""
    out = []
    _enc(x, out, {}, to_plain, 0, limit)
    return b"".join(out)


class _Reader:
    __slots__ = ("b", "i", "memo", "on_handle", "on_object")

    def __init__(self, b, on_handle, on_object):
        self.b, self.i, self.memo = b, 0, []
        self.on_handle, self.on_object = on_handle, on_object

    def take(self, n):
        j = self.i + n
        if j > len(self.b):
            raise CodecError("truncated message")
        s = self.b[self.i:j]
        self.i = j
        return s

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def value(self, depth=0):
        if depth > 2000:
            raise CodecError("value nested too deeply")
        tag = self.take(1)
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"I":
            s = self.take(self.u32())
            try:
                return int(s, 16) if s[:3] in (b"0x", b"-0x") or s[:2] == b"0x" else int(s)
            except ValueError:
                raise CodecError("bad int") from None
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
                return tuple(items) if tag == b"U" else frozenset(items)
            except TypeError:
                raise CodecError("unhashable item in a frozenset") from None
        if tag == b"L":
            n = self.u32()
            x = []
            self.memo.append(x)
            for _ in range(n):
                x.append(self.value(depth + 1))
            return x
        if tag == b"E":
            n = self.u32()
            x = set()
            self.memo.append(x)
            try:
                for _ in range(n):
                    x.add(self.value(depth + 1))
            except TypeError:
                raise CodecError("unhashable item in a set") from None
            return x
        if tag == b"M":
            n = self.u32()
            x = {}
            self.memo.append(x)
            try:
                for _ in range(n):
                    k = self.value(depth + 1)
                    x[k] = self.value(depth + 1)
            except TypeError:
                raise CodecError("unhashable dict key") from None
            return x
        if tag == b"R":
            k = self.u32()
            if k >= len(self.memo):
                raise CodecError("bad back-reference")
            return self.memo[k]
        if tag == b"O":
            name = self.take(self.u32()).decode("utf-8", "replace")
            slot = len(self.memo)
            self.memo.append(None)
            if self.on_object is None:
                raise CodecError(f"object of class {name!r} not accepted here")
            obj = self.on_object(name)  # an empty instance of the receiver's own class of that name
            self.memo[slot] = obj
            attrs = self.value(depth + 1)
            if type(attrs) is not dict or not all(type(k) is str for k in attrs):
                raise CodecError("bad object attributes")
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
            if self.on_handle is None:
                raise CodecError("handle not accepted here")
            return self.on_handle(hid, tname)
        raise CodecError(f"unknown tag {tag!r}")


def decode(b, on_handle=None, on_object=None):
    """bytes -> plain data; handles and setup objects only where the receiver passes a constructor for them."""
    r = _Reader(b, on_handle, on_object)
    try:
        x = r.value()
    except RecursionError:
        raise CodecError("value nested too deeply") from None
    if r.i != len(b):
        raise CodecError("trailing bytes")
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


def recv_msg(fd, on_handle=None, on_object=None, max_bytes=MAX_FRAME):
    n = struct.unpack(">I", _read_exact(fd, 4))[0]
    if n > max_bytes:
        raise CodecError(f"message of {n} bytes exceeds {max_bytes}")
    return decode(_read_exact(fd, n), on_handle, on_object)


def _wait_readable(fd, deadline):
    """True when fd is readable before `deadline` (time.monotonic), False on timeout."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            r, _, _ = select.select([fd], [], [], left)
        except InterruptedError:
            continue
        return bool(r)


# ================================================================================================================
# kernel interfaces via ctypes (no third-party dependency): namespaces, mounts, capabilities, seccomp

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 24, 38, 22

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _unshare(flags):
    _check(libc().unshare(flags), "unshare")


def _mount(src, target, fstype, flags, data=None):
    _check(libc().mount(src and src.encode(), target.encode(), fstype and fstype.encode(), ctypes.c_ulong(flags),
                        data and data.encode()), f"mount {target}")


def _prctl(opt, a=0, b=0, c=0, d=0):
    return libc().prctl(opt, ctypes.c_ulong(a), ctypes.c_ulong(b), ctypes.c_ulong(c), ctypes.c_ulong(d))


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
                                fsconfig=431, fsmount=432, fspick=433, mount_setattr=442)),
    "aarch64": (0xC00000B7, dict(clone=220, clone3=435, unshare=97, setns=268, mount=40, umount2=39,
                                 pivot_root=41, chroot=51, ptrace=117, process_vm_readv=270, process_vm_writev=271,
                                 bpf=280, userfaultfd=282, keyctl=219, add_key=217, request_key=218,
                                 perf_event_open=241, open_tree=428, move_mount=429, fsopen=430, fsconfig=431,
                                 fsmount=432, fspick=433, mount_setattr=442)),
}


def _seccomp_program():
    """A classic-BPF seccomp filter: EPERM for new processes and namespace/mount/ptrace calls, ENOSYS for clone3
    (so libc falls back to clone, where CLONE_THREAD is checked), everything else allowed. None if unsupported."""
    arch = os.uname().machine
    if arch not in _SYSCALLS:
        return None
    audit, nr = _SYSCALLS[arch]
    LD, JEQ, JSET, JGE, RET = 0x20, 0x15, 0x45, 0x35, 0x06
    ALLOW, KILL = 0x7FFF0000, 0x80000000
    EPERM, ENOSYS = 0x00050000 | 1, 0x00050000 | 38
    ins = [(LD, 0, 0, 4), (JEQ, 1, 0, audit), (RET, 0, 0, KILL), (LD, 0, 0, 0)]
    if arch == "x86_64":
        ins += [(JGE, 0, 1, 0x40000000), (RET, 0, 0, EPERM)]   # the x32 ABI aliases
    for name, n in nr.items():
        if name in ("clone", "clone3"):
            continue
        ins += [(JEQ, 0, 1, n), (RET, 0, 0, EPERM)]
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
            _PREPARED["seccomp"] = (SockFprog(len(prog) // 8, ctypes.addressof(buf)), buf)
        # _LINUX_CAPABILITY_VERSION_3 for this process; two zeroed {effective, permitted, inheritable}
        _PREPARED["caps"] = ((ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)())
        for name in ("prctl", "capset", "unshare", "mount"):
            getattr(libc(), name)   # resolve the symbols now
    return _PREPARED


def _apply_seccomp(prog):
    fprog = _prepared()["seccomp"][0]
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    _check(libc().prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0),
                        ctypes.c_ulong(0)), "seccomp")


def _remount_all_readonly():
    """Remount every mount of this (private) mount namespace read-only, keeping the flags the kernel locks."""
    flagmap = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
    failed = 0
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        parts = line.split()
        target = parts[4].encode().decode("unicode_escape")
        opts = parts[5].split(",")
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for o in opts:
            flags |= flagmap.get(o, 0)
        try:
            _mount(None, target, None, flags)
        except OSError:
            failed += 1
    return failed


# ================================================================================================================
# the child side: candidate C and judge J run these after the zygote forks them


def _child_sandbox(tmpdir, limits, fds):
    """Everything a program's process gets before the first line of untrusted code (see ISOLATION above)."""
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
                     (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, max(1, limits["processes"]) + 1)):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass
    if limits["namespaces"]:
        _drop_capabilities()
    prog = limits.get("seccomp")
    if prog:
        _apply_seccomp(prog)
    import io
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.argv = [""]


def _short_exc(e):
    s = type(e).__name__
    msg = str(e) if not isinstance(e, SystemExit) else f"exit({e.code!r})"
    if msg:
        s += f": {msg}"
    return s[:300]


def _candidate_to_plain(objs, setup_classes):
    """C-side: map a non-plain value to plain data (numpy, subclasses of builtins), a SetupObject or a Handle.
    The trusted side rebuilds only exact builtins from what this produces, so nothing here needs trusting."""
    def to_plain(x):
        t = type(x)
        mod = getattr(t, "__module__", "") or ""
        if mod == "numpy" or mod.startswith("numpy."):
            if hasattr(x, "tolist"):
                return x.tolist()
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
        if t.__name__ in setup_classes and isinstance(getattr(x, "__dict__", None), dict):
            return SetupObject(t.__name__, dict(x.__dict__))
        hid = len(objs) + 1
        objs[hid] = x
        return Handle(hid, t.__name__)
    return to_plain


def _candidate_main(job):
    """C: run setup + program, report the names it defines, then serve calls from the driver on fd 3."""
    import builtins
    import types
    chan = 3
    g = {"__builtins__": builtins}
    kind = job["kind"]
    if kind == "stdio":
        g["__name__"] = "__main__"
    try:
        code = compile(job["program"], "<program>", "exec")
    except (SyntaxError, ValueError) as e:  # ValueError: NUL bytes in the source
        send_msg(chan, ("syntax_error", _short_exc(e)))
        os._exit(1)
    objs = {}
    setup_classes = set()
    if job.get("setup"):
        # the setup is the tests' prelude (imports, LeetCodeDataset's ListNode, MBPP's test_setup_code); the program
        # gets it first so that `List[int]` annotations resolve. Where it needs the program's own names (MBPP
        # task 367 builds trees from the program's Node) it fails here, harmlessly: the judge runs it again after
        # the program, as MBPP's harness does.
        try:
            exec(compile(job["setup"], "<setup>", "exec"), g)
        except BaseException:
            pass
        setup_classes = {k for k, v in g.items() if isinstance(v, type)}
    try:
        if kind == "stdio":
            try:
                exec(code, g)
                rc = 0
            except SystemExit as e:
                rc = 0 if e.code is None else (e.code if isinstance(e.code, int) else 1)
                if not isinstance(e.code, (int, type(None))):
                    print(e.code, file=sys.stderr)
            try:
                sys.stdout.flush()
            except BaseException:
                pass
            os._exit(rc & 0xFF)
        before = dict(g)
        exec(code, g)
    except MemoryError:
        send_msg(chan, ("load_error", "memory", "MemoryError while loading the program"))
        os._exit(1)
    except BaseException as e:
        if kind == "stdio":
            import traceback
            traceback.print_exc()
            try:
                sys.stdout.flush()
            except BaseException:
                pass
            os._exit(1)
        send_msg(chan, ("load_error", "error", _short_exc(e)))
        os._exit(1)
    to_plain = _candidate_to_plain(objs, setup_classes)
    names_to_plain = _candidate_to_plain(objs, ())   # J runs its setup after reading these: no setup objects yet
    names = []
    for k, v in list(g.items()):
        if k.startswith("__") or (k in before and before[k] is v):
            continue
        if isinstance(v, types.ModuleType):
            names.append((k, "module", v.__name__))
        else:
            try:
                encode(v, names_to_plain)
            except (CodecError, RecursionError):
                v = Handle(len(objs) + 1, type(v).__name__)
                objs[v.hid] = g[k]
            names.append((k, "value", v))
    send_msg(chan, ("ready", names), names_to_plain)

    def on_handle(hid, tname):
        return objs[hid]

    entry_cache = {}

    def on_object(name):
        cls = g.get(name)
        if not isinstance(cls, type):
            raise CodecError(f"no class {name}")
        return cls.__new__(cls)

    while True:
        try:
            req = recv_msg(chan, on_handle, on_object)
        except EOFError:
            os._exit(0)
        op = req[0]
        try:
            if op == "get":
                val = eval(req[1], g)
            elif op == "eval":   # a test's EXPR, with `candidate` bound to the entry point (check functions)
                if req[2] and "candidate" not in entry_cache:
                    entry_cache["candidate"] = eval(req[2], g)
                val = eval(req[1], g, entry_cache if req[2] else None)
            elif op == "call":
                val = objs[req[1]](*req[2], **req[3])
            elif op == "attr":
                val = getattr(objs[req[1]], req[2])
            elif op == "setattr":
                setattr(objs[req[1]], req[2], req[3])
                val = None
            elif op == "iter":
                val = list(objs[req[1]])
            else:
                raise ValueError(op)
            reply = ("ok", val)
        except MemoryError:
            reply = ("raise", "MemoryError", "")
        except BaseException as e:  # SystemExit raised by the program is an error, not an exit: it never passes
            reply = ("raise", type(e).__name__, _short_exc(e))
        try:
            if kind == "call" and op == "call" and reply[0] == "ok":
                # a huge return value crosses as its digest (encoding it here would take minutes and gigabytes)
                try:
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
                send_msg(chan, reply, to_plain)
        except CodecError as e:
            send_msg(chan, ("raise", "TypeError", f"return value is not plain data ({e})"))
        except MemoryError:
            send_msg(chan, ("raise", "MemoryError", ""))


class ZygoteDied(Exception):
    """The zygote is gone; this worker must not fork a new one from its own (test-laden) memory."""


class SandboxLost(BaseException):
    """The candidate process is gone (it exited, crashed or was killed): the test cannot pass."""


class RemoteError(Exception):
    """An exception raised in the candidate whose type is not a builtin exception."""


def _judge_main(wchan):
    """J: receive setup and tests from the worker on `wchan`, bind proxies to C (fd 3), run tests, report each."""
    import builtins
    import importlib
    cchan = 3
    job = recv_msg(wchan)
    g = {"__builtins__": builtins}
    send = lambda *m: send_msg(wchan, m)  # noqa: E731

    class Remote:
        """A proxy for an object in C: calls and attribute reads go to C and come back as plain data."""
        __slots__ = ("_hid", "_tname")

        def __init__(self, hid, tname):
            object.__setattr__(self, "_hid", hid)
            object.__setattr__(self, "_tname", tname)

        def __call__(self, *args, **kwargs):
            return rpc(("call", self._hid, args, kwargs))

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return rpc(("attr", self._hid, name))

        def __setattr__(self, name, value):   # MBPP 367's setup links the program's Node objects into a tree
            rpc(("setattr", self._hid, name, value))

        def __iter__(self):
            return iter(rpc(("iter", self._hid)))

        def __bool__(self):
            # the program's own __bool__/__len__ could lie and Python's default (True) could be wrong: a test's
            # truth value is only ever taken of plain data
            raise TypeError(f"the truth value of a {self._tname} object from the program is not plain data")

        def __repr__(self):
            return f"<{self._tname} object of the program>"

    def j_to_plain(x):
        if type(x) is Remote:
            return Handle(x._hid, x._tname)
        t = type(x)
        if t.__name__ in setup_classes and g.get(t.__name__) is t:
            return SetupObject(t.__name__, dict(x.__dict__))
        return x

    def on_object(name):
        cls = g.get(name)
        if name not in setup_classes or not isinstance(cls, type):
            raise CodecError(f"no setup class {name}")
        return cls.__new__(cls)

    def rpc(req):
        try:
            send_msg(cchan, req, j_to_plain)
            reply = recv_msg(cchan, Remote, on_object)
        except (EOFError, OSError):
            raise SandboxLost("the program exited or was killed during the test") from None
        except CodecError as e:
            raise SandboxLost(f"the program sent a malformed reply ({e})") from None
        if type(reply) is not tuple or len(reply) < 2:
            raise SandboxLost("the program sent a malformed reply")
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "raise" and len(reply) == 3 and type(reply[1]) is str:
            exc = getattr(builtins, reply[1], None)
            if isinstance(exc, type) and issubclass(exc, Exception) and exc.__module__ == "builtins":
                raise exc(reply[2])
            raise RemoteError(str(reply[2]))
        raise SandboxLost("the program sent a malformed reply")

    setup_classes = set()
    # wait for the program to load
    try:
        first = recv_msg(cchan, Remote, on_object)
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
    for item in first[1] if type(first[1]) is list else []:
        if type(item) is not tuple or len(item) != 3 or type(item[0]) is not str:
            continue
        name, what, val = item
        if what == "module" and type(val) is str:
            try:
                g[name] = importlib.import_module(val)
            except BaseException:
                pass
        elif what == "value":
            g[name] = val
    # then the setup and the test code, as MBPP's harness orders them (program, test_setup_code, asserts); what
    # they define replaces the program's names: the setup's helpers and classes are the trusted ones
    try:
        if job.get("setup"):
            exec(compile(job["setup"], "<setup>", "exec"), g)
        setup_classes.update(k for k, v in g.items() if isinstance(v, type))
        if job["kind"] == "check":
            exec(compile(job["test"], "<test>", "exec"), g)
    except SandboxLost as e:
        send("load_error", "error", str(e))
        os._exit(0)
    except BaseException as e:
        send("judge_error", "the test setup failed: " + _short_exc(e))
        os._exit(0)
    if job["kind"] == "check":
        try:
            g["__candidate__"] = rpc(("get", job["entry_point"]))
        except SandboxLost as e:
            send("load_error", "error", str(e))
            os._exit(0)
        except BaseException as e:
            send("load_error", "error", f"entry point {job['entry_point']!r}: " + _short_exc(e))
            os._exit(0)
        tests = ["check(__candidate__)"]
    else:
        tests = job["tests"]
    for i, src in enumerate(tests):
        send("start", i)
        try:
            exec(compile(src, f"<test {i}>", "exec"), g)
            send("result", i, "passed", None)
        except AssertionError as e:
            send("result", i, "failed", ("AssertionError: " + str(e))[:300] if str(e) else "AssertionError")
        except MemoryError:
            send("result", i, "memory", "MemoryError")
        except SandboxLost as e:
            send("result", i, "error", str(e))
            os._exit(0)  # C is gone: every later test is not run
        except BaseException as e:
            send("result", i, "error", _short_exc(e))
    send("done")
    os._exit(0)


# ================================================================================================================
# the zygote: forked by the worker before any job, so the programs it forks never see a test


_PRELOAD = ("typing", "re", "collections", "itertools", "functools", "math", "heapq", "bisect", "string", "copy")


def _zygote_main(sock):
    """Fork a child per request; the request carries the program (never tests) and the fds the child uses."""
    import gc
    # what every child imports, imported once here: `resource` is an extension module, and loading it in each
    # child cost ~0.7 ms a program. Likewise the standard modules programs import most (HumanEval's prompts all
    # start with `from typing import List`; site start-up hooks load some of these already on some machines, not
    # on others); none of them registers an at-fork handler that every fork would then run (random, threading)
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
        role, tmpdir, limits, job = decode(data)
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                _child_sandbox(tmpdir, limits, fds)
                if role == "C":
                    _candidate_main(job)
                else:
                    _judge_main(4)
            except BaseException:
                pass
            os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.sendall(struct.pack(">i", pid))


# ================================================================================================================
# the worker: one program at a time, orchestrating C (and J) and judging


class _Worker:
    def __init__(self, cfg, namespaces, proc_fd, private_fds=()):
        self.cfg = cfg
        self.private_fds = private_fds   # the job pipes: the zygote (and so every program) must not hold them
        self.namespaces = namespaces
        self.proc_fd = proc_fd
        self.zpid = None
        self.zsock = None
        self.zygote_dead = False
        self.pending = 0   # spawn requests whose pid has not been read yet
        self.asked = self.answered = 0   # spawn requests and zygote answers during the current job
        self.tmp_root = "/tmp" if namespaces else None

    def start_zygote(self):
        if self.zsock is not None:
            self.zsock.close()
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
        self.zpid, self.zsock = pid, a

    def spawn(self, role, tmpdir, limits, job, fds):
        """Ask the zygote for a child. Its pid is read later (collect_pids), so this worker goes on to wait for the
        child's first message while the zygote forks: one round trip fewer per program."""
        payload = encode((role, tmpdir, limits, job))
        try:
            socket.send_fds(self.zsock, [b"S" + struct.pack(">I", len(payload))], fds)
            self.zsock.sendall(payload)
        except OSError:
            self.zygote_dead = True
            raise ZygoteDied("a program killed the sandbox's zygote") from None
        self.pending += 1
        self.asked += 1

    def collect_pids(self):
        """The pids of the children spawned since the last call, in order."""
        n, self.pending = self.pending, 0
        if n == 0 or self.zygote_dead:
            return []
        try:
            pids = list(struct.unpack(f">{n}i", _recv_n(self.zsock, 4 * n)))
        except (OSError, EOFError):
            self.zygote_dead = True
            return []
        self.answered += n
        return pids

    def cleanup(self, pids, want_status=False):
        """Kill the program's processes and every other process of the namespace but us and the zygote. With
        want_status, wait for the zygote to reap `pids` and return their exit codes; otherwise it reaps them
        lazily (a SIGKILLed process is dead; only its zombie waits)."""
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.namespaces:
            # every process of this pid namespace but this worker and the zygote: nothing outlives its program
            for name in os.listdir(self.proc_fd):
                if name.isdigit() and int(name) not in (1, self.zpid, os.getpid()):
                    try:
                        os.kill(int(name), signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
        else:
            for pid in pids:  # C and J lead their own sessions: their process groups go too
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:   # a program may have stopped the zygote (SIGSTOP to every pid it could see): resume it
            os.kill(self.zpid, signal.SIGCONT)
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

    # ------------------------------------------------------------------------------------------------------------
    def run(self, job):
        import shutil
        import tempfile
        t0 = time.monotonic()
        kind = job.get("kind")
        if kind == "assert":
            n = len(job.get("tests") or [])
        elif kind == "check":
            n = 1
        elif kind == "stdio":
            n = len(job.get("tests") or [])
        elif kind == "call":
            n = len(job.get("inputs") or [])
        else:
            return _result("error", ["not_run"], f"unknown job kind {kind!r}", 0.0)
        per_test = float(job.get("timeout") or self.cfg["timeout"])
        total = job.get("program_timeout") or self.cfg["program_timeout"] or per_test * (n + 1)
        deadline = t0 + float(total)
        limits = dict(self.cfg["limits"], cpu_seconds=float(total) + 1.0)
        tmpdir = tempfile.mkdtemp(prefix="prog-", dir=self.tmp_root)
        os.chmod(tmpdir, 0o777)
        state = {"pids": [], "fds": []}
        self.asked = self.answered = 0
        try:
            if kind == "stdio":
                res = self._run_stdio(job, n, per_test, deadline, tmpdir, limits, state)
            else:
                res = self._run_functional(job, kind, n, per_test, deadline, tmpdir, limits, state)
        finally:
            self.cleanup(state["pids"] + self.collect_pids())
            for fd in state["fds"]:
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(tmpdir, ignore_errors=True)
            if self.namespaces:  # /tmp is our private tmpfs: nothing a program left there reaches the next one
                for name in os.listdir("/tmp"):
                    p = os.path.join("/tmp", name)
                    if os.path.isdir(p) and not os.path.islink(p):
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        try:
                            os.unlink(p)
                        except OSError:
                            pass
        if self.zygote_dead and self.answered < self.asked:
            return {"retry": True}   # the zygote died before forking this job's process: run it elsewhere
        res["seconds"] = round(time.monotonic() - t0, 4)
        return res

    def _new_fd(self, state, fd):
        state["fds"].append(fd)
        return fd

    def _output_fds(self, state):
        out = self._new_fd(state, os.memfd_create("stdout"))
        err = self._new_fd(state, os.memfd_create("stderr"))
        return out, err

    def _over_output(self, fds):
        cap = self.cfg["max_output_bytes"]
        return any(os.fstat(fd).st_size > cap for fd in fds)

    def _run_functional(self, job, kind, n, per_test, deadline, tmpdir, limits, state):
        statuses = ["not_run"] * n
        out, err = self._output_fds(state)
        devnull = self._new_fd(state, os.open(os.devnull, os.O_RDONLY))
        c_drv, c_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        state["fds"] += [c_drv.detach()]
        c_drv = state["fds"][-1]
        cjob = {"kind": kind, "program": job["program"], "setup": job.get("setup") or ""}
        self.spawn("C", tmpdir, limits, cjob, [devnull, out, err, c_end.fileno()])
        c_end.close()
        outputs = None
        plan = _fast_plan_cached(kind, tuple(job.get("tests") or ()), job.get("test") or "",
                                 job.get("setup") or "") if kind != "call" else None
        if kind == "call":
            self.call_times = [None] * n
            res, outputs = self._drive_call(job, n, per_test, deadline, c_drv, statuses)
        elif plan is not None:
            res = self._drive_fast(job, plan, per_test, deadline, c_drv, statuses)
        else:
            j_w, w_j = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            jnull = self._new_fd(state, os.open(os.devnull, os.O_RDWR))
            self.spawn("J", tmpdir, limits, {}, [jnull, jnull, jnull, c_drv, j_w.fileno()])
            j_w.close()
            os.close(c_drv)
            state["fds"].remove(c_drv)
            wj = self._new_fd(state, w_j.detach())
            jjob = {"kind": kind, "setup": job.get("setup") or "", "test": job.get("test") or "",
                    "entry_point": job.get("entry_point") or "", "tests": list(job.get("tests") or [])}
            send_msg(wj, jjob)
            res = self._drive_judge(wj, n, per_test, deadline, statuses)
        if res is None:
            res = _result_from_tests(statuses)
        if self._over_output((out, err)) and res["status"] in ("passed", "failed", "error"):
            res = _result("output_limit", statuses, f"the program wrote more than {self.cfg['max_output_bytes']} "
                          "bytes of output", 0.0)
        if outputs is not None:
            res["outputs"] = outputs
        if kind == "call":
            res["times"] = self.call_times
        return res

    def _drive_judge(self, wj, n, per_test, deadline, statuses):
        """Follow J's reports, enforcing the per-test and per-program deadlines."""
        current, errs = None, {}
        step_deadline = min(deadline, time.monotonic() + per_test)   # loading, then each test in turn
        while True:
            if not _wait_readable(wj, step_deadline):
                which = "the whole program" if time.monotonic() >= deadline else (
                    f"test {current}" if current is not None else "loading the program")
                if current is not None:
                    statuses[current] = "timeout"
                return _result("timeout", statuses, f"timeout ({which})", 0.0)
            try:
                msg = recv_msg(wj)
            except (EOFError, CodecError, OSError):
                if current is not None:
                    statuses[current] = "error"
                return _result("error", statuses, "the test process died (killed by the program, or out of "
                               "memory)", 0.0)
            tag = msg[0]
            if tag == "start":
                current = msg[1]
                step_deadline = min(deadline, time.monotonic() + per_test)
            elif tag == "result":
                _, i, st, err = msg
                statuses[i] = st
                if st != "passed":
                    errs.setdefault(i, err)
                current = None
            elif tag == "done":
                return _judged(statuses, errs)
            elif tag == "load_error":
                st = msg[1] if msg[1] in STATUSES else "error"
                return _result(st, statuses, msg[2][:300], 0.0)
            elif tag == "judge_error":
                return _result("error", statuses, msg[1][:300], 0.0)

    def _await_ready(self, c, deadline, statuses):
        """Wait for C's "ready"; a result dict when the program did not load, else None."""
        try:
            if not _wait_readable(c, deadline):
                return _result("timeout", statuses, "timeout (loading the program)", 0.0)
            first = recv_msg(c, Handle)
        except (EOFError, CodecError, OSError):
            return _result("error", statuses, "the program exited while loading (exit(), os._exit or a crash)",
                           0.0)
        if type(first) is tuple and first and first[0] == "ready":
            return None
        if type(first) is tuple and len(first) == 2 and first[0] == "syntax_error":
            return _result("syntax_error", statuses, str(first[1])[:300], 0.0)
        if type(first) is tuple and len(first) == 3 and first[0] == "load_error":
            return _result(first[1] if first[1] in STATUSES else "error", statuses, str(first[2])[:300], 0.0)
        return _result("error", statuses, "malformed message from the program", 0.0)

    def _drive_fast(self, job, plan, per_test, deadline, c, statuses):
        """Tests shaped `assert EXPR == LITERAL`: C evaluates only EXPR and returns plain data; the literal is
        parsed here and never sent; the comparison runs here."""
        bad = self._await_ready(c, min(deadline, time.monotonic() + per_test), statuses)
        if bad is not None:
            return bad
        entry = job.get("entry_point") if job["kind"] == "check" else None
        errs = {}
        for i, checks in enumerate(plan):
            dl = min(deadline, time.monotonic() + per_test)
            st = "passed"
            for expr, expected in checks:
                if expr is None:   # `assert True`
                    continue
                try:
                    send_msg(c, ("eval", expr, entry))
                    if not _wait_readable(c, dl):
                        statuses[i] = "timeout"
                        which = "the whole program" if time.monotonic() >= deadline else f"test {i}"
                        return _result("timeout", statuses, f"timeout ({which})", 0.0)
                    reply = recv_msg(c, Handle)
                except (EOFError, CodecError, OSError):
                    statuses[i] = "error"
                    return _result("error", statuses, f"test {i}: the program exited or was killed during the "
                                   "test", 0.0)
                if type(reply) is not tuple or len(reply) < 2:
                    st, err = "error", "malformed reply"
                elif reply[0] != "ok":
                    st = "memory" if reply[1] == "MemoryError" else "error"
                    err = str(reply[2]) if len(reply) > 2 else "error"
                elif _contains_handle(reply[1]):
                    st, err = "failed", f"AssertionError ({expr} is an object of the program, not plain data)"
                elif not _plain_equal(reply[1], expected):
                    st, err = "failed", "AssertionError"
                else:
                    continue
                errs.setdefault(i, err)
                break   # a failing assert ends its test, as in the official harnesses
            statuses[i] = st
        return _judged(statuses, errs)

    def _drive_call(self, job, n, per_test, deadline, c, statuses):
        """Send each input to C, compare the plain-data output here (EvalPlus / LiveCodeBench rules)."""
        expected = job.get("expected")
        compare = job.get("compare")
        atol = float(job.get("atol") or 0)
        outputs = [None] * n if expected is None else None
        times = self.call_times = [None] * n   # seconds per input, measured here (EvalPlus's limits need them)
        load_deadline = min(deadline, time.monotonic() + per_test)
        def get(dl):
            if not _wait_readable(c, dl):
                raise TimeoutError
            return recv_msg(c, Handle)

        try:
            first = get(load_deadline)
        except TimeoutError:
            return _result("timeout", statuses, "timeout (loading the program)", 0.0), outputs
        except (EOFError, CodecError, OSError):
            return _result("error", statuses, "the program exited while loading", 0.0), outputs
        if type(first) is not tuple or not first or first[0] != "ready":
            if type(first) is tuple and len(first) == 2 and first[0] == "syntax_error":
                return _result("syntax_error", statuses, str(first[1]), 0.0), outputs
            if type(first) is tuple and len(first) == 3 and first[0] == "load_error":
                st = first[1] if first[1] in STATUSES else "error"
                return _result(st, statuses, str(first[2]), 0.0), outputs
            return _result("error", statuses, "malformed message from the program", 0.0), outputs
        try:
            send_msg(c, ("get", job["entry_point"]))
            fn = get(load_deadline)
        except TimeoutError:
            return _result("timeout", statuses, "timeout (loading the program)", 0.0), outputs
        except (EOFError, CodecError, OSError):
            return _result("error", statuses, "the program exited while loading", 0.0), outputs
        if type(fn) is not tuple or fn[0] != "ok" or type(fn[1]) is not Handle:
            return _result("error", statuses, f"entry point {job['entry_point']!r} is not a function"
                           + (f" ({fn[2]})" if type(fn) is tuple and len(fn) == 3 else ""), 0.0), outputs
        hid = fn[1].hid
        errs = {}
        atol_state = [atol]
        for i, args in enumerate(job["inputs"]):
            t_call = time.monotonic()
            dl = min(deadline, t_call + per_test)
            try:
                send_msg(c, ("call", hid, tuple(args), {}))
                reply = get(dl)
                times[i] = round(time.monotonic() - t_call, 6)
            except TimeoutError:
                statuses[i] = "timeout"
                return _result("timeout", statuses, f"timeout (test {i})", 0.0), outputs
            except (EOFError, CodecError, OSError):
                statuses[i] = "error"
                return (_result("error", statuses, f"test {i}: the program exited during the call", 0.0),
                        outputs)
            if type(reply) is not tuple or len(reply) < 2:
                statuses[i] = "error"
                errs.setdefault(i, "malformed reply")
                continue
            if reply[0] != "ok":
                statuses[i] = "memory" if reply[1] == "MemoryError" else "error"
                errs.setdefault(i, str(reply[2]) if len(reply) > 2 else "error")
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
                outputs[i] = out
                statuses[i] = "passed"
                continue
            if (type(out) is Digest or type(expected[i]) is Digest) and compare not in _VALUE_BLIND:
                statuses[i], err = _compare_digest(out, expected[i], atol, compare)
                if err:
                    errs.setdefault(i, err)
                continue
            try:
                ok = _compare_call(out, expected[i], args, atol_state, compare)
            except Exception as e:  # numpy on ragged shapes etc.: a wrong answer
                ok = False
                errs.setdefault(i, _short_exc(e))
            statuses[i] = "passed" if ok else "failed"
        return _judged(statuses, errs), outputs

    def _run_stdio(self, job, n, per_test, deadline, tmpdir, limits, state):
        statuses = ["not_run"] * n
        errs = {}
        cjob = {"kind": "stdio", "program": job["program"], "setup": job.get("setup") or ""}
        for i, tc in enumerate(job["tests"]):
            dl = min(deadline, time.monotonic() + per_test)
            inp = os.memfd_create("stdin")
            data = tc["input"].encode("utf-8")
            view = memoryview(data)
            while view:
                view = view[os.write(inp, view):]
            os.lseek(inp, 0, os.SEEK_SET)
            out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
            c_drv, c_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.spawn("C", tmpdir, limits, cjob, [inp, out, err, c_end.fileno()])
            c_end.close()
            os.close(inp)
            drv = c_drv.detach()
            try:
                timed_out = not _wait_readable(drv, dl)
                msg = None
                if not timed_out:
                    try:
                        msg = recv_msg(drv)
                    except (EOFError, CodecError, OSError):
                        msg = None
                # C has exited (EOF) or is killed now; its exit status comes back from the zygote
                pid = (self.collect_pids() or [-1])[0]
                status = self.cleanup([pid], want_status=True).get(pid, -999)
                if timed_out:
                    statuses[i] = "timeout"
                    return _result("timeout", statuses, f"timeout (test {i})", 0.0)
                if type(msg) is tuple and len(msg) == 2 and msg[0] == "syntax_error":
                    return _result("syntax_error", statuses, str(msg[1])[:300], 0.0)
                if self._over_output((out, err)):
                    statuses[i] = "output_limit"
                    return _result("output_limit", statuses, f"test {i}: more than "
                                   f"{self.cfg['max_output_bytes']} bytes of output", 0.0)
                if status != 0:
                    tail = _read_memfd(err, 4096).decode("utf-8", "replace").strip().splitlines()
                    statuses[i] = "memory" if tail and "MemoryError" in tail[-1] else "error"
                    errs.setdefault(i, tail[-1] if tail else f"exit status {status}")
                    continue
                got = _read_memfd(out, self.cfg["max_output_bytes"]).decode("utf-8", "replace")
                statuses[i] = "passed" if lcb_stdio_equal(got, tc["output"]) else "failed"
                if statuses[i] == "failed":
                    errs.setdefault(i, "wrong answer")
            finally:
                for fd in (drv, out, err):
                    os.close(fd)
        return _judged(statuses, errs)


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


def _bound_names(tree):
    """Names a module binds at top level (defs, classes, assignments, imports)."""
    import ast
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
    return names


def _fast_assert(stmt, allowed_extra, forbidden):
    """(EXPR source, expected) for `assert EXPR == LITERAL[, msg]`, (None, None) for `assert True`, else None."""
    import ast
    if not isinstance(stmt, ast.Assert):
        return None
    t = stmt.test
    if isinstance(t, ast.Constant) and t.value is True:
        return (None, None)
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)):
        return None
    left, right = t.left, t.comparators[0]
    try:
        expected = ast.literal_eval(right)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    for node in ast.walk(left):
        if isinstance(node, ast.Name) and node.id in forbidden and node.id not in allowed_extra:
            return None   # a trusted helper from setup/test code would be looked up in the program: use J
        if isinstance(node, (ast.Lambda, ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)):
            return None
    return (ast.unparse(left), expected)


def _fast_plan(job):
    """Per test, the list of (EXPR, expected) checks when every test is `assert EXPR == LITERAL` (or a check
    function made only of those, `assert True` and docstrings); None when the judge child J is needed."""
    import ast
    try:
        forbidden = _bound_names(ast.parse(job.get("setup") or ""))
        if job["kind"] == "assert":
            plan = []
            for src in job["tests"]:
                mod = ast.parse(src)
                if len(mod.body) != 1:
                    return None
                p = _fast_assert(mod.body[0], (), forbidden)
                if p is None:
                    return None
                plan.append([p])
            return plan
        mod = ast.parse(job["test"])
        forbidden |= _bound_names(mod)
        checks = None
        for node in mod.body:
            if isinstance(node, ast.FunctionDef) and node.name == "check":
                a = node.args
                if (len(a.args) != 1 or a.args[0].arg != "candidate" or a.vararg or a.kwarg or a.kwonlyargs
                        or a.posonlyargs or node.decorator_list):
                    return None
                checks = []
                for stmt in node.body:
                    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                        continue
                    if isinstance(stmt, ast.Pass):
                        continue
                    p = _fast_assert(stmt, ("candidate",), forbidden)
                    if p is None:
                        return None
                    checks.append(p)
        return None if checks is None else [checks]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@functools.lru_cache(maxsize=4096)
def _fast_plan_cached(kind, tests, test, setup):
    """_fast_plan, once per task: the samples of a task share their tests."""
    return _fast_plan({"kind": kind, "tests": list(tests), "test": test, "setup": setup})


def _compare_digest(out, exp, atol, compare):
    """(status, error) where the output or the expected value was too large to cross and is a Digest: exact,
    type-strict equality only. A mismatch under a rule that forgives differences (atol, an EvalPlus oracle) cannot
    be judged from digests: an error that says so, never a silent fail. Not caught: the rtol 1e-7 that EvalPlus
    grants float outputs with atol 0 (a huge all-float output a rounding away from the reference fails); no
    HumanEval+ or MBPP+ output is both that large and float."""
    try:
        same = (out if type(out) is Digest else plain_digest(out)) == (
            exp if type(exp) is Digest else plain_digest(exp))
    except ValueError:
        return "error", "a value too large to cross that is not exact plain data"
    if same:
        return "passed", None
    if compare is not None or atol > 0:
        return "error", (f"output too large to cross (over {DIGEST_AT >> 20} MB encoded): compared by digest, "
                         f"which cannot apply {'atol' if atol > 0 else compare!r}")
    return "failed", f"output over {DIGEST_AT >> 20} MB encoded: compared by digest (type-strict equality)"


def _plain_equal(a, b):
    """== between two plain values (exact builtins on both sides, so no user __eq__ runs)."""
    try:
        return bool(a == b)
    except RecursionError:
        return False


def _contains_handle(x, depth=0):
    t = type(x)
    if t is Handle:
        return True
    if t in (list, tuple, set, frozenset) and depth < 50:
        return any(_contains_handle(v, depth + 1) for v in x)
    if t is dict and depth < 50:
        return any(_contains_handle(v, depth + 1) for v in x.values())
    return False


def _result(status, statuses, error, seconds):
    return {"status": status, "passed": status == "passed", "tests_passed": statuses.count("passed"),
            "tests_total": len(statuses), "test_status": list(statuses), "error": error, "seconds": seconds}


def _result_from_tests(statuses):
    bad = [s for s in statuses if s != "passed"]
    return _result(bad[0] if bad else "passed", statuses, None, 0.0)


def _judged(statuses, errs):
    """The program's result from its tests: status and error of the first test that did not pass."""
    res = _result_from_tests(statuses)
    bad = [i for i, s in enumerate(statuses) if s != "passed"]
    if bad:
        res["error"] = (f"test {bad[0]}: " + (errs.get(bad[0]) or statuses[bad[0]]))[:300]
    return res


# ================================================================================================================
# judging rules of the official harnesses (trusted side, plain data only)


def lcb_stdio_equal(got, want):
    """LiveCodeBench's stdio grader: strip, split lines, strip each; equal lines, else equal as Decimal tokens."""
    from decimal import Decimal, InvalidOperation

    def lines(s):
        return [ln.strip() for ln in s.strip().split("\n")]

    def decimals(line):
        try:
            return [Decimal(t) for t in line.split()]
        except (InvalidOperation, ValueError):
            return None
    a, b = lines(got), lines(want)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        dx, dy = decimals(x), decimals(y)
        if dx is None or dy is None or dx != dy:
            return False
    return True


def _is_floats(x):
    if type(x) is float:
        return True
    if type(x) in (list, tuple) and x:
        return all(type(i) is float for i in x)
    return False


def _compare_call(out, exp, args, atol_state, compare):
    """One EvalPlus (evalplus/eval/__init__.py unsafe_execute) or LiveCodeBench functional comparison."""
    if compare == "lcb":
        if type(out) is tuple:
            out = list(out)
        return out == exp
    if compare == "poly_root":  # HumanEval/32 find_zero: |poly(xs, out)| <= atol
        xs = args[0]
        if type(out) not in (int, float):
            return False
        return abs(sum(c * math.pow(out, i) for i, c in enumerate(xs))) <= atol_state[0]
    exact = out == exp
    if compare == "always":
        exact = True
    elif compare == "or_zero":
        exact = exact or out == 0
    elif compare == "surface_area":
        b, h = args
        ref = round(b ** 2 + 4 * (b * math.sqrt((b / 2) ** 2 + h ** 2)) / 2)
        exact = exact or (type(out) in (int, float) and abs(out - ref) <= atol_state[0])
    elif compare == "digit_distance":
        s1, s2 = str(args[0]), str(args[1])
        m = max(len(s1), len(s2))
        ref = sum(abs(int(a) - int(b)) for a, b in zip(s1.zfill(m), s2.zfill(m)))
        exact = exact or out == ref
    elif compare == "set_eq":
        try:
            exact = set(out) == set(exp)
        except TypeError:
            exact = False
    elif compare == "not_none":
        exact = (out == exp) if type(out) is bool else (exp == (out is not None))
    # EvalPlus quirk kept on purpose: once an expected float is seen, atol stays 1e-6 for later inputs of the task
    if atol_state[0] == 0 and _is_floats(exp):
        atol_state[0] = 1e-6
    if not exact and atol_state[0] != 0:
        import numpy as np
        if type(out) is not type(exp):
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        return bool(np.allclose(out, exp, rtol=1e-07, atol=atol_state[0]))
    return bool(exact)


# ================================================================================================================
# worker process entry point (a fresh interpreter started by Sandbox with an empty environment)


def _setup_namespaces():
    """Enter user+net+mount namespaces, become PID 1 of a new pid namespace with a fresh /proc, make the file
    system read-only but for private tmpfs /tmp and /dev/shm. Returns (isolation words, /proc fd) or raises."""
    uid, gid = os.getuid(), os.getgid()
    _unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _unshare(CLONE_NEWPID)
    return uid


def _worker_main():
    """Read jobs from fd 0, write results to fd 1, both in the plain-data codec."""
    inp, outp = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    cfg = recv_msg(inp)
    words, warn = [], []
    namespaces = False
    proc_fd = None
    if cfg["namespaces"]:
        try:
            _setup_namespaces()
            namespaces = True
        except OSError as e:
            warn.append(f"namespaces unavailable ({e}); programs run without network, file-system and pid "
                        "isolation")
    if namespaces:
        pid = os.fork()
        if pid != 0:  # the shim outside the pid namespace: lives as long as the namespace's PID 1
            os.close(inp)
            os.close(outp)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            while True:
                try:
                    _, st = os.waitpid(pid, 0)
                    os._exit(0)
                except ChildProcessError:
                    os._exit(0)
                except InterruptedError:
                    continue
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        words.append("user+net+mount+pid namespaces")
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            words.append("fresh /proc")
        except OSError as e:
            warn.append(f"could not mount a fresh /proc ({e})")
        for d in ("/tmp", "/dev/shm"):
            try:
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmpfs_mb']}m,mode=1777")
            except OSError as e:
                warn.append(f"could not mount a private tmpfs on {d} ({e})")
        failed = _remount_all_readonly()
        # the tmpfs mounts were just made read-only too: make the private ones writable again
        for d in ("/tmp", "/dev/shm"):
            try:
                _mount(None, d, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
            except OSError:
                pass
        words.append("read-only file system outside the program's tmpfs" + (f" ({failed} mounts could not be "
                                                                              "made read-only)" if failed else ""))
        proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    _prctl(PR_SET_DUMPABLE, 0)
    prog = _seccomp_program()
    _prepared()
    if prog is None:
        warn.append(f"no seccomp filter for {os.uname().machine}; only RLIMIT_NPROC limits processes")
    else:
        words.append("seccomp (no new processes, no mount/ptrace)")
    if os.getuid() == 0 and prog is None:
        warn.append("running as root: RLIMIT_NPROC does not bind root")
    words.append("rlimits")
    if not namespaces:
        words.insert(0, "NO namespaces (degraded)")
    limits = {"memory_mb": cfg["memory_mb"], "max_file_bytes": cfg["max_file_bytes"],
              "processes": cfg["processes"], "namespaces": namespaces, "seccomp": prog}
    cfg["limits"] = limits
    w = _Worker(cfg, namespaces, proc_fd, (inp, outp))
    w.start_zygote()
    send_msg(outp, ("hello", ", ".join(words), warn))
    while True:
        try:
            job = recv_msg(inp)
        except (EOFError, OSError):
            os._exit(0)
        except CodecError:
            os._exit(3)
        try:
            res = w.run(job)
        except ZygoteDied:
            res = {"retry": True}
        except Exception as e:  # a bug of ours, or a malformed job: still exactly one result
            res = _result("error", [], f"sandbox: {_short_exc(e)}", 0.0)
        send_msg(outp, ("result", res, w.zygote_dead))   # True: this worker retires, the pool replaces it
        if w.zygote_dead:
            os._exit(0)


# ================================================================================================================
# the pool (the caller's side)


class Sandbox:
    """A pool of `workers` warm sandbox workers. Use as a context manager; `run(jobs)` yields (index, result)."""

    def __init__(self, workers=2, timeout=3.0, program_timeout=None, memory_mb=2048, max_output_bytes=4 << 20,
                 max_file_bytes=16 << 20, processes=0, tmpfs_mb=256, namespaces=True, grace=10.0):
        self.cfg = {"timeout": float(timeout), "program_timeout": program_timeout, "memory_mb": int(memory_mb),
                    "max_output_bytes": int(max_output_bytes), "max_file_bytes": int(max_file_bytes),
                    "processes": int(processes), "tmpfs_mb": int(tmpfs_mb), "namespaces": bool(namespaces)}
        self.n = max(1, int(workers))
        self.grace = grace
        self.procs = []
        self.isolation = None
        self.warnings = []

    # -- worker management
    def _start_worker(self):
        p = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), "--_worker"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, close_fds=True,
                             env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd="/")
        send_msg(p.stdin.fileno(), self.cfg)
        hello = recv_msg(p.stdout.fileno())
        if type(hello) is not tuple or hello[0] != "hello":
            raise RuntimeError("sandbox worker failed to start")
        if self.isolation is None:
            self.isolation = hello[1]
            for w in hello[2]:
                warnings.warn(f"sandbox: {w}", RuntimeWarning, stacklevel=3)
            self.warnings = list(hello[2])
        return p

    def _kill_worker(self, p):
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

    def __enter__(self):
        self.procs = [self._start_worker() for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for p in self.procs:
            self._kill_worker(p)
        self.procs = []

    def _job_budget(self, job):
        per = float(job.get("timeout") or self.cfg["timeout"])
        kind = job.get("kind")
        n = len(job.get("inputs") or []) if kind == "call" else (1 if kind == "check" else len(job.get("tests") or []))
        total = job.get("program_timeout") or self.cfg["program_timeout"] or per * (n + 1)
        # stdio runs its tests one fresh process each; the worker's own deadline is `total`, this is the backstop
        return float(total) + self.grace

    # -- the work loop
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
                            yield i, _result("error", [], bad, 0.0)
                            continue
                    try:
                        send_msg(self.procs[slot].stdin.fileno(), job)
                    except OSError:
                        self._replace(slot)
                        send_msg(self.procs[slot].stdin.fileno(), job)
                    busy[slot] = (i, job, time.monotonic(), self._job_budget(job))
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

    def _killed(self, job, t0, why):
        kind = job.get("kind")
        n = len(job.get("inputs") or []) if kind == "call" else (1 if kind == "check" else len(job.get("tests") or []))
        r = _result("killed", ["not_run"] * n, why, round(time.monotonic() - t0, 4))
        return r

    def _replace(self, slot):
        self._kill_worker(self.procs[slot])
        self.procs[slot] = self._start_worker()


def _validate_job(job):
    """A malformed job is a caller's bug: it gets an error result (never a worker crash)."""
    if not isinstance(job, dict) or not isinstance(job.get("program"), str):
        return "job lacks a 'program' string"
    kind = job.get("kind")
    if kind == "assert":
        if not isinstance(job.get("tests"), list) or not all(isinstance(t, str) for t in job["tests"]):
            return "assert job needs 'tests': list of str"
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
    try:
        encode(job)
    except CodecError as e:
        return f"job is not plain data ({e})"
    return None


if __name__ == "__main__" and sys.argv[1:] == ["--_worker"]:
    _worker_main()
