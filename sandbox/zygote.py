"""The zygote: forked by the worker before any job, so the programs it forks never see a test. It forks a C or a J
ahead of each job (`_spare_main`), which waits for its job, sandboxes itself (kernel._child_sandbox) and runs."""

import os
import socket
import struct

from .candidate import _candidate_main
from .codec import CodecError, _recv_n, decode
from .judge import _judge_main
from .kernel import _child_sandbox


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
