"""Stage 1: a model writes test cases for each instruction; where there is a reference solution only the tests it
passes are kept (PLUM section 3.1).

    python 01_generate_tests.py --model M --dataset mbpp --output runs/r0/tests.jsonl          # MBPP train, 601-974
    python 01_generate_tests.py --model M --dataset leetcode --output tests.jsonl               # LeetCodeDataset train
    python 01_generate_tests.py --model M --dataset jsonl --data_path my.jsonl --output tests.jsonl \
        --instruction_field question --reference_field solution --id_field id --entry_point_field fn
    python 01_generate_tests.py --model M --dataset some/hf-dataset --split train --output tests.jsonl  # + field flags
    python 01_generate_tests.py --completions api_tests.jsonl --dataset mbpp --output tests.jsonl
        # tests written elsewhere (an API model, by hand): {task_id, completion | completions}, parsed and validated here
    sbatch --array=0-7 --gres=gpu:1 --wrap "python 01_generate_tests.py --model M --dataset mbpp --output tests.jsonl"
    python 01_generate_tests.py --corrupt_from tests.jsonl --corrupt_share 0.25 --output tests.corrupt-0.25.jsonl
        # a test-quality ablation: a seeded share of the kept (validated) tests get a wrong expected value

Instructions (--dataset):
    mbpp      MBPP train split (task ids 601-974): text, code (the reference), test_setup_code (-> setup); the entry
              point is the reference's function that its first test calls. --data_path mbpp.jsonl (default:
              ../shared/data/mbpp/mbpp.jsonl beside the repo, else the hub's google-research-datasets/mbpp "full")
    leetcode  LeetCodeDataset train: query (problem + starter code), the import prelude + completion (reference),
              entry_point such as "Solution().twoSum", the prelude (-> setup). --data_path the .jsonl.gz (default:
              ../shared/data/leetcodedataset/LeetCodeDataset-v0.2.0-train.jsonl.gz, else newfacade/LeetCodeDataset)
    jsonl     --data_path FILE (.jsonl, .jsonl.gz or a .json array) with --id_field, --instruction_field,
              --reference_field, --entry_point_field, --setup_field (defaults: task_id, instruction, reference,
              entry_point, setup; a missing reference is null: its tests are kept unvalidated)
    any other name: a Hugging Face dataset (--split), read with the same field flags

Prompt: common.TESTS_PROMPT asks for --num_tests independent single-line assert statements calling the entry point,
in one ```python block (--prompt_file replaces it; fields {instruction}, {entry_point}, {k}), wrapped in the chat
template when the tokenizer has one. --num_samples completions per instruction are parsed together.

Parsing (parse_tests): reasoning before </think> is dropped; asserts are read from every fenced block, else from the
bare text: whole top-level assert statements where the text parses, else assert lines (with continuation lines until
the statement parses). A test is kept only if it is one syntactically valid assert that calls the entry point
(by name, or as a method: "Solution().twoSum" -> `.twoSum(`); duplicates (same syntax tree) are dropped.

Validation: every parsed test is run against the reference in the sandbox (sandbox/, kind "assert", the
instruction's setup first, the entry point named); only tests the reference passes are kept. The sandbox's rule
applies: a name in a test resolves to builtins, the setup, the test itself or a standard-library module, and only
the entry point comes from the program, so a test that leans on another name of the reference (`pi` it imported, a
helper or class it defines) fails against it and is dropped: kept tests are self-contained. An instruction without
a reference keeps its parsed tests unvalidated (validated=false). Every test is also run against three stubs of the
entry point that ignore the task (returning True, False, the repr of their arguments): a test all three pass checks
no behaviour of the function (`assert f(1) == f(1)`, `assert f(x) is not None`, `assert f(2) or True`) and is
dropped as trivial, with or without a reference. Instructions with fewer than --min_tests kept tests are skipped.

Corruption (--corrupt_from T --corrupt_share P): no model is run. T is a finished tests.jsonl; exactly round(P x
its kept tests) tests, drawn with --seed, have the expected value of `assert CALL == LITERAL` replaced by a wrong one
of the same type (int/float + 1, bool negated, str + "x", list/tuple + one element). The call and every other test
are untouched, and since T's tests passed the reference, each corrupted one fails it. Only tests of that shape can be
corrupted; asking for more than there are is an error. OUTPUT is T with `tests` changed, plus `corrupted` (indices
into tests) and `clean_tests` (T's tests); OUTPUT.args.json as below. Written whole (temporary name, renamed).

Writes:
    OUTPUT (tests.jsonl), one record per instruction kept, appended and flushed:
        task_id, instruction, entry_point, tests (list of assert snippets), setup (str, run before the tests),
        n_generated (assert statements found in the completions), n_parsed (valid, unique, calling the entry
        point), n_trivial (passed by every stub, dropped), n_kept (len(tests)), validated (bool: checked against
        a reference), reference (str or null), completions (the raw text the model wrote), prompt (the exact text
        given to the model), model
    OUTPUT.skipped.jsonl  one record per instruction not kept: task_id, reason, n_generated, n_parsed, n_trivial,
                          n_kept, completions (what the model wrote; null where it was not asked)
    OUTPUT.args.json      the resolved arguments
A rerun resumes: instructions already in OUTPUT or OUTPUT.skipped.jsonl are not asked again. Instructions are asked
through generation.generate_chunks (the loop 02 and 06 use too) in fixed chunks of --tasks_per_call (the shard's
order), one generate call each, seeded with generation.derive_seed(--seed, shard_id, chunk index); a chunk with
finished instructions is generated again in full and only the missing ones are written, so a resumed run writes what
an uninterrupted one would (keep --tasks_per_call when resuming). With --backend vllm or openai each instruction is
one request seeded from (--seed, task_id), and a rerun asks only for the instructions not yet written. An
instruction whose prompt plus --max_new_tokens does not fit the model's context is not asked: a skip with reason
"prompt too long: ...". --completions takes the same path, each chunk's unfinished instructions answered from the
file.
"""

