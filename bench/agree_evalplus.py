"""06_eval.py's verdicts against EvalPlus's own on full HumanEval+ and MBPP+, 4 programs per task.

    python bench/agree_evalplus.py --output_dir runs/agree_evalplus                     # full: both benchmarks
    python bench/agree_evalplus.py --limit 10 --output_dir runs/agree_evalplus_10       # a quick look

Programs, for every task (each is the task's prompt + canonical solution, then a wrapper that redefines the entry
point, so all four read as an EvalPlus `solution`):
  reference   the canonical solution as it is;
  base_only   the reference's answer when the arguments are one of the task's base inputs (compared by a canonical
              repr, taken before the call), a perturbed answer otherwise, one that EvalPlus's comparison rejects
              whatever the tolerance: bool negated, int + 1 + 2 atol, float moved by 1 + 2 atol + |r|/1000 (inf
              and nan become 0.0), str/list/tuple/set/dict given one extra item, anything else a string; for
              MBPP's "output not None" tasks None for an answer and True for None. While the reference runs, the
              entry point's name is the reference again, so a recursive reference stays right on base inputs;
  constant    returns the reference's answer on the first base input (a literal), else 0, whatever the arguments;
  raises      raises RuntimeError.
EvalPlus (evalplus 0.3.1, data read from --data_dir through its own loaders with HUMANEVAL/MBPP_OVERRIDE_PATH set,
so nothing is downloaded): as `evalplus.evaluate` does it, with its defaults: ground truth by `trusted_exec` of the
canonical solution on base and plus inputs in this process (times recorded; MBPP's output-not-None tasks), then
`check_correctness` (a copy: evalplus.evaluate imports tree_sitter through its codegen, absent here) of every
program in a ProcessPoolExecutor of --evalplus_parallel workers, `untrusted_check` on base then plus inputs with
fast_check, min time limit 1 s, factor 4. Verdicts: base = base status pass; plus = base and plus status pass (its
HumanEval+/MBPP+ pass@1). They are cached in --output_dir by the content of the programs and data.
Ours: `06_eval.py --benchmark B --data_path F --samples S --output_dir D --workers W --overwrite` on the same
programs; base = `base_passed`, plus = `passed` of each executions.jsonl record.
Each disagreement is then judged again alone, in both harnesses, one program at a time (--no_recheck skips it).

Prints, per benchmark and program kind, the counts of (ours base/plus, EvalPlus base/plus) verdict pairs, then every
disagreement: task, kind, both verdicts, EvalPlus's statuses, our status and error, and the verdicts alone. Writes
the same to --output_dir/agree_evalplus.json; 06's files are under --output_dir/<benchmark>/ours.
"""

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "evalplus")
FILES = {"humaneval_plus": "HumanEvalPlus-v0.1.10.jsonl.gz", "mbpp_plus": "MbppPlus-v0.2.0.jsonl.gz"}
EVALPLUS_DATASET = {"humaneval_plus": "humaneval", "mbpp_plus": "mbpp"}
KINDS = ("reference", "base_only", "constant", "raises")

# ----------------------------------------------------------------------------------------------------------------
# the programs

# a canonical text of a value: repr, with ints in hex (no 4,300-digit limit) and sets/dicts in sorted order (a
# set's repr depends on the hash seed); list vs tuple kept apart. The same function keys the base inputs here and
# the arguments inside the program.
KEY_SRC = '''
def _key(x):
    if type(x) is int:
        return hex(x)
    if isinstance(x, (set, frozenset)):
        return type(x).__name__ + "{" + ",".join(sorted(map(_key, x))) + "}"
    if isinstance(x, dict):
        return "dict{" + ",".join(sorted(_key(k) + ":" + _key(v) for k, v in x.items())) + "}"
    if isinstance(x, (list, tuple)):
        return type(x).__name__ + "(" + ",".join(map(_key, x)) + ")"
    return repr(x)
'''

