"""Every reference solution of HumanEval+ and MBPP+ on ALL plus inputs, through 06_eval.py (too slow for the suite:
Mbpp/599's reference alone takes about 120 s). Prints each benchmark's pass@1 of its references, which must be 1.

    python bench/check_references.py --workers 2 --output_dir runs/check_references
"""

import argparse
import gzip
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "evalplus")
FILES = {"humaneval_plus": "HumanEvalPlus-v0.1.10.jsonl.gz", "mbpp_plus": "MbppPlus-v0.2.0.jsonl.gz"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output_dir", default="runs/check_references", help="results and executions go here")
    ap.add_argument("--workers", type=int, default=2, help="sandbox workers")
    ap.add_argument("--benchmarks", nargs="+", choices=list(FILES), default=list(FILES), help="which to check")
    args = ap.parse_args()
    for bench in args.benchmarks:
        name = FILES[bench]
        data = os.path.join(DATA, name)
        out = os.path.join(args.output_dir, bench)
        os.makedirs(out, exist_ok=True)
        samples = os.path.join(out, "references.jsonl")
        with gzip.open(data, "rt") as f, open(samples, "w") as w:
            for r in map(json.loads, f):
                w.write(json.dumps({"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]}) + "\n")
        subprocess.run([sys.executable, os.path.join(REPO, "06_eval.py"), "--benchmark", bench, "--data_path", data,
                        "--samples", samples, "--output_dir", out, "--workers", str(args.workers),
                        "--cache_dir", os.path.join(args.output_dir, "cache")], check=True)
        failed = [e for e in map(json.loads, open(os.path.join(out, "executions.jsonl"))) if not e["passed"]]
        print(f"{bench}: {len(failed)} reference(s) failed: {[(e['task_id'], e['status']) for e in failed][:20]}")


if __name__ == "__main__":
    main()