import ast
import json
import os
import re
import textwrap


from common import (SEED, InputError, JsonlWriter, add_renamed, add_sandbox_args, add_shard_args, check_writable,
                    die, done_keys, entry_names, fenced_blocks, mbpp_entry_point, non_negative, number, open_sandbox,
                    parses, positive, read_json_records, read_jsonl, require, resolve_shard, run_stage,
                    select_shard, TEST_TIMEOUT, shard_path, shared_data, stage_parser, stem, tests_prompt, write_args)

MBPP_TRAIN = range(601, 975)  # the MBPP paper's split: task ids 601-974 are the training set


def parse_args(argv=None):
    from generation import add_backend_args

    p = stage_parser(__doc__.split("\n")[0])
    # instructions
    p.add_argument("--dataset", default=None, help="mbpp, leetcode, jsonl (with --data_path) or a HF dataset name")
    p.add_argument("--data_path", default=None, help="the instruction file (see the list above for defaults)")
    p.add_argument("--split", default="train", help="split of a Hugging Face dataset")
    p.add_argument("--id_field", default="task_id", help="jsonl/HF: field with a unique id (absent: the row number)")
    p.add_argument("--instruction_field", default="instruction", help="jsonl/HF: field with the instruction")
    p.add_argument("--reference_field", default="reference", help="jsonl/HF: field with a reference program")
    p.add_argument("--entry_point_field", default="entry_point", help="jsonl/HF: field with the function name")
    p.add_argument("--setup_field", default="setup", help="jsonl/HF: field with code run before the tests")
    p.add_argument("--limit", type=positive(int), default=None, help="only the first N instructions (smoke runs)")
    # output
    p.add_argument("--output", required=True, help="tests.jsonl to append to")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    # model (or --completions)
    add_backend_args(p, max_new_tokens=512, model_required=False)
    p.add_argument("--completions", default=None,
                   help="JSONL of {task_id, completion | completions} written elsewhere, used instead of --model")
    # generation
    p.add_argument("--num_tests", type=positive(int), default=10, help="assert statements asked for per completion (K)")
    p.add_argument("--num_samples", type=positive(int), default=1, help="completions per instruction, parsed together")
    p.add_argument("--temperature", type=non_negative(float), default=0.0,
                   help="0 = greedy (default); >0 with --num_samples")
    p.add_argument("--top_p", type=number(float, 0, 1, low_open=True), default=0.95, help="nucleus sampling mass when temperature > 0")
    p.add_argument("--seed", type=SEED, default=0,
                   help="random seed; each chunk of instructions is seeded from (seed, shard, chunk index)")
    p.add_argument("--prompt_file", default=None, help="prompt template with {instruction}, {entry_point}, {k}")
    # filtering and validation
    p.add_argument("--min_tests", type=positive(int), default=1, help="skip instructions with fewer kept tests")
    p.add_argument("--max_tests", type=positive(int), default=None, help="keep at most this many tests per instruction")
    p.add_argument("--workers", type=positive(int), default=os.cpu_count(), help="sandbox worker processes")
    p.add_argument("--timeout", type=positive(float), default=TEST_TIMEOUT, help="seconds per test when running the reference")
    p.add_argument("--memory_mb", type=positive(int), default=2048, help="address-space limit per program (MiB)")
    add_sandbox_args(p)
    p.add_argument("--tasks_per_call", type=positive(int), default=64,
                   help="instructions per generate call and sandbox batch (records are written after each; keep it "
                        "when resuming: it fixes the chunks that seeds are drawn for)")
    # test-quality ablation
    p.add_argument("--corrupt_from", default=None,
                   help="a finished tests.jsonl to corrupt (see Corruption above); no model, no --dataset")
    p.add_argument("--corrupt_share", type=number(float, 0, 1), default=0.0,
                   help="with --corrupt_from: share of the kept tests given a wrong expected value")
    add_shard_args(p)
    add_renamed(p, "--num_generations")
    args = p.parse_args(argv)
    if args.corrupt_from is not None:
        return args
    if args.dataset is None:
        p.error("--dataset is required (mbpp, leetcode, jsonl with --data_path, or a HF dataset name)")
    if (args.model is None) == (args.completions is None):
        p.error("give exactly one of --model M and --completions FILE")
    return args


