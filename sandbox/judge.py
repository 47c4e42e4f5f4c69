"""The judge J: runs the setup and the tests (trusted) against proxies of the program's entry point; never runs the
program. A name in a test resolves to builtins, the setup, the test's own definitions or a standard-library module;
only the entry point (and names the trusted setup itself leaves to the program) comes from C."""

import os

from .codec import (Callback, CodecError, Handle, SetupObject, _CONTAINERS, _MAP_TYPES, _SEQ_TYPES, _send_bytes,
                    encode, recv_msg, send_msg)
from .jobs import _short_exc, _text


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