BASE_ONLY_SRC = '''

# ---- base_only: the reference's answer on a base input, a wrong one beyond
_BASE_KEYS = frozenset({keys!r})
_ATOL = {atol!r}
_NOT_NONE = {not_none!r}
_reference = {ep}
{key_src}

def _perturb(r):
    if _NOT_NONE:
        return None if r is not None else True
    if isinstance(r, bool):
        return not r
    if isinstance(r, int):
        return r + 1 + int(2 * _ATOL)
    if isinstance(r, float):
        if r != r or r in (float("inf"), float("-inf")):
            return 0.0
        return r + 1.0 + 2 * _ATOL + abs(r) / 1000
    if isinstance(r, complex):
        return r + 1 + 2 * _ATOL
    if isinstance(r, str):
        return r + "#"
    if isinstance(r, list):
        return r + ["#perturbed"]
    if isinstance(r, tuple):
        return tuple(r) + ("#perturbed",)
    if isinstance(r, (set, frozenset)):
        return set(r) | {{"#perturbed"}}
    if isinstance(r, dict):
        return {{**r, "#perturbed": None}}
    return "#perturbed"


def _base_only(*args):
    base = _key(args) in _BASE_KEYS
    g = globals()
    g["{ep}"] = _reference   # a recursive reference calls itself, not this wrapper
    try:
        r = _reference(*args)
    finally:
        g["{ep}"] = _base_only
    return r if base else _perturb(r)


{ep} = _base_only
'''

CONSTANT_SRC = '''

# ---- constant
def {ep}(*args):
    return {literal}
'''

RAISES_SRC = '''

# ---- raises
def {ep}(*args):
    raise RuntimeError("raised on purpose")
'''


def canonical_key(x):
    ns = {}
    exec(KEY_SRC, ns)
    return ns["_key"](x)


def literal_of(value):
    """Python source of `value` when it reads back equal and of the same type (and is short), else None."""
    try:
        text = repr(value)
        if len(text) > 2000 or "#" in text:
            return None
        back = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return text if type(back) is type(value) and back == value else None


def build_programs(problem, dataset):
    """{kind: program} for one EvalPlus problem (inputs as EvalPlus passes them)."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec
    ep = problem["entry_point"]
    ref = problem["prompt"] + problem["canonical_solution"]
    not_none = dataset == "mbpp" and ep in MBPP_OUTPUT_NOT_NONE_TASKS
    keys = sorted({canonical_key(tuple(inp)) for inp in problem["base_input"]})
    first = trusted_exec(ref, problem["base_input"][:1], ep, output_not_none=not_none)
    literal = (literal_of(first[0]) if first else None) or "0"
    return {
        "reference": ref,
        "base_only": ref + BASE_ONLY_SRC.format(keys=keys, atol=problem["atol"], not_none=not_none, ep=ep,
                                                key_src=KEY_SRC),
        "constant": ref + CONSTANT_SRC.format(ep=ep, literal=literal),
        "raises": ref + RAISES_SRC.format(ep=ep),
    }


# ----------------------------------------------------------------------------------------------------------------
# EvalPlus


def evalplus_problems(bench, path):
    """EvalPlus's problems, read by its own loader from `path` (its override variable set: no download)."""
    if bench == "humaneval_plus":
        import evalplus.data.humaneval as m
        m.HUMANEVAL_OVERRIDE_PATH = path
        return m.get_human_eval_plus()
    import evalplus.data.mbpp as m
    m.MBPP_OVERRIDE_PATH = path
    return m.get_mbpp_plus()


def evalplus_groundtruth(problem, dataset):
    """evalplus.evaluate.get_groundtruth for one task (without its cache file)."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec
    not_none = dataset == "mbpp" and problem["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
    oracle = {}
    for k in ("base", "plus"):
        oracle[k], oracle[f"{k}_time"] = trusted_exec(problem["prompt"] + problem["canonical_solution"],
                                                      problem[f"{k}_input"], problem["entry_point"],
                                                      record_time=True, output_not_none=not_none)
    return oracle


def evalplus_check(dataset, completion_id, problem, solution, expected_output, identifier):
    """evalplus.evaluate.check_correctness with evaluate's defaults (fast_check, min time limit, factor)."""
    from evalplus.config import DEFAULT_GT_TIME_LIMIT_FACTOR, DEFAULT_MIN_TIME_LIMIT
    from evalplus.eval import untrusted_check
    ret = {"completion_id": completion_id, "task_id": problem["task_id"], "_identifier": identifier}
    for k in ("base", "plus"):
        stat, details = untrusted_check(dataset, solution, problem[f"{k}_input"], problem["entry_point"],
                                        expected=expected_output[k], atol=problem["atol"],
                                        ref_time=expected_output[f"{k}_time"], fast_check=True,
                                        min_time_limit=DEFAULT_MIN_TIME_LIMIT,
                                        gt_time_limit_factor=DEFAULT_GT_TIME_LIMIT_FACTOR)
        ret[k] = stat
        ret[f"{k}_done"] = len(details)   # inputs judged before it stopped (fast_check stops at a failure)
    return ret