# ----------------------------------------------------------------------------------------------------------------
# instruction loaders: each yields {task_id, instruction, reference, entry_point, setup}


def _default_path(*parts):
    p = shared_data(*parts)
    return p if os.path.exists(p) else None


MBPP_FIELDS = ("task_id", "text", "code", "test_list")
LEETCODE_FIELDS = ("task_id", "query", "prompt", "completion", "entry_point")


def hub_rows(name, required, **kw):
    """The rows of a Hugging Face dataset (network), each checked for the `required` fields."""
    from datasets import load_dataset
    where = f"{name}[{kw.get('split', '')}]"
    return [require(r, required, f"{where} row {i}") for i, r in enumerate(load_dataset(name, **kw), 1)]


def load_mbpp(path):
    if path:
        rows = read_json_records(path, required=MBPP_FIELDS)
    else:  # only when no local file: the public release, with network
        rows = hub_rows("google-research-datasets/mbpp", MBPP_FIELDS, name="full", split="train")
    for r in rows:
        if int(r["task_id"]) not in MBPP_TRAIN:
            continue
        code = r["code"].replace("\r\n", "\n").replace("\r", "\n")  # the release has Windows line ends
        yield {"task_id": f"mbpp/{r['task_id']}", "instruction": r["text"], "reference": code,
               "entry_point": mbpp_entry_point(code, (r["test_list"] or [""])[0]),
               "setup": r.get("test_setup_code") or ""}


def load_leetcode(path):
    if path:
        rows = read_json_records(path, required=LEETCODE_FIELDS)
    else:
        rows = hub_rows("newfacade/LeetCodeDataset", LEETCODE_FIELDS, split="train")
    for r in rows:
        # the prompt field is the import prelude the reference (and a candidate) needs: List, inf, Counter, ...
        yield {"task_id": f"leetcode/{r['task_id']}", "instruction": r["query"],
               "reference": r["prompt"] + "\n" + r["completion"], "entry_point": r["entry_point"],
               "setup": r["prompt"]}


def load_generic(rows, args, where):
    for i, r in enumerate(rows):
        if args.instruction_field not in r:
            raise InputError(f"{where}: record {i + 1} lacks the instruction field {args.instruction_field!r}; "
                             f"name it with --instruction_field (fields present: {sorted(r)[:12]})")
        ep = r.get(args.entry_point_field)
        ref = r.get(args.reference_field)
        if ep is None and ref:
            ep = (re.findall(r"^def\s+([A-Za-z_]\w*)", ref, re.M) or [None])[-1]  # its last top-level function
        yield {"task_id": str(r.get(args.id_field, i)), "instruction": r[args.instruction_field],
               "reference": ref or None, "entry_point": ep, "setup": r.get(args.setup_field) or ""}


