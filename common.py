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

import glob
import gzip
import io
import json
import os
import sys
import tempfile

# ----------------------------------------------------------------------------------------------------------------
# errors


class InputError(Exception):
    """Bad input the user can fix: the message names the file, the line and the fix."""


def die(msg, code=1):
    """End the program with a clear message and a non-zero status (records already appended stay on disk)."""
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


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
                    missing = [k for k in required if k not in rec]
                    if missing:
                        raise InputError(f"{path}:{lineno}: record lacks key(s) {missing}; this file is not the "
                                         f"input this stage expects (see DESIGN.md, Records)")
                    yield rec
            except UnicodeDecodeError:
                raise InputError(f"{path}:{lineno + 1}: not UTF-8 text; re-encode the file as UTF-8") from None


def read_json_records(path):
    """Records from a `.json` array, `.jsonl` or `.jsonl.gz` file (data releases come in all three)."""
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
        return data
    return list(read_jsonl(path))


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

    def __init__(self, path, overwrite=False):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if overwrite and os.path.exists(path):
            os.remove(path)
        _repair_tail(path)
        self.f = open(path, "a", encoding="utf-8")
        self.count = 0

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


def atomic_write_text(path, text):
    """Write a finished file under a temporary name in the same folder, then rename: readers never see half."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
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


def write_args(output, args, **extra):
    """Save the resolved arguments beside the output as OUTPUT.args.json (OUTPUT without .jsonl)."""
    base = output[: -len(".jsonl")] if output.endswith(".jsonl") else output.rstrip("/")
    d = dict(vars(args)) if not isinstance(args, dict) else dict(args)
    d.update(extra)
    d["argv"] = sys.argv
    atomic_write_json(base + ".args.json", d)


# ----------------------------------------------------------------------------------------------------------------
# sharding


def add_shard_args(parser):
    """--shard_id/--num_shards, defaulting to the Slurm array variables (else 0/1)."""
    parser.add_argument("--shard_id", type=int, default=None,
                        help="this shard's index (default: $SLURM_ARRAY_TASK_ID, else 0)")
    parser.add_argument("--num_shards", type=int, default=None,
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


def shard_path(output, shard_id, num_shards):
    """NAME.jsonl -> NAME.shard-00003-of-00016.jsonl when sharded; unchanged for a single shard."""
    if num_shards == 1:
        return output
    root, ext = os.path.splitext(output)
    return f"{root}.shard-{shard_id:05d}-of-{num_shards:05d}{ext or '.jsonl'}"


def select_shard(items, shard_id, num_shards):
    """Items i with i % num_shards == shard_id, of the input's stable order."""
    for i, item in enumerate(items):
        if i % num_shards == shard_id:
            yield item