def evalplus_verdict(r):
    from evalplus.eval import PASS
    return {"base": r["base"] == PASS, "plus": r["base"] == PASS and r["plus"] == PASS,
            "base_status": r["base"], "plus_status": r["plus"],
            "inputs_done": f"{r['base_done']}/{r['plus_done']}"}


def run_evalplus(bench, problems, programs, parallel):
    """{(task_id, kind): verdict}: ground truth first, every task in order (as get_groundtruth), then the programs
    in a process pool (as evaluate)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from tqdm import tqdm
    dataset = EVALPLUS_DATASET[bench]
    t0 = time.time()
    truth = {t: evalplus_groundtruth(problems[t], dataset) for t in tqdm(programs, desc="evalplus ground truth",
                                                                          file=sys.stderr)}
    print(f"evalplus: ground truth of {len(truth)} tasks in {time.time() - t0:.1f}s", file=sys.stderr)
    out = {}
    with ProcessPoolExecutor(max_workers=parallel) as ex:
        futures = [ex.submit(evalplus_check, dataset, i, problems[t], prog, truth[t], f"{t}:{kind}")
                   for t, progs in programs.items() for i, (kind, prog) in enumerate(progs.items())]
        for f in tqdm(as_completed(futures), total=len(futures), desc=f"evalplus {dataset}", file=sys.stderr):
            r = f.result()
            out[(r["task_id"], KINDS[r["completion_id"]])] = evalplus_verdict(r)
    return out


# ----------------------------------------------------------------------------------------------------------------
# ours


def run_ours(bench, data_path, programs, out_dir, workers, cache_dir, timeout):
    """{(task_id, kind): verdict} from 06_eval.py's executions.jsonl, or None when 06 failed or ran past
    `timeout` s (its log says where)."""
    os.makedirs(out_dir, exist_ok=True)
    samples = os.path.join(out_dir, "samples.jsonl")
    with open(samples, "w") as f:
        for t, progs in programs.items():
            for kind, prog in progs.items():
                f.write(json.dumps({"task_id": t, "sample_id": KINDS.index(kind), "solution": prog}) + "\n")
    argv = [sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", bench, "--data_path", data_path,
            "--samples", samples, "--output_dir", out_dir, "--workers", str(workers), "--cache_dir", cache_dir,
            "--overwrite"]
    log = os.path.join(out_dir, "06.log")
    print(f"ours: {' '.join(argv[1:])}  (log: {log})", file=sys.stderr)
    with open(log, "w") as lf:
        try:
            rc = subprocess.run(argv, cwd=REPO, stdout=lf, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            print(f"ours: 06_eval.py ran past {timeout} s; see {log}", file=sys.stderr)
            return None
    if rc != 0:
        print(f"ours: 06_eval.py exited {rc}; see {log}", file=sys.stderr)
        return None
    out = {}
    with open(os.path.join(out_dir, "executions.jsonl")) as f:
        for rec in map(json.loads, f):
            out[(rec["task_id"], KINDS[rec["sample_id"]])] = {
                "base": bool(rec["base_passed"]), "plus": bool(rec["passed"]), "status": rec["status"],
                "error": rec["error"], "tests_passed": rec["tests_passed"], "tests_total": rec["tests_total"],
                "seconds": rec["seconds"]}
    return out


# ----------------------------------------------------------------------------------------------------------------
# the comparison


def pf(v):
    return "pass" if v else "fail"


def pair(v):
    return f"{pf(v['base'])}/{pf(v['plus'])}" if v else "none"


def table(ours, theirs, keys):
    """[{kind, ours, evalplus, n}] sorted by kind, then count."""
    import collections
    counts = collections.Counter((k, pair(ours.get((t, k))), pair(theirs[(t, k)])) for t, k in keys)
    return [{"kind": k, "ours": o, "evalplus": e, "n": n}
            for (k, o, e), n in sorted(counts.items(), key=lambda x: (KINDS.index(x[0][0]), -x[1]))]


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True).encode())
    return h.hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--output_dir", default="runs/agree_evalplus", help="06's runs, caches and agree_evalplus.json")
    ap.add_argument("--benchmarks", nargs="+", choices=list(FILES), default=list(FILES), help="which to compare")
    ap.add_argument("--data_dir", default=DATA, help="folder holding " + " and ".join(FILES.values()))
    ap.add_argument("--limit", type=int, default=None, help="only the first N tasks of each benchmark")
    ap.add_argument("--tasks", nargs="+", default=None,
                    help="only these task ids (e.g. HumanEval/32 Mbpp/2), after --limit")
    ap.add_argument("--workers", type=int, default=2, help="06_eval.py's --workers")
    ap.add_argument("--evalplus_parallel", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                    help="EvalPlus's process pool (its evaluate's default: half the CPUs)")
    ap.add_argument("--ours_timeout", type=float, default=3600.0,
                    help="seconds 06_eval.py may take per benchmark before it counts as hung")
    ap.add_argument("--no_cache", action="store_true", help="recompute EvalPlus's verdicts even when cached")
    ap.add_argument("--no_recheck", action="store_true",
                    help="do not judge each disagreement again alone in both harnesses")
    args = ap.parse_args()

    import evalplus
    os.makedirs(args.output_dir, exist_ok=True)
    report = {"evalplus": evalplus.__version__, "limit": args.limit, "tasks": args.tasks, "benchmarks": {}}
    start = time.time()
    for bench in args.benchmarks:
        t_bench = time.time()
        data_path = os.path.join(args.data_dir, FILES[bench])
        dataset = EVALPLUS_DATASET[bench]
        problems = evalplus_problems(bench, data_path)
        task_ids = list(problems)[:args.limit] if args.limit else list(problems)
        if args.tasks:
            task_ids = [t for t in task_ids if t in args.tasks]
        if not task_ids:
            continue
        programs = {t: build_programs(problems[t], dataset) for t in task_ids}
        keys = [(t, k) for t in task_ids for k in KINDS]
        bdir = os.path.join(args.output_dir, bench)
        os.makedirs(bdir, exist_ok=True)

        # EvalPlus, cached by the content of the programs and the data
        with open(data_path, "rb") as f:
            data_sha = hashlib.sha256(f.read()).hexdigest()
        d = digest(evalplus.__version__, data_sha, programs, args.evalplus_parallel)
        cache = os.path.join(bdir, f"evalplus-{d}.json")
        if os.path.exists(cache) and not args.no_cache:
            theirs = {tuple(k.split("|")): v for k, v in json.load(open(cache)).items()}
            t_theirs = None
            print(f"evalplus: {bench}: verdicts from {cache}", file=sys.stderr)
        else:
            t0 = time.time()
            theirs = run_evalplus(bench, problems, programs, args.evalplus_parallel)
            t_theirs = time.time() - t0
            with open(cache, "w") as f:
                json.dump({f"{t}|{k}": v for (t, k), v in theirs.items()}, f)

        # ours
        t0 = time.time()
        ours = run_ours(bench, data_path, programs, os.path.join(bdir, "ours"), args.workers,
                        os.path.join(args.output_dir, "cache"), args.ours_timeout)
        t_ours = time.time() - t0
        entry = {"tasks": len(task_ids), "programs": len(keys), "evalplus_seconds": t_theirs,
                 "ours_seconds": t_ours, "ours_finished": ours is not None}
        if ours is None:
            entry["error"] = f"06_eval.py did not finish; see {os.path.join(bdir, 'ours', '06.log')}"
            report["benchmarks"][bench] = entry
            continue
        diffs = []
        for t, k in keys:
            o, e = ours.get((t, k)), theirs[(t, k)]
            if o is None or (o["base"], o["plus"]) != (e["base"], e["plus"]):
                diffs.append({"task_id": t, "kind": k, "ours": pair(o), "evalplus": pair(e),
                              "evalplus_status": f"{e['base_status']}/{e['plus_status']}",
                              "evalplus_inputs_done": e.get("inputs_done"),
                              "ours_status": o and o["status"], "ours_error": o and o["error"],
                              "ours_tests": o and f"{o['tests_passed']}/{o['tests_total']}",
                              "ours_seconds": o and o["seconds"]})
        if diffs and not args.no_recheck:
            recheck(bench, data_path, problems, programs, diffs, bdir, args)
        # where EvalPlus cannot tell base_only from the reference (no plus input beyond the base ones, an oracle
        # that accepts anything): listed so a perturbation that fails to perturb would show
        entry.update(table=table(ours, theirs, keys), disagreements=diffs, seconds=time.time() - t_bench,
                     base_only_passes_plus=[t for t in task_ids if theirs[(t, "base_only")]["plus"]])
        report["benchmarks"][bench] = entry
    report["seconds"] = time.time() - start
    out = os.path.join(args.output_dir, "agree_evalplus.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    print_report(report)
    print(f"-> {out}")


def recheck(bench, data_path, problems, programs, diffs, bdir, args):
    """Judge each disagreeing program again alone: EvalPlus one program at a time in this process (its ground truth
    recomputed for the task), ours in one 06 run of just those programs with one worker."""
    dataset = EVALPLUS_DATASET[bench]
    truth = {}
    for d in diffs:
        t, k = d["task_id"], d["kind"]
        if t not in truth:
            truth[t] = evalplus_groundtruth(problems[t], dataset)
        r = evalplus_check(dataset, KINDS.index(k), problems[t], programs[t][k], truth[t], f"{t}:{k}")
        v = evalplus_verdict(r)
        d["evalplus_alone"] = f"{pair(v)} ({v['base_status']}/{v['plus_status']})"
    subset = {}
    for d in diffs:
        subset.setdefault(d["task_id"], {})[d["kind"]] = programs[d["task_id"]][d["kind"]]
    ours = run_ours(bench, data_path, subset, os.path.join(bdir, "ours_alone"), 1,
                    os.path.join(args.output_dir, "cache"), args.ours_timeout)
    for d in diffs:
        o = ours and ours.get((d["task_id"], d["kind"]))
        d["ours_alone"] = f"{pair(o)} ({o['status']})" if o else "none"


def print_report(report):
    for bench, e in report["benchmarks"].items():
        theirs = "cached" if e["evalplus_seconds"] is None else f"{e['evalplus_seconds']:.0f} s"
        print(f"\n== {bench}: {e['tasks']} tasks, {e['programs']} programs; EvalPlus {theirs}, "
              f"06 {e['ours_seconds']:.0f} s")
        if not e["ours_finished"]:
            print(f"   {e['error']}")
            continue
        print(f"   {'kind':<10} {'ours b/p':<10} {'evalplus b/p':<13} {'n':>5}")
        for row in e["table"]:
            mark = "" if row["ours"] == row["evalplus"] else "   <- differ"
            print(f"   {row['kind']:<10} {row['ours']:<10} {row['evalplus']:<13} {row['n']:>5}{mark}")
        print(f"   base_only passes plus in EvalPlus (nothing beyond base tells it apart): "
              f"{e['base_only_passes_plus'] or 'none'}")
        print(f"   disagreements: {len(e['disagreements'])}")
        for d in e["disagreements"]:
            alone = (f"; alone: ours {d['ours_alone']}, evalplus {d['evalplus_alone']}"
                     if "ours_alone" in d else "")
            err = (d["ours_error"] or "")[:300].replace("\n", " | ")
            done = (f", inputs done base/plus {d['evalplus_inputs_done']}" if d.get("evalplus_inputs_done")
                    else "")
            print(f"   {d['task_id']:<14} {d['kind']:<10} ours {d['ours']} ({d['ours_status']}, tests "
                  f"{d['ours_tests']}, {d['ours_seconds']} s) evalplus {d['evalplus']} ({d['evalplus_status']}"
                  f"{done}){alone}\n      our error: {err}")


if __name__ == "__main__":
    main()
