"""The candidate C: runs the program (and the trusted setup), then serves calls on its channel (fd 3). Everything here
is untrusted once the program has run: nothing C says is believed beyond plain data."""

import os
import sys

from .codec import (Callback, CodecError, DIGEST_AT, Handle, SetupObject, _DIGEST_PIECES, _MAP_TYPES, _SEQ_TYPES, _STD,
                    _TooBig, _send_bytes, encode, plain_digest, recv_msg, send_msg, set_callback_context)
from .jobs import _short_exc


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

    set_callback_context((serve, to_plain, hooks))
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
