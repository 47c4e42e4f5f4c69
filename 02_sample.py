"""Stage 2: draw N candidate programs per instruction from the policy being trained (PLUM's on-policy samples).

    python 02_sample.py --model M --input runs/r0/tests.jsonl --output runs/r0/samples.jsonl \
        --num_samples 8 --temperature 0.8
    python 02_sample.py --model runs/r0/kto/final --input tests.jsonl --output runs/r1/samples.jsonl --round 1
    python 02_sample.py --model M --backend vllm --tensor_parallel_size 4 --input tests.jsonl --output s.jsonl
    sbatch --array=0-7 --gres=gpu:1 --wrap "python 02_sample.py --model M --input tests.jsonl --output s.jsonl"
        # one shard per array task: s.shard-0000K-of-00008.jsonl; 03 reads them back with --samples 's.shard-*.jsonl'

Generation runs in one process per GPU (HF backend) or one vLLM engine (tensor parallel across GPUs): more GPUs means
more shards, not torchrun.

Input: a tests.jsonl from 01: task_id, instruction, entry_point (null for a stdin program), tests (the first
--example_tests of them are shown in the prompt, as MBPP's prompt shows its tests). A record without one of these
keys is refused, naming the file and the line: without them the prompt would not be the one 06 asks.

What the model is asked is common.solution_request, the one place that decides it for 02 and for 06_eval.py's
--benchmark jsonl (held-out tasks): common.solution_prompt's text (instruction, tests shown, a request for one
```python block), wrapped in the tokenizer's chat template when it has one; a base model gets the completion form
and stops at common.base_stop (a stdin task, whose tests are {"input", "output"} cases, is asked for a program that
reads stdin and writes stdout, and its completion does not stop at its `if __name__ == "__main__":` entry or a
top-level print). --prompt_file replaces the text with a template using {instruction}, {entry_point} and {tests}
(give 06 the same file). Change the prompt there, once, and training samples and evaluation move together.

Writes:
    OUTPUT (samples.jsonl), one record per sample, appended and flushed:
        task_id, sample_id (0..N-1 within the task), prompt (the exact text given to the model, template applied),
        completion (the exact text it generated: EOS removed, cut before a stop string), finish_reason ("eos":
        the model ended it; "stop": cut at a stop string; "length": --max_new_tokens ran out; 05 appends EOS only
        to "eos" completions), eos_token_id (the end token the model ended an "eos" completion with, else null:
        05 appends that one), code (the program common.extract_code takes from it; "" when there is none),
        model (--model), round (--round), completion_ids (the token ids the model generated, without the end
        token; cut before a stop string, the tokens that lie wholly before it; written where the backend returns
        them, and what 05 trains on, since re-tokenizing the text need not give back the sampled tokens)
    OUTPUT.skipped.jsonl  one record per task not sampled: task_id, reason (e.g. the prompt does not fit the context)
    OUTPUT.args.json      the resolved arguments
A rerun resumes: it writes only the (task_id, sample_id) pairs not yet in OUTPUT and skips tasks already skipped.
Resume is exact (generation.generate_chunks, the loop 01 and 06 use too): the shard's tasks are cut into fixed chunks
of --tasks_per_call in input order; a chunk is one generate call per distinct set of stop strings, the first seeded
with generation.derive_seed(--seed, shard_id, chunk index) and group k > 0 with derive_seed(--seed, shard_id, chunk
index, k). A rerun regenerates a chunk that lacks samples in full, with the same seeds, and writes only the missing
ones, so OUTPUT ends up with exactly the records an uninterrupted run writes (same machine, same flags:
--num_samples, --tasks_per_call and --batch_size shape the batches). A kill costs at most the chunk being written.
Shard K of M samples tasks i % M == K. With --backend vllm or openai each task is one request seeded from (--seed,
task_id): a rerun asks only for the tasks that lack samples, and a task's samples do not depend on
--tasks_per_call, the sharding or the batch.
"""

import sys


from common import (SEED, InputError, JsonlWriter, add_shard_args, check_writable, die, done_keys, non_negative,
                    number, positive, program_of, read_jsonl, resolve_shard, run_stage, select_shard,
                    shard_path, solution_request, stage_parser, stem, write_args)
from generation import Skip, Task, add_backend_args, backend_from_args, generate_chunks, render, use_chat


# what 02 reads of a tests.jsonl record (DESIGN.md, Records): without `tests` or `entry_point` the prompt would be
# another one than 06 asks held-out tasks with (and 03 has nothing to judge the samples by), so both must be there;
# entry_point may be null (a stdin program), tests may be empty
TASK_FIELDS = ("task_id", "instruction", "entry_point", "tests")


