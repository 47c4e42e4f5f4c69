"""Stage 3: run every sampled program against its task's tests in the sandbox; one execution record per sample.

    python 03_execute.py --samples runs/r0/samples.jsonl --tests runs/r0/tests.jsonl \\
        --output runs/r0/executions.jsonl --workers 8
    torchrun: not used (no model; CPU only). Slurm array, one shard of the samples per task:
    sbatch --array=0-3 slurm/03_execute.sbatch     # executions.shard-0000K-of-00004.jsonl

Joins samples (task_id, sample_id, code) with tests.jsonl (task_id, tests, setup, entry_point) on task_id. A test
item that is a string is an assert snippet (kind "assert"); an item {"input", "output"} is a stdin/stdout case
(kind "stdio", judged like LiveCodeBench). Tests are read into memory once (one record per task); samples stream,
with one program in flight per worker, so memory stays flat however many samples there are.

Writes, one line per sample (DESIGN.md, Records):
  OUTPUT: task_id, sample_id, status (sandbox.STATUSES: passed, failed, error, syntax_error, timeout, memory,
          output_limit, killed), passed (bool: every test passed), tests_passed, tests_total, test_status (list,
          one per test), error (short text or null), seconds
  OUTPUT.args.json: the resolved arguments, plus the sandbox's isolation and the programs' environment (the
          Python and package versions a program sees; the run stops, naming the module, when one does not import)
Resume: a rerun skips the (task_id, sample_id) pairs already in OUTPUT; --overwrite starts afresh. A rerun with
nothing left to do says so and exits 0; the summary's figures (pass rate, statuses) are always the whole
OUTPUT's. Ctrl-C keeps what was written (exit 130); rerun the same command to resume.
Bad input (malformed line, a sample whose task has no tests, code that is not a string or not UTF-8, a missing
file) stops with the file, the line and the fix, exit status 1; the records already written stay. Empty code (the
model wrote none) is judged like any program, fails its tests, and is counted in the summary.
"""

import collections
import time

from common import (TEST_TIMEOUT, InputError, JsonlWriter, add_sandbox_args, add_shard_args, check_writable, die,
                    done_keys, execution_record, expand_inputs, is_stdin_task, open_sandbox, positive, progress,
                    read_jsonl, resolve_shard, run_stage, select_shard, shard_path, stage_parser, write_args)

# what generated tests and their programs import beyond the standard library (requirements.txt, the programs'
# environment): MBPP-style and LeetCodeDataset tasks use them
PROGRAM_MODULES = ("numpy", "sortedcontainers")


def parse_args(argv=None):
    p = stage_parser(__doc__.split("\n\n")[0])
    # inputs and output
    p.add_argument("--samples", required=True, help="samples.jsonl from 02 (a path or a quoted glob of shards)")
    p.add_argument("--tests", required=True, help="tests.jsonl from 01 (a path or a quoted glob)")
    p.add_argument("--output", required=True, help="executions.jsonl to append to")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    # sandbox
    p.add_argument("--workers", type=positive(int), default=2, help="sandbox worker processes (about one per core)")
    p.add_argument("--timeout", type=positive(float), default=TEST_TIMEOUT,
                   help=f"seconds per test (default {TEST_TIMEOUT:g})")
    p.add_argument("--program_timeout", type=positive(float), default=None,
                   help="seconds per program, loading included (default: timeout x (tests + 1))")
    p.add_argument("--memory_mb", type=positive(int), default=2048, help="address-space limit per program (MiB)")
    p.add_argument("--max_output_bytes", type=positive(int), default=4 << 20, help="stdout+stderr cap per program")
    add_sandbox_args(p)
    # sharding
    add_shard_args(p)
    return p.parse_args(argv)


def load_tests(pattern):
    """task_id -> job template (kind, tests, setup, entry_point), with the file and line of each task."""
    tasks = {}
    for path in expand_inputs(pattern):
        # entry_point (null for a stdin task) decides which name the judge takes from a program: a record without it
        # is not 01's tests.jsonl
        for lineno, rec in enumerate(read_jsonl(path, required=("task_id", "tests", "entry_point")), 1):
            where = f"{path} (task {rec['task_id']!r})"
            tests = rec["tests"]
            if not isinstance(tests, list):
                raise InputError(f"{where}: 'tests' must be a list of assert strings or {{input, output}} objects")
            # the kind is common.is_stdin_task's, as 02 asked for the program; then every item must fit that kind
            kind = "stdio" if is_stdin_task(tests) else "assert"
            fits = (all(isinstance(t.get("input"), str) and isinstance(t.get("output"), str) for t in tests)
                    if kind == "stdio" else all(isinstance(t, str) for t in tests))
            if not fits:
                raise InputError(f"{where}: 'tests' mixes or misshapes items; each must be an assert string or "
                                 f"an object with string 'input' and 'output'")
            setup = rec.get("setup") or ""
            if not isinstance(setup, str):
                raise InputError(f"{where}: 'setup' must be a string")
            tasks[str(rec["task_id"])] = {"kind": kind, "tests": tests, "setup": setup,
                                          "entry_point": rec.get("entry_point")}
    return tasks