def load_instructions(args):
    if args.dataset == "mbpp":
        return load_mbpp(args.data_path or _default_path("mbpp", "mbpp.jsonl"))
    if args.dataset == "leetcode":
        return load_leetcode(args.data_path or _default_path("leetcodedataset", "LeetCodeDataset-v0.2.0-train.jsonl.gz"))
    if args.dataset == "jsonl":
        if not args.data_path:
            raise InputError("--dataset jsonl needs --data_path FILE")
        return load_generic(read_json_records(args.data_path), args, args.data_path)
    from datasets import load_dataset
    return load_generic(load_dataset(args.dataset, split=args.split), args, f"{args.dataset}[{args.split}]")


# ----------------------------------------------------------------------------------------------------------------
# parsing

def _assert_candidates(text):
    """Assert statements (source text) in one block of text, in order."""
    try:
        tree = ast.parse(text)
        # every assert, also inside `def test_...():` bodies (one that uses a local name fails validation)
        found = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Assert)), key=lambda n: (n.lineno, n.col_offset))
        return [ast.get_source_segment(text, n) for n in found]
    except (SyntaxError, ValueError):
        pass
    # the block does not parse (prose, a truncated last line): read assert lines, joining continuation lines
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i].lstrip().startswith("assert"):
            stmt = lines[i].strip()
            j = i + 1
            while not parses(stmt) and j < len(lines) and j - i < 20:
                stmt += "\n" + lines[j]
                j += 1
            if not parses(stmt):
                stmt, j = lines[i].strip(), i + 1  # never closes: count it once as written, it fails the syntax check
            out.append(stmt)
            i = j
        else:
            i += 1
    return out


def _calls(node, name):
    """Whether the syntax tree calls `name` as a function or as a method."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                return True
    return False


def parse_tests(completion, entry_point):
    """(n_generated, tests): the assert statements found, and those that are valid, unique and call the entry point.

    With no entry point known, a test must call something.
    """
    text = completion.rsplit("</think>", 1)[-1]
    blocks = [body for _, body in fenced_blocks(text)] or [text]
    found = [c for b in blocks for c in _assert_candidates(textwrap.dedent(b))]
    _, name = entry_names(entry_point)
    tests, seen = [], set()
    for src in found:
        src = textwrap.dedent(src).strip()
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError):
            continue
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
            continue
        if not (_calls(tree, name) if name else any(isinstance(n, ast.Call) for n in ast.walk(tree))):
            continue
        key = ast.dump(tree)  # same test written with other spacing or quotes: one test
        if key in seen:
            continue
        seen.add(key)
        tests.append(src)
    return len(found), tests


# ----------------------------------------------------------------------------------------------------------------


def validate(sb, jobs):
    """Run every job's tests against its reference; one result per job, its test_status complete.

    The sandbox stops a program at its first timed-out test and reports the rest "not_run"; those are run again
    without the slow test, so one slow test does not lose the others.
    """
    results = [None] * len(jobs)
    for i, result in sb.run(jobs):
        results[i] = result
    while True:
        again = [(i, [k for k, s in enumerate(r["test_status"]) if s == "not_run"]) for i, r in enumerate(results)]
        again = [(i, ks) for i, ks in again if ks and results[i]["status"] == "timeout"]
        if not again:
            return results
        rerun = [dict(jobs[i], tests=[jobs[i]["tests"][k] for k in ks]) for i, ks in again]
        progress = False
        for j, result in sb.run(rerun):
            i, ks = again[j]
            for k, s in zip(ks, result["test_status"]):
                results[i]["test_status"][k] = s
                progress |= s != "not_run"
        if not progress:  # the reference itself does not load in time: its tests stay not_run (not kept)
            return results


def _wrong_value(v):
    """A value of v's type that differs from it, or None where this function makes none."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 1
    if isinstance(v, str):
        return v + "x"
    if isinstance(v, list):
        return v + [0]
    if isinstance(v, tuple):
        return v + (0,)
    return None