def parse_args(argv=None):
    p = stage_parser(__doc__.split("\n")[0])
    # input / output
    p.add_argument("--input", required=True, help="tests.jsonl from 01 (or instructions JSONL); a glob merges shards")
    p.add_argument("--output", required=True, help="samples JSONL to append to")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    # model (--model, --backend, --dtype, --tensor_parallel_size, --batch_size, --max_new_tokens, --chat)
    add_backend_args(p, max_new_tokens=512)
    # sampling
    p.add_argument("--num_samples", type=positive(int), default=8, help="samples per instruction (N)")
    p.add_argument("--temperature", type=non_negative(float), default=0.8, help="sampling temperature; 0 = greedy")
    p.add_argument("--top_p", type=number(float, 0, 1, low_open=True), default=0.95, help="nucleus sampling mass")
    p.add_argument("--seed", type=SEED, default=0,
                   help="random seed; each chunk of tasks is seeded from (seed, shard, chunk index)")
    p.add_argument("--stop", action="append", default=None,
                   help="stop string (repeatable); default: none for chat prompts, common.base_stop of the task's "
                        "tests for base ones")
    # prompt
    p.add_argument("--example_tests", type=non_negative(int), default=1,  # 0: no test shown
                   help="how many of the task's tests to show in the prompt (MBPP style); 0 names the function")
    p.add_argument("--prompt_file", default=None,
                   help="template replacing the prompt text; fields {instruction}, {entry_point}, {tests}")
    # run
    p.add_argument("--round", type=non_negative(int), default=0, help="PLUM round, recorded in every sample")
    p.add_argument("--tasks_per_call", type=positive(int), default=64,
                   help="tasks per backend.generate call (records are written after each call; keep it the same "
                        "when resuming, it fixes the chunks that seeds are drawn for)")
    add_shard_args(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    check_writable(args.output, "--output")
    shard_id, num_shards = resolve_shard(args)
    out = shard_path(args.output, shard_id, num_shards)
    skip_path = stem(out) + ".skipped.jsonl"
    write_args(out, args, shard_id=shard_id, num_shards=num_shards)
    template = open(args.prompt_file, encoding="utf-8").read() if args.prompt_file else None

    # ---- setup: what is left to do
    tasks, seen = [], set()
    for rec in select_shard(read_jsonl(args.input, required=TASK_FIELDS), shard_id, num_shards):
        if rec["task_id"] in seen:
            raise InputError(f"{args.input}: task_id {rec['task_id']!r} appears twice; task ids must be unique "
                             f"(merge or rename the duplicates)")
        seen.add(rec["task_id"])
        tasks.append(rec)
    if not tasks:
        die(f"{args.input}: no instructions in shard {shard_id} of {num_shards}; nothing to sample")
    done = set() if args.overwrite else done_keys(out, ("task_id", "sample_id"))
    skipped_before = set() if args.overwrite else {k[0] for k in done_keys(skip_path, ("task_id",))}

    def missing(rec):
        if rec["task_id"] in skipped_before:
            return ()
        return tuple(s for s in range(args.num_samples) if (rec["task_id"], s) not in done)

    resumed = sum(1 for rec in tasks if len(missing(rec)) < args.num_samples and rec["task_id"] not in skipped_before)
    if not any(missing(rec) for rec in tasks):
        print(f"02_sample: nothing to do, all {len(tasks)} tasks of this shard are in {out} or {skip_path}")
        return 0

    be = backend_from_args(args)
    chat = use_chat(be, args)
    # the request (prompt text, chat wrapping, stop strings, how the answer becomes the program) is decided in one
    # place, common.solution_request, which 06_eval.py's --benchmark jsonl uses too
    todo = []
    for rec in tasks:
        req = solution_request(rec, chat, args.example_tests, template)
        todo.append(Task(rec["task_id"], render(be, req), req.stop if args.stop is None else tuple(args.stop),
                         missing(rec), (rec, req)))

    # ---- work: the shared generation loop (chunks, seeds, resume); each chunk's missing samples written at once
    n_written = n_empty = n_nocode = n_cut = n_tasks = 0
    skipped = []
    with JsonlWriter(out, overwrite=args.overwrite) as w, \
            JsonlWriter(skip_path, overwrite=args.overwrite) as skip_w:
        for results in generate_chunks(be, todo, n=args.num_samples, max_new_tokens=args.max_new_tokens,
                                       temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                                       shard_id=shard_id, chunk_size=args.tasks_per_call, desc="02_sample",
                                       unit="sample"):
            for task, got in results:
                (rec, req), prompt = task.data, task.prompt
                if isinstance(got, Skip):
                    skip_w.write({"task_id": task.key, "reason": got.reason})
                    skipped.append(task.key)
                    continue
                n_tasks += 1
                for sid in task.missing:
                    completion = got.texts[sid]
                    code = program_of(req, completion, rec.get("entry_point"))
                    n_empty += not completion.strip()
                    n_nocode += not code
                    n_cut += got.finish[sid] == "length"
                    sample = {"task_id": task.key, "sample_id": sid, "prompt": prompt, "completion": completion,
                              "finish_reason": got.finish[sid], "eos_token_id": got.eos[sid], "code": code,
                              "model": args.model, "round": args.round}
                    # the token ids where the backend knows them: 05 trains on these, not on a re-tokenization of
                    # the text, which need not give back what the model sampled
                    if got.ids is not None:
                        sample["completion_ids"] = got.ids[sid]
                    w.write(sample)
                    n_written += 1

    print(f"02_sample: wrote {n_written} samples for {n_tasks} tasks to {out} "
          f"({resumed} tasks resumed, {len(skipped)} skipped [{skip_path}], {n_empty} empty completions, "
          f"{n_nocode} without code, {n_cut} cut at --max_new_tokens)"
          + (f"; {be.usage_line()}" if hasattr(be, "usage_line") else ""))
    if skipped:
        print(f"02_sample: skipped {len(skipped)} task(s) whose prompt does not fit, e.g. {skipped[0]!r}; lower "
              f"--max_new_tokens or use a model with a longer context", file=sys.stderr)
    return 0 if n_written else 1


if __name__ == "__main__":
    run_stage(main, "02_sample")
