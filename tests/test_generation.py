"""generation.py: the HF backend agrees with plain transformers generate, and keeps its contract (order, n, stop
strings, EOS removal, seeds, chat templates, context limits, clear errors)."""

import pytest
import torch

from common import InputError
from generation import cut_at_stop, load_backend

PROMPTS = ["def add(a, b):\n", "assert", "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n# now"]


@pytest.fixture(scope="module")
def be(tiny_model):
    return load_backend(tiny_model, batch_size=4)  # small batches: several generate calls per request


def _plain_greedy(be, prompt, max_new_tokens):
    """The reference: one prompt, no padding, transformers' own greedy generate, decoded new tokens."""
    ids = torch.tensor([be.encode(prompt)])
    with torch.inference_mode():
        out = be.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                do_sample=False, pad_token_id=be.tokenizer.pad_token_id, eos_token_id=be.eos_ids)
    new = out[0, ids.shape[1]:].tolist()
    if be.eos_ids[0] in new:
        new = new[:new.index(be.eos_ids[0])]
    return be.tokenizer.decode(new, skip_special_tokens=False)


def test_greedy_matches_plain_generate_in_prompt_order(be):
    # batched with left padding, sorted by length, split over calls: still each prompt's own greedy continuation
    outs = be.generate(PROMPTS, n=2, max_new_tokens=12, temperature=0.0)
    assert [len(o.texts) for o in outs] == [2, 2, 2]
    for prompt, o in zip(PROMPTS, outs):
        assert o.texts[0] == o.texts[1] == _plain_greedy(be, prompt, 12)
        assert o.finish[0] == o.finish[1] and o.ids[0] == o.ids[1]
        assert o.texts[0] == be.tokenizer.decode(o.ids[0]) and o.new_tokens == len(o.ids[0])  # generated once


def test_eos_names_the_end_token_that_ended_the_completion(be):
    """Several end tokens (generation_config lists them: Llama-3-Instruct's <|eot_id|> and <|end_of_text|>): the
    backend says which one ended each completion, so 05 can append that one and not the tokenizer's EOS."""
    ids = be.encode(PROMPTS[0])
    with torch.inference_mode():
        new = be.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                max_new_tokens=12, do_sample=False, pad_token_id=be.tokenizer.pad_token_id,
                                eos_token_id=be.eos_ids)[0, len(ids):].tolist()
    k = next(i for i in range(1, len(new)) if new[i] not in new[:i] and new[i] not in be.eos_ids)
    saved = be.eos_ids
    try:
        be.eos_ids = sorted(set(saved) | {new[k]})   # a second end token, one greedy decoding reaches at step k
        out = be.generate([PROMPTS[0], PROMPTS[1]], max_new_tokens=12)
    finally:
        be.eos_ids = saved
    assert out[0].finish == ["eos"] and out[0].eos == [new[k]] and out[0].ids == [new[:k]]
    assert out[0].texts[0] == be.tokenizer.decode(ids + new[:k])[len(be.tokenizer.decode(ids)):]
    assert all((e is None) == (f != "eos") for e, f in zip(out[1].eos, out[1].finish))


def test_stop_strings_cut_before_the_stop(be):
    (whole,) = be.generate([PROMPTS[0]], max_new_tokens=16)
    full = whole.texts[0]
    assert len(full) > 6
    stop = full[3:6]  # a string the model is known to write
    (got,) = be.generate([PROMPTS[0]], max_new_tokens=16, stop=[stop, "\x00never"])
    assert got.texts[0] == full[: full.index(stop)]
    # why each completion ended, as 05 needs it: EOS, a stop string, or max_new_tokens
    assert got.finish == ["stop"] and got.eos == [None]
    assert whole.finish[0] == ("eos" if whole.new_tokens < 16 else "length")
    (short,) = be.generate([PROMPTS[0]], max_new_tokens=2)
    assert short.finish == ["length"] or short.new_tokens < 2
    assert cut_at_stop("abc<x>def<y>", ["<y>", "<x>"]) == "abc" and cut_at_stop("abc", ["z"]) == "abc"


def test_sampling_seeds(be):
    a = be.generate(PROMPTS, n=3, max_new_tokens=8, temperature=1.0, seed=1)
    b = be.generate(PROMPTS, n=3, max_new_tokens=8, temperature=1.0, seed=1)
    c = be.generate(PROMPTS, n=3, max_new_tokens=8, temperature=1.0, seed=2)
    assert a == b and a != c
    assert all(len(o.texts) == len(o.finish) == len(o.ids) == 3 for o in a)
    assert len({s for o in a for s in o.texts}) > 3  # samples differ from each other