def corrupt_expected(test):
    """`assert CALL == LITERAL` -> the same assert with a wrong LITERAL; None for any other shape of test."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    cmp = tree.body[0].test
    if not (isinstance(cmp, ast.Compare) and len(cmp.ops) == 1 and isinstance(cmp.ops[0], ast.Eq)):
        return None
    try:
        value = ast.literal_eval(cmp.comparators[0])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    wrong = _wrong_value(value)
    if wrong is None:
        return None
    return f"assert {ast.get_source_segment(test, cmp.left)} == {wrong!r}"


def corrupt_tests(records, share, seed):
    """Records with exactly round(share x kept tests) tests corrupted (corrupt_expected), drawn with `seed` among
    the tests of a corruptible shape -> (records, n corrupted, n kept). Inputs are not changed."""
    import random

    slots = []
    for i, rec in enumerate(records):
        for j, t in enumerate(rec["tests"]):
            bad = corrupt_expected(t)
            if bad is not None:
                slots.append((i, j, bad))
    total = sum(len(r["tests"]) for r in records)
    n = round(share * total)
    if n > len(slots):
        raise InputError(f"--corrupt_share {share} asks for {n} of {total} tests, but only {len(slots)} have the "
                         f"shape `assert CALL == LITERAL` that can be corrupted")
    out = [dict(r, tests=list(r["tests"]), clean_tests=list(r["tests"]), corrupted=[]) for r in records]
    for k in sorted(random.Random(f"corrupt_tests:{seed}").sample(range(len(slots)), n)):
        i, j, bad = slots[k]
        out[i]["tests"][j] = bad
        out[i]["corrupted"].append(j)
    return out, n, total


def corrupt_main(args):
    from common import atomic_write_text

    records = list(read_jsonl(args.corrupt_from, required=("task_id", "tests")))
    out, n, total = corrupt_tests(records, args.corrupt_share, args.seed)
    write_args(args.output, args)
    atomic_write_text(args.output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    print(f"01_generate_tests: corrupted {n} of {total} tests ({n / max(total, 1):.1%}, asked "
          f"{args.corrupt_share:.1%}) in {len(records)} instructions of {args.corrupt_from} -> {args.output}")
    return 0


STUB_BODIES = ("return True", "return False", "return repr((args, kwargs))")


def stub_programs(entry_point):
    r"""Programs that define the entry point but ignore the task, one per STUB_BODIES; [] when it is unknown.

    >>> stub_programs("add")[0]
    'def add(*args, **kwargs):\n    return True\n'
    >>> stub_programs("Solution().twoSum")[2].splitlines()[1]
    '    def twoSum(self, *args, **kwargs):'
    """
    cls, name = entry_names(entry_point)
    if name is None:
        return []
    if cls != name:  # a method: "Solution().twoSum"
        return [f"class {cls}:\n    def {name}(self, *args, **kwargs):\n        {b}\n" for b in STUB_BODIES]
    return [f"def {name}(*args, **kwargs):\n    {b}\n" for b in STUB_BODIES]


COUNTS = ("n_generated", "n_parsed", "n_trivial", "n_kept")


def check_tests(sb, answered):
    """For each (instruction, its completions): (n_generated, the tests parsed from all completions, deduplicated
    across them, which of those every stub passes (trivial), the reference's sandbox result on them or None where
    there is no reference or no test). One sandbox batch for all, so every worker has work."""
    parsed, jobs, ref_job, stub_jobs = [], [], {}, {}
    for j, (rec, completions) in enumerate(answered):
        n_gen, tests, seen = 0, [], set()
        for c in completions:
            g, ts = parse_tests(c, rec["entry_point"])
            n_gen += g
            for t in ts:  # dedupe across completions too
                key = ast.dump(ast.parse(t))
                if key not in seen:
                    seen.add(key)
                    tests.append(t)
        parsed.append((n_gen, tests))
        if not tests:
            continue
        programs = ([rec["reference"]] if rec["reference"] else []) + stub_programs(rec["entry_point"])
        if rec["reference"]:
            ref_job[j] = len(jobs)
        stub_jobs[j] = range(len(jobs) + bool(rec["reference"]), len(jobs) + len(programs))
        jobs.extend({"program": p, "kind": "assert", "tests": tests, "setup": rec["setup"],
                     "entry_point": rec["entry_point"] or ""} for p in programs)
    results = validate(sb, jobs)
    out = []
    for j, (n_gen, tests) in enumerate(parsed):
        stubs = [results[k]["test_status"] for k in stub_jobs.get(j, ())]
        trivial = [bool(stubs) and all(s[i] == "passed" for s in stubs) for i in range(len(tests))]
        out.append((n_gen, tests, trivial, results[ref_job[j]] if j in ref_job else None))
    return out


def tests_record(rec, completions, checked, args, prompt, model, given):
    """(kept, record): the tests.jsonl record of an instruction with at least --min_tests kept tests, else its
    skip record, with the reason. `checked` is check_tests' entry for it; `given` the --completions read, or None."""
    n_gen, tests, trivial, ref = checked
    if ref is not None:
        kept = [t for t, s, triv in zip(tests, ref["test_status"], trivial) if s == "passed" and not triv]
    else:
        kept = [t for t, triv in zip(tests, trivial) if not triv]
    kept = kept[:args.max_tests]   # None: all
    counts = dict(zip(COUNTS, (n_gen, len(tests), sum(trivial), len(kept))))
    if len(kept) >= args.min_tests:
        return True, {"task_id": rec["task_id"], "instruction": rec["instruction"], "entry_point": rec["entry_point"],
                      "tests": kept, "setup": rec["setup"], **counts, "validated": ref is not None,
                      "reference": rec["reference"], "completions": completions, "prompt": prompt, "model": model}
    if given is not None and rec["task_id"] not in given:
        why = "no completion given"
    elif n_gen == 0:
        why = "no assert statement in the completion"
    elif not tests:
        why = "no valid test calling the entry point"
    else:
        detail = []
        if counts["n_trivial"]:
            detail.append(f"{counts['n_trivial']} of {len(tests)} trivial (every stub passed them)")
        if ref is not None:
            detail.append(f"the reference passed {ref['test_status'].count('passed')} of {len(tests)} "
                          f"(status {ref['status']})")
        why = f"fewer than --min_tests {args.min_tests} tests kept" + (": " + "; ".join(detail) if detail else "")
    return False, {"task_id": rec["task_id"], "reason": why, **counts, "completions": completions}