def make_job(sample, tasks, samples_path):
    """The sandbox job for one sample, or InputError naming the sample and the fix."""
    tid = str(sample["task_id"])
    where = f"{samples_path}: task {tid!r} sample {sample['sample_id']!r}"
    task = tasks.get(tid)
    if task is None:
        raise InputError(f"{where}: no tests for this task in --tests; pass the tests.jsonl that 01 wrote for "
                         f"these instructions (or drop the task's samples)")
    code = sample["code"]
    if not isinstance(code, str):
        raise InputError(f"{where}: 'code' must be a string (02 writes \"\" when the model wrote no code)")
    # Empty code is not bad input: it is what 02 records when the model wrote no code, and an on-policy round needs
    # it judged (every test fails: the entry point is undefined) so KTO learns from it as an undesirable example.
    try:
        code.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: 'code' is not valid UTF-8 (lone surrogates); rerun 02 or drop the sample") \
            from None
    job = {"kind": task["kind"], "program": code, "tests": task["tests"], "setup": task["setup"]}
    if task["kind"] == "assert" and isinstance(task["entry_point"], str) and task["entry_point"]:
        job["entry_point"] = task["entry_point"]   # the judge takes only this name (and no trusted one) from the code
    return job


def main(argv=None):
    args = parse_args(argv)

    # setup
    try:
        check_writable(args.output, "--output")
        shard_id, num_shards = resolve_shard(args)
        out = shard_path(args.output, shard_id, num_shards)
        tasks = load_tests(args.tests)
        expand_inputs(args.samples)   # a missing samples file is an error before anything starts
        done = set() if args.overwrite else done_keys(out, ("task_id", "sample_id"))
    except InputError as e:
        die(str(e))
    if not tasks:
        die(f"{args.tests}: no tasks; run 01_generate_tests.py first")

    counts = collections.Counter()
    t0 = time.monotonic()
    n_skipped = 0
    n_empty = 0
    pending = {}   # the pool's job index -> its sample; holds only the jobs in flight (one per worker)
    bad = []

    def jobs():
        """Stream samples -> jobs, skipping the ones already done; stop cleanly at the first bad sample."""
        nonlocal n_skipped, n_empty
        stream = select_shard(read_jsonl(args.samples, required=("task_id", "sample_id", "code")),
                              shard_id, num_shards)
        k = 0
        while True:
            try:
                sample = next(stream)
                if (sample["task_id"], sample["sample_id"]) in done:
                    n_skipped += 1
                    n_empty += not sample["code"].strip()
                    continue
                job = make_job(sample, tasks, args.samples)
            except StopIteration:
                return
            except InputError as e:
                bad.append(str(e))
                return
            pending[k] = sample
            k += 1
            yield job

    with open_sandbox(args, workers=args.workers, timeout=args.timeout, program_timeout=args.program_timeout,
                      memory_mb=args.memory_mb, max_output_bytes=args.max_output_bytes) as sb:
        # the programs' environment (requirements.txt): a package the sandbox cannot import would fail every
        # program that uses it, silently; stop here and name it
        try:
            env = sb.environment(PROGRAM_MODULES)
        except RuntimeError as e:
            die(f"{e}; pip install -r requirements.txt into the Python that runs 03_execute.py")
        write_args(out, args, isolation=sb.isolation, shard_id=shard_id, num_shards=num_shards, environment=env)
        with JsonlWriter(out, overwrite=args.overwrite) as w, \
                progress(desc="execute", unit="prog", dynamic_ncols=True) as bar:
            for i, res in sb.run(jobs()):   # the pool pulls a job only when a worker is free: memory stays flat
                sample = pending.pop(i)
                w.write(execution_record(sample["task_id"], sample["sample_id"], res, sample["code"]))
                counts[res["status"]] += 1
                n_empty += not sample["code"].strip()
                bar.update(1)

    n = sum(counts.values())
    dt = time.monotonic() - t0
    if bad:
        # the records in the output, not only this run's: a rerun that stops at the same line wrote none
        kept = len(done) + n
        die(bad[0] + (f"  ({kept} records are in {out}, {n} of them written by this run; they are kept and a rerun "
                      f"resumes after them)" if kept else "  (no record was written)"))
    if n == 0 and n_skipped == 0:
        die(f"{args.samples}: no samples in shard {shard_id} of {num_shards}; nothing to execute")
    # The figures of the whole output, not only of the programs run now: after a resume they are the run's figures.
    whole = collections.Counter(rec["status"] for rec in read_jsonl(out, required=("status",)))
    total = sum(whole.values())
    rate = whole["passed"] / total if total else 0.0
    status = ", ".join(f"{k} {v}" for k, v in whole.most_common())
    if n == 0:   # a rerun of a finished stage: success, so that `afterok` chains and rerun-everything scripts go on
        print(f"03_execute: nothing to do, all {n_skipped} samples are already in {out} (--overwrite redoes them); "
              f"pass rate {rate:.3f} over {total} programs; {status}; {n_empty} empty programs")
        return 0
    print(f"03_execute: executed {n} programs ({n_skipped} resumed) in {dt:.1f}s, {n / dt:.1f} programs/s; "
          f"whole output: {total} programs, pass rate {rate:.3f}; {status}; {n_empty} empty programs -> {out}")
    return 0

if __name__ == "__main__":
    run_stage(main, "03_execute")