def test_completion_ends_at_eos_and_keeps_text_exactly(be):
    tok = be.tokenizer
    prompt_ids = be.encode("def f(x):\n")
    body = tok(" return x  # done\n", add_special_tokens=False)["input_ids"]
    eos, pad = be.eos_ids[0], tok.pad_token_id
    # (text, the end token that ended it or None, the ids before it)
    assert be._decode_completion(prompt_ids, body + [eos, pad, pad]) == (" return x  # done\n", eos, body)
    assert be._decode_completion(prompt_ids, [eos] + body) == ("", eos, [])
    assert be._decode_completion(prompt_ids, body) == (" return x  # done\n", None, body)  # max_new_tokens ran out
    # tokens after EOS never leak, special tokens the model wrote before it stay
    assert be._decode_completion(prompt_ids, [pad] + body + [eos] + body) == ("<|pad|> return x  # done\n", eos,
                                                                             [pad] + body)


def test_chat_template(tiny_model, tiny_chat_model, be):
    chat = load_backend(tiny_chat_model)
    assert chat.chat and not be.chat
    assert chat.build_prompt("hi") == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert chat.build_prompt("hi", chat=False) == "hi"
    assert be.build_prompt("def f():") == "def f():"
    with pytest.raises(InputError, match="no chat template"):
        be.build_prompt("hi", chat=True)


def test_context_limit(be):
    long_prompt = "x = 1\n" * 2000
    assert not be.fits(long_prompt, 8) and be.fits(PROMPTS[0], 8)
    with pytest.raises(InputError, match="exceed the model's context"):
        be.generate([PROMPTS[0], long_prompt], max_new_tokens=8)


def test_bad_model_and_backend(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        load_backend(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="could not load"):
        load_backend(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="unknown"):
        load_backend(str(tmp_path), backend="tgi")
    with pytest.raises(InputError, match="vllm"):
        load_backend(str(tmp_path), tensor_parallel_size=2)


def test_vllm_on_cpu_serves_at_most_8192_tokens_unless_asked(capsys):
    """A 32k-token model on vLLM's CPU engine: its KV cache does not fit the default memory share, and the engine
    fails only after minutes of start-up. Unset --max_model_len is capped (and says so); a given one is kept."""
    from generation import CPU_MAX_MODEL_LEN, cpu_max_model_len
    assert cpu_max_model_len(None, 32768) == CPU_MAX_MODEL_LEN == 8192
    assert "--max_model_len 8192" in capsys.readouterr().err
    assert cpu_max_model_len(16384, 32768) == 16384 and cpu_max_model_len(None, 2048) is None
    assert cpu_max_model_len(None, None) is None


class _Echo:
    """A backend that answers each prompt with its own text and records what the loop asks it."""
    max_context = 12

    def __init__(self, per_prompt):
        self.seeds_per_prompt, self.calls = per_prompt, []

    def encode(self, prompt):
        return list(prompt)

    def fits(self, prompt, max_new_tokens):
        return len(prompt) + max_new_tokens <= self.max_context

    def generate(self, prompts, n, stop, seed, keys=None, **_):
        self.calls.append((prompts, tuple(stop), seed, keys))
        from generation import Generation
        return [Generation([p] * n, ["eos"] * n, [None] * n) for p in prompts]


@pytest.mark.parametrize("per_prompt", [False, True])
def test_generate_chunks_regenerates_whole_chunks_and_yields_the_missing(per_prompt):
    """The loop of 01, 02 and 06: fixed chunks; a chunk with missing records is asked again whole (HF: its rows
    share one random stream), or only its unfinished tasks where the backend seeds each prompt (keys (seed, task));
    one call per stop group, seeded from (seed, shard, chunk[, group]); a prompt that does not fit is a Skip."""
    from generation import Generation, Skip, Task, derive_seed, generate_chunks
    T = lambda key, prompt, stop=(), missing=(0, 1): Task(key, prompt, stop, missing)   # noqa: E731
    tasks = [T("a", "pa", missing=()), T("b", "pb", ("x",)), T("c", "pc", missing=(1,)),   # chunk 0
             T("d", "p" * 20), T("e", "pe", missing=()), T("f", "pf", missing=()),          # chunk 1
             T("g", "pg", missing=())]                                                       # chunk 2: finished
    be = _Echo(per_prompt)
    got = list(generate_chunks(be, tasks, n=2, max_new_tokens=2, temperature=1.0, top_p=1.0, seed=7, shard_id=3,
                               chunk_size=3, desc="test"))
    assert [[(t.key, type(g)) for t, g in chunk] for chunk in got] == [[("b", Generation), ("c", Generation)],
                                                                        [("d", Skip)]]
    assert got[0][0][1].texts == ["pb", "pb"] and got[1][0][1].reason == (
        "prompt too long: 20 tokens + max_new_tokens 2 exceed the context of 12")
    s0, s1 = derive_seed(7, 3, 0), derive_seed(7, 3, 1)
    if per_prompt:
        assert be.calls == [(["pb"], ("x",), s0, [(7, "b")]), (["pc"], (), derive_seed(7, 3, 0, 1), [(7, "c")])]
    else:
        assert be.calls == [(["pa", "pc"], (), s0, None), (["pb"], ("x",), derive_seed(7, 3, 0, 1), None),
                            (["pe", "pf"], (), s1, None)]