class GivenCompletions:
    """--completions as a backend for generation.generate_chunks, so tests written elsewhere are chunked, resumed
    and shown as the model's are: an instruction's answer is what the file gives for its task id (the loop passes
    the ids as keys to a backend that seeds per prompt, and asks it for unfinished instructions alone)."""
    seeds_per_prompt = True
    max_context = None

    def __init__(self, given):
        self.given = given

    def fits(self, prompt, max_new_tokens):
        return True

    def generate(self, prompts, keys, **_):
        from generation import Generation
        return [Generation(self.given.get(task_id, []), None, None) for _, task_id in keys]


def read_completions(path):
    """{task_id: [completion, ...]} from a JSONL of {task_id, completion} or {task_id, completions}."""
    out = {}
    for rec in read_jsonl(path, required=("task_id",)):
        got = rec.get("completions", rec.get("completion"))
        if isinstance(got, str):
            got = [got]
        if not isinstance(got, list) or not all(isinstance(c, str) for c in got):
            raise InputError(f"{path}: task {rec['task_id']!r}: expected `completion` (str) or `completions` "
                             f"(list of str)")
        out.setdefault(str(rec["task_id"]), []).extend(got)
    return out


def main(argv=None):
    args = parse_args(argv)
    check_writable(args.output, "--output")
    if args.corrupt_from is not None:
        return corrupt_main(args)
    shard_id, num_shards = resolve_shard(args)
    out = shard_path(args.output, shard_id, num_shards)
    skip_path = stem(out) + ".skipped.jsonl"
    write_args(out, args, shard_id=shard_id, num_shards=num_shards)
    template = open(args.prompt_file, encoding="utf-8").read() if args.prompt_file else None

    # ---- setup: the instructions of this shard that are not done yet
    instructions, seen = [], set()
    for i, rec in enumerate(load_instructions(args)):
        if args.limit is not None and i >= args.limit:
            break
        if rec["task_id"] in seen:
            raise InputError(f"{args.dataset}: task_id {rec['task_id']!r} appears twice; ids must be unique "
                             f"(pick another --id_field)")
        seen.add(rec["task_id"])
        instructions.append(rec)
    instructions = list(select_shard(instructions, shard_id, num_shards))
    if not instructions:
        die(f"--dataset {args.dataset}: no instructions in shard {shard_id} of {num_shards}")
    done = set() if args.overwrite else {k[0] for k in done_keys(out, ("task_id",))}
    if not args.overwrite:
        done |= {k[0] for k in done_keys(skip_path, ("task_id",))}
    todo = [r for r in instructions if r["task_id"] not in done]
    if not todo:
        print(f"01_generate_tests: nothing to do, all {len(instructions)} instructions are in {out} or {skip_path}")
        return 0

    from generation import Skip, Task, backend_from_args, generate_chunks, use_chat
    given = read_completions(args.completions) if args.completions else None
    if given is not None:
        be, prompt_of, stop, model = GivenCompletions(given), lambda rec: None, (), f"completions:{args.completions}"
    else:
        be, model = backend_from_args(args), args.model
        chat = use_chat(be, args)
        stop = () if chat else ('\n"""', "\ndef ", "\nclass ", "\n```")  # a base model's asserts end at new code

        def prompt_of(rec):
            text = tests_prompt(rec["instruction"], rec["entry_point"], args.num_tests, chat=chat, template=template)
            return be.build_prompt(text, chat=chat)
    # one record per instruction, made from all its completions: all of them are missing, or none
    tasks = [Task(rec["task_id"], prompt_of(rec), stop, () if rec["task_id"] in done else
                  tuple(range(args.num_samples)), rec) for rec in instructions]

    totals = dict(instructions=0, kept=0, unvalidated=0, generated=0, parsed=0, trivial=0, tests=0)
    reasons = {}
    with JsonlWriter(out, overwrite=args.overwrite) as w, JsonlWriter(skip_path, overwrite=args.overwrite) as sk, \
            open_sandbox(args, workers=args.workers, timeout=args.timeout, memory_mb=args.memory_mb) as sb:
        # the shared generation loop (chunks, seeds, resume, prompts that do not fit); a chunk's tests are checked in
        # one sandbox batch, so every worker has work
        for results in generate_chunks(be, tasks, n=args.num_samples, max_new_tokens=args.max_new_tokens,
                                       temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                                       shard_id=shard_id, chunk_size=args.tasks_per_call, desc="01_generate_tests"):
            checked = iter(check_tests(sb, [(t.data, got.texts) for t, got in results if not isinstance(got, Skip)]))
            for task, got in results:
                totals["instructions"] += 1
                if isinstance(got, Skip):
                    kept, record = False, {"task_id": task.key, "reason": got.reason, **dict.fromkeys(COUNTS, 0),
                                           "completions": None}
                else:
                    kept, record = tests_record(task.data, got.texts, next(checked), args, task.prompt, model, given)
                for k in ("generated", "parsed", "trivial"):
                    totals[k] += record[f"n_{k}"]
                if kept:
                    w.write(record)
                    totals["kept"] += 1
                    totals["unvalidated"] += not record["validated"]
                    totals["tests"] += record["n_kept"]
                else:
                    sk.write(record)
                    why = record["reason"].split(":")[0]
                    reasons[why] = reasons.get(why, 0) + 1
        isolation = sb.isolation

    skipped = totals["instructions"] - totals["kept"]
    why = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
    print(f"01_generate_tests: {totals['kept']}/{totals['instructions']} instructions kept to {out} "
          f"({totals['unvalidated']} unvalidated: no reference); tests generated {totals['generated']}, "
          f"parsed {totals['parsed']}, trivial {totals['trivial']}, kept {totals['tests']}; {skipped} skipped "
          f"[{skip_path}]"
          + (f": {why}" if why else "") + f"; sandbox isolation: {isolation}"
          + (f"; {be.usage_line()}" if hasattr(be, "usage_line") else ""))
    return 0 if totals["kept"] or done else 1


if __name__ == "__main__":
    run_stage(main, "01_generate_tests")
