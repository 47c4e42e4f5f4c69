"""05_train_kto.py on the tiny Llama: log-prob plumbing, learning, resume after a kill, bad input."""

import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from common import InputError
from kto_loss import sequence_logps

tr = importlib.import_module("05_train_kto")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOOD = "def add(a, b):\n    return a + b\n"
BAD = "while True:\n    pass\n"  # shares few tokens with GOOD: a few steps can tell them apart


def _kto_data(path, n=24):
    with open(path, "w") as f:
        for i in range(n):
            good = i % 3 != 0
            f.write(json.dumps({"task_id": f"t{i % 6}", "sample_id": i, "prompt": f"Write add{i % 6}(a, b).\n",
                                "completion": (GOOD if good else BAD) + "#" * (i % 4), "label": good}) + "\n")
    return str(path)


def _metrics(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _logratios(model_dir, ref_dir, data):
    """Mean log πθ − log πref of the desirable and of the undesirable completions, from the saved models."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(ref_dir)
    recs = [json.loads(line) for line in open(data)]
    out = {}
    for name, path in (("policy", model_dir), ("ref", ref_dir)):
        fn = tr.SequenceLogps(AutoModelForCausalLM.from_pretrained(path)).eval()
        rows = [(tr.encode_prompt(tok, r["prompt"]), tr.encode_completion(tok, r["completion"], True)) for r in recs]
        with torch.no_grad():
            out[name] = fn(tr.collate(rows, "cpu", packed=False))[0]
    r = out["policy"] - out["ref"]
    lab = torch.tensor([rec["label"] for rec in recs])
    return r[lab].mean().item(), r[~lab].mean().item()


def _alone(model, rows):
    """The plain reference: each row alone, no padding, full logits through kto_loss.sequence_logps."""
    return torch.cat([sequence_logps(model(torch.tensor([p + c])).logits, torch.tensor([p + c]),
                                     torch.tensor([[0] * len(p) + [1] * len(c)])) for p, c in rows])


ROWS = [([5, 6, 7], [8, 9, 10, 11]), ([5], [12, 13]), ([4, 4, 4, 4, 4, 4], [7]), ([9] * 20, [3, 2] * 7)]


def test_collate_worked_example():
    b = tr.collate([([5, 6], [7, 8]), ([9], [3])], "cpu")
    assert b["input_ids"].tolist() == [[5, 6, 7, 8, 9, 3]] and b["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1]]
    assert b["cu_seqlens"].tolist() == [0, 4, 6] and b["score_at"].tolist() == [1, 2, 4]
    assert b["targets"].tolist() == [7, 8, 3] and b["row"].tolist() == [0, 0, 1] and b["ntok"].tolist() == [2, 1]
    p = tr.collate([([5, 6], [7, 8]), ([9], [3])], "cpu", packed=False, pad_id=0)
    assert p["input_ids"].tolist() == [[5, 6, 7, 8], [9, 3, 0, 0]] and p["score_at"].tolist() == [1, 2, 4]


@pytest.mark.parametrize("kv_heads", [4, 2])  # 2: grouped-query attention, as in most code models
def test_packed_and_padded_logps_equal_rows_alone(tmp_path, kv_heads):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=kv_heads)).eval()
    with torch.no_grad():
        alone = _alone(model, ROWS)
        padded, ntok = tr.SequenceLogps(model)(tr.collate(ROWS, "cpu", packed=False, pad_id=1))
        packed, _ = tr.SequenceLogps(tr.enable_packing(model))(tr.collate(ROWS, "cpu"))
        mean, _ = tr.SequenceLogps(model)(tr.collate(ROWS, "cpu"), average=True)
    assert ntok.tolist() == [4, 2, 1, 14]
    assert torch.allclose(padded, alone, atol=1e-5) and torch.allclose(packed, alone, atol=1e-5)
    assert torch.allclose(mean, alone / ntok, atol=1e-6)
    # packing would be wrong if rows could see each other: a change in row 0 must not move the others
    changed = [([1, 2, 3], [8, 9, 10, 11])] + ROWS[1:]
    with torch.no_grad():
        moved, _ = tr.SequenceLogps(model)(tr.collate(changed, "cpu"))
    assert not torch.allclose(moved[0], packed[0]) and torch.allclose(moved[1:], packed[1:], atol=1e-6)
    # the gradients agree too (and with gradient checkpointing, which passes the packing through each layer)
    grads = []
    for packed_, ckpt in ((False, False), (True, False), (True, True)):
        model.zero_grad()
        model.train()
        if ckpt:
            tr.enable_checkpointing(model)
        tr.SequenceLogps(model)(tr.collate(ROWS, "cpu", packed=packed_, pad_id=1))[0].sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-4) and torch.allclose(grads[1], grads[2], atol=1e-5)


def test_packing_refused_where_attention_is_not_plain_causal():
    from transformers import MistralConfig, MistralForCausalLM
    model = MistralForCausalLM(MistralConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=4, num_key_value_heads=4, sliding_window=16))
    assert "sliding window (16)" in tr.packing_blocker(model, max_length=64)
    assert tr.packing_blocker(model, max_length=16) is None  # a window as long as every row changes nothing


def test_kl_partners_is_a_derangement():
    for n in (2, 3, 10, 101):
        s = tr.kl_partners(n, seed=n)
        assert sorted(s) == list(range(n)) and all(s[i] != i for i in range(n))
    assert tr.kl_partners(1, 0) == [0]


def test_kto_learns_on_tiny_model(tiny_model, tmp_path):
    data = _kto_data(tmp_path / "kto.jsonl")
    out = str(tmp_path / "run")
    tr.main(["--model", tiny_model, "--data", data, "--output_dir", out, "--lr", "1e-3", "--max_steps", "8",
             "--batch_size", "6", "--beta", "0.5", "--save_every", "0", "--no_plot"])
    m = _metrics(out)
    assert len(m) == 8 and m[0]["loss"] == pytest.approx((4 * 0.5 + 2 * 0.75) / 6, abs=1e-5)  # λ_U = 1.5 (16:8)
    assert all(k in m[-1] for k in ("rewards_desirable", "rewards_undesirable", "z0", "lr", "tokens_per_s"))
    d, u = _logratios(os.path.join(out, "final"), tiny_model, data)
    assert d > 0.5 and u < -0.5, (d, u)
    assert any(f.startswith("kto.ref-") for f in os.listdir(tmp_path))  # the cache beside the data
    args = json.load(open(os.path.join(out, "train.args.json")))
    assert args["undesirable_weight"] == pytest.approx(1.5) and args["desirable_weight"] == 1.0


def test_every_execution_path_trains_the_same_numbers(tiny_model, tmp_path):
    # packed (default) vs padded rows, KL rows in their own no-grad pass (default) vs in the batch's pass, and
    # gradient checkpointing: different work, the same maths; the losses and rewards of 4 steps must agree
    data = _kto_data(tmp_path / "kto.jsonl")
    runs = {}
    for name, extra in (("default", []), ("padded", ["--no_packing"]), ("same_pass", ["--kl_pass", "same"]),
                        ("checkpointing", ["--gradient_checkpointing"])):
        out = str(tmp_path / name)
        tr.main(["--model", tiny_model, "--data", data, "--output_dir", out, "--lr", "1e-3", "--max_steps", "4",
                 "--batch_size", "6", "--save_every", "0", "--no_plot", *extra])
        runs[name] = [r[k] for r in _metrics(out) for k in ("loss", "z0", "rewards_desirable", "grad_norm")]
    assert runs["default"][-4] != runs["default"][0]  # it learned something, so the comparison means something
    # the packed run's checkpoint is a plain model: its config does not name the attention function 05 registered
    with open(os.path.join(tmp_path, "default", "final", "config.json")) as f:
        assert "plum_packed" not in f.read()
    for name, got in runs.items():
        assert got == pytest.approx(runs["default"], rel=1e-4, abs=1e-6), name


def test_dpo_and_lora(tiny_model, tmp_path):
    data = tmp_path / "dpo.jsonl"
    data.write_text("".join(json.dumps({"task_id": f"t{i}", "prompt": f"Write add{i}(a, b).\n", "chosen": GOOD,
                                        "rejected": BAD + "#" * i}) + "\n" for i in range(8)))
    out = str(tmp_path / "dpo")
    tr.main(["--model", tiny_model, "--data", str(data), "--output_dir", out, "--loss", "dpo", "--lr", "1e-2",
             "--max_steps", "6", "--batch_size", "4", "--lora", "--lora_r", "8", "--save_every", "3", "--no_plot"])
    m = _metrics(out)
    assert m[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: the LoRA policy starts equal to the base
    assert m[-1]["margin"] > m[0]["margin"] and m[-1]["loss"] < m[0]["loss"]
    # the merged model in final/ is a plain HF model that differs from the base
    from transformers import AutoModelForCausalLM
    merged = AutoModelForCausalLM.from_pretrained(os.path.join(out, "final"))
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert not any("lora" in k for k in merged.state_dict())
    diff = max((merged.state_dict()[k] - v).abs().max().item() for k, v in base.state_dict().items())
    assert diff > 1e-4


def test_sft_trains_a_model(tiny_model, tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps({"prompt": "", "completion": GOOD, "label": True}) + "\n" for _ in range(8))
                    + json.dumps({"prompt": "x", "completion": "never", "label": False}) + "\n")
    out = str(tmp_path / "sft")
    tr.main(["--model", tiny_model, "--data", str(data), "--output_dir", out, "--loss", "sft", "--lr", "1e-2",
             "--max_steps", "10", "--batch_size", "8", "--save_every", "0", "--no_plot", "--scheduler", "constant"])
    m = _metrics(out)
    assert m[0]["examples"] == 8  # the label-false record is skipped
    assert m[-1]["loss"] < 0.5 * m[0]["loss"]


def test_grpo_trains_on_tiny_model_and_scores_its_sampler(tiny_model, tmp_path):
    # GOOD samples (advantage +1) against BAD ones (-2 or -0.5): batches of 5, 5 and 2 in file order, so the batches
    # are odd-sized and the last one holds a single sign
    recs = [{"task_id": f"t{i % 4}", "group": f"t{i % 4}", "sample_id": i, "prompt": f"Write add{i % 4}(a, b).\n",
             "completion": (GOOD if i < 8 else BAD) + "#" * (i % 3), "label": i < 8,
             "advantage": 1.0 if i < 8 else (-2.0 if i % 2 else -0.5)} for i in range(12)]
    recs = recs[:4] + recs[8:] + recs[4:8]   # the last batch: two positive advantages
    data = tmp_path / "grpo.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = str(tmp_path / "grpo")
    tr.main(["--model", tiny_model, "--data", str(data), "--output_dir", out, "--loss", "grpo", "--lr", "1e-3",
             "--max_steps", "9", "--batch_size", "5", "--no_shuffle", "--save_every", "0", "--no_plot"])
    m = _metrics(out)
    adv = [r["advantage"] for r in recs]
    # step 1: the policy is the sampler and the reference: ratio 1, no KL, the loss is -mean(A)
    assert m[0]["loss"] == pytest.approx(-sum(adv[:5]) / 5, abs=1e-5)
    assert m[0]["kl"] == pytest.approx(0, abs=1e-6) and m[0]["clip_ratio"] == 0
    assert m[2]["examples"] == 2 and m[2]["rewards_undesirable"] is None and m[2]["margin"] is None
    assert all(k in m[-1] for k in ("rewards_desirable", "kl", "clip_ratio", "lr"))
    d, u = _logratios(os.path.join(out, "final"), tiny_model, str(data))
    assert d > u and d > 0 > u, (d, u)
    args = json.load(open(os.path.join(out, "train.args.json")))
    assert (args["clip_epsilon"], args["length_norm"], args["sampling_model"]) == (0.2, "sequence", tiny_model)
    # a later round: the trained model samples and starts training, the reference stays the first model. The ratio
    # is against --model's log-probs (1 at step 1, no clipping), the KL against --ref_model's (> 0)
    out2 = str(tmp_path / "grpo2")
    tr.main(["--model", os.path.join(out, "final"), "--ref_model", tiny_model, "--data", str(data), "--output_dir",
             out2, "--loss", "grpo", "--max_steps", "1", "--batch_size", "12", "--save_every", "0", "--no_plot",
             "--length_norm", "constant", "--max_length", "64", "--beta", "0.5"])
    m = _metrics(out2)[0]
    assert m["kl"] > 1e-3 and m["clip_ratio"] == 0
    tok = __import__("transformers").AutoTokenizer.from_pretrained(tiny_model)
    ntok = [len(tr.encode_completion(tok, r["completion"], tok.eos_token_id)) for r in recs]
    # Dr. GRPO: each sample weighs |y| / L; at ratio 1 the policy term is -A |y| / L, and the KL adds β kl |y| / L
    pg = -sum(a * n for a, n in zip(adv, ntok)) / 64 / 12
    assert m["loss"] > pg and m["loss"] == pytest.approx(pg, abs=0.5 * m["kl"] * max(ntok) / 64 + 1e-6)


class _Result:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


def _cli(*args):
    """Run main() in this process (no interpreter start-up per case) and collect its exit status and stderr."""
    import contextlib
    import io
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            tr.main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return _Result(code, err.getvalue())


def test_resume_after_kill_equals_uninterrupted(tiny_model, tmp_path):
    data = _kto_data(tmp_path / "kto.jsonl", n=24)
    common = ["--model", tiny_model, "--data", data, "--lr", "1e-3", "--batch_size", "4", "--grad_accum", "2",
              "--epochs", "3", "--save_every", "2", "--no_plot"]
    full = str(tmp_path / "full")
    tr.main(common + ["--output_dir", full])
    want = [r["loss"] for r in _metrics(full)]
    assert len(want) == 9
    # a second run, killed with SIGKILL once it has written its checkpoint at step 4
    cut = str(tmp_path / "cut")
    p = subprocess.Popen([sys.executable, "05_train_kto.py", *common, "--output_dir", cut], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(cut, "checkpoint-000004", "training_state.pt")):
        assert p.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not os.path.exists(os.path.join(cut, "final")), "killed too late to test anything"
    r = _cli(*common, "--output_dir", cut)  # without --resume: refuses to clobber
    assert r.returncode != 0 and "--resume" in r.stderr
    r = _cli(*common, "--output_dir", cut, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    got = [x["loss"] for x in _metrics(cut)]
    assert [x["step"] for x in _metrics(cut)] == list(range(1, 10))  # no step logged twice
    assert got == pytest.approx(want, abs=1e-6)


def test_bad_input(tiny_model, tmp_path):
    out = str(tmp_path / "o")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = _cli("--model", tiny_model, "--data", str(empty), "--output_dir", out)
    assert r.returncode != 0 and "no kto example to train on" in r.stderr
    kto = _kto_data(tmp_path / "kto.jsonl", n=6)
    r = _cli("--model", tiny_model, "--data", kto, "--output_dir", out, "--loss", "dpo")
    assert r.returncode != 0 and "lacks key(s) ['chosen', 'rejected']" in r.stderr and "kto.jsonl:1" in r.stderr
    bad = tmp_path / "badlabel.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "completion": "c", "label": "yes"}) + "\n")
    r = _cli("--model", tiny_model, "--data", str(bad), "--output_dir", out)
    assert r.returncode != 0 and "label must be true or false" in r.stderr
    # completions longer than --max_length are dropped and counted, never trained on cut short
    long = tmp_path / "long.jsonl"
    long.write_text("".join(json.dumps({"prompt": "p" * 200, "completion": c, "label": i % 2 == 0}) + "\n"
                            for i, c in enumerate(["x = 1\n", "y" * 400, "z = 3\n", "w = 4\n"])))
    r = _cli("--model", tiny_model, "--data", str(long), "--output_dir", out, "--max_length", "40", "--max_steps",
             "1", "--no_plot")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 example(s) dropped" in r.stderr and "3 prompt(s) cut from the left" in r.stderr
    counts = json.load(open(os.path.join(out, "train.args.json")))["counts"]
    assert counts["dropped_too_long"] == 1 and counts["prompt_truncated"] == 3
    assert _metrics(out)[0]["examples"] == 3
    r = _cli("--model", tiny_model, "--data", str(long), "--output_dir", str(tmp_path / "o2"), "--max_length", "4")
    assert r.returncode != 0 and "longer than --max_length 4" in r.stderr


def test_eos_only_where_the_model_ended_the_completion(tiny_model):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model)
    recs = [{"prompt": "p", "completion": "x = 1", "label": True, "finish_reason": f} for f in ("eos", "stop", "length")]
    recs.append({"prompt": "p", "completion": "x = 1", "label": False})  # written elsewhere: taken as ended
    from collections import Counter
    for no_eos in (False, True):
        args = tr.parse_args(["--model", "m", "--data", "d", "--output_dir", "o"] + (["--no_eos"] if no_eos else []))
        counts = Counter()
        ex = tr.tokenize(recs, tok, args, counts)
        ends = [e["completions"][0][-1] == tok.eos_token_id for e in ex]
        assert ends == ([False] * 4 if no_eos else [True, False, False, True]) and counts["not_ended"] == 2
    dpo = [{"prompt": "p", "chosen": "a", "rejected": "b", "chosen_finish_reason": "eos",
            "rejected_finish_reason": "length"}]
    args = tr.parse_args(["--model", "m", "--data", "d", "--output_dir", "o", "--loss", "dpo"])
    (e,) = tr.tokenize(dpo, tok, args, Counter())
    assert e["completions"][0][-1] == tok.eos_token_id and e["completions"][1][-1] != tok.eos_token_id


def test_the_end_token_appended_is_the_one_the_model_produced(tiny_model):
    """A model with several end tokens (Llama-3-Instruct: <|eot_id|> in chat, <|end_of_text|> as the tokenizer's
    EOS) is taught the one it ended with, which 02 records as eos_token_id; a token id the tokenizer does not have
    means the samples came from another model."""
    from collections import Counter
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model)
    other = 5 if tok.eos_token_id != 5 else 6
    recs = [{"prompt": "p", "completion": "x = 1", "label": True, "finish_reason": "eos", "eos_token_id": other},
            {"prompt": "p", "completion": "x = 1", "label": False, "finish_reason": "eos", "eos_token_id": None},
            {"prompt": "p", "completion": "x = 1", "label": True, "finish_reason": "length", "eos_token_id": None}]
    args = tr.parse_args(["--model", "m", "--data", "d", "--output_dir", "o"])
    ex = tr.tokenize(recs, tok, args, Counter())
    body = tok("x = 1", add_special_tokens=False)["input_ids"]
    assert [e["completions"][0] for e in ex] == [body + [other], body + [tok.eos_token_id], body]
    dpo = [{"prompt": "p", "chosen": "a", "rejected": "b", "chosen_finish_reason": "eos", "chosen_eos_token_id": other,
            "rejected_finish_reason": "eos", "rejected_eos_token_id": tok.eos_token_id}]
    (e,) = tr.tokenize(dpo, tok, tr.parse_args(["--model", "m", "--data", "d", "--output_dir", "o", "--loss", "dpo"]),
                       Counter())
    assert (e["completions"][0][-1], e["completions"][1][-1]) == (other, tok.eos_token_id)
    with pytest.raises(InputError, match="another model"):
        tr.tokenize([dict(recs[0], eos_token_id=len(tok) + 10)], tok, args, Counter())


def test_one_class_kto_and_checkpoint_from_another_model(tiny_model, tmp_path):
    from tinylm import build_tiny_model
    data = tmp_path / "bad_only.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"p{i}", "completion": BAD, "label": False}) + "\n"
                            for i in range(4)))
    out = str(tmp_path / "one")
    r = _cli("--model", tiny_model, "--data", str(data), "--output_dir", out, "--max_steps", "2", "--save_every",
             "1", "--batch_size", "1", "--lr", "1e-3", "--no_plot")
    assert r.returncode == 0 and "only undesirable" in r.stderr, r.stderr[-2000:]
    m = _metrics(out)
    assert m[0]["loss"] == pytest.approx(0.5) and m[1]["rewards_undesirable"] < 0
    other = build_tiny_model(str(tmp_path / "wide"), hidden=96)
    r = _cli("--model", other, "--data", str(data), "--output_dir", out, "--max_steps", "4", "--resume")
    assert r.returncode != 0 and "trained from another model" in r.stderr and "hidden_size" in r.stderr


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def test_kto_weights_come_from_the_examples_loaded(tiny_model, tmp_path):
    """λ_D, λ_U describe what is trained on: a glob over two of 04's shards (6:2 and 2:6, together 8:8) trains with
    (1, 1), not with the first shard's stats file (1, 2.25); completions dropped as too long are not counted."""
    rec = lambda i, good, c=None: {"task_id": f"t{i}", "sample_id": i, "prompt": f"Write add{i}(a, b).\n",  # noqa: E731
                                   "completion": c or (GOOD if good else BAD), "label": good}
    for shard, n_good in ((0, 6), (1, 2)):
        base = tmp_path / f"kto.shard-{shard:05d}-of-00002"
        _write(tmp_path / (base.name + ".jsonl"), [rec(10 * shard + i, i < n_good) for i in range(8)])
        w_d, w_u = tr.kto_weights(n_good, 8 - n_good)  # what 04 writes beside each shard
        (tmp_path / (base.name + ".stats.json")).write_text(json.dumps(
            {"n_desirable": n_good, "n_undesirable": 8 - n_good, "desirable_weight": w_d, "undesirable_weight": w_u}))
    out = str(tmp_path / "shards")
    tr.main(["--model", tiny_model, "--data", str(tmp_path / "kto.shard-*.jsonl"), "--output_dir", out,
             "--max_steps", "1", "--batch_size", "16", "--no_plot"])
    args = json.load(open(os.path.join(out, "train.args.json")))
    assert (args["desirable_weight"], args["undesirable_weight"]) == (1.0, 1.0)
    assert _metrics(out)[0]["loss"] == pytest.approx(0.5, abs=1e-6)  # policy = reference: every loss is λ/2
    # 8 desirable, 8 undesirable of which 4 are too long for --max_length: 8:4 is trained, so λ_U = 8 / (4/3 · 4)
    one = tmp_path / "one"
    one.mkdir()
    data = _write(one / "kto.jsonl", [rec(i, True) for i in range(8)] + [rec(i, False) for i in range(8, 12)]
                  + [rec(i, False, "x = 1\n" * 60) for i in range(12, 16)])
    (one / "kto.stats.json").write_text(json.dumps({"desirable_weight": 1.0, "undesirable_weight": 1.0}))
    out = str(tmp_path / "dropped")
    tr.main(["--model", tiny_model, "--data", data, "--output_dir", out, "--max_steps", "1", "--batch_size", "12",
             "--max_length", "64", "--no_plot"])
    args = json.load(open(os.path.join(out, "train.args.json")))
    assert args["counts"]["dropped_too_long"] == 4
    assert (args["desirable_weight"], args["undesirable_weight"]) == pytest.approx((1.0, 1.5))


def test_resume_refuses_other_training_settings(tiny_model, tmp_path):
    data = _kto_data(tmp_path / "kto.jsonl", n=8)
    out = str(tmp_path / "run")
    first = ["--model", tiny_model, "--data", data, "--output_dir", out, "--max_steps", "4", "--batch_size", "4",
             "--save_every", "1", "--lr", "1e-3", "--no_plot"]
    p = subprocess.Popen([sys.executable, "05_train_kto.py", *first], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "checkpoint-000001", "training_state.pt")):
        assert p.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    base = [a for a in first if a not in ("--lr", "1e-3")]
    r = _cli(*base, "--resume", "--lr", "1e-4", "--beta", "0.5", "--desirable_weight", "2")
    assert r.returncode != 0 and "other training settings" in r.stderr, r.stderr[-2000:]
    for named in ("--lr 0.001 in the checkpoint, 0.0001 now", "--beta 0.1 in the checkpoint, 0.5 now",
                  "--desirable_weight 1.0 in the checkpoint, 2.0 now"):
        assert named in r.stderr, (named, r.stderr[-2000:])
    r = _cli(*base, "--resume", "--lr", "1e-3", "--loss", "sft")
    assert r.returncode != 0 and "--loss 'kto' in the checkpoint, 'sft' now" in r.stderr, r.stderr[-2000:]
    # what changes no number may change: how often to save, how the KL rows are scored, how rows are laid out
    r = _cli(*first, "--resume", "--save_every", "2", "--kl_pass", "same", "--no_packing")
    assert r.returncode == 0, r.stderr[-2000:]
    assert [m["step"] for m in _metrics(out)] == [1, 2, 3, 4]
    r = _cli(*first, "--resume")  # nothing left to do: say so, succeed, change nothing
    assert r.returncode == 0 and "is finished (4 steps); nothing to do" in r.stderr, r.stderr[-2000:]
    assert [m["step"] for m in _metrics(out)] == [1, 2, 3, 4]


def _records(d):
    """metrics.jsonl without its timings (which differ from run to run)."""
    return [{k: v for k, v in m.items() if k not in ("seconds", "tokens_per_s", "memory_mb")} for m in _metrics(d)]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_before_its_first_checkpoint_a_rerun_leaves_an_uninterrupted_runs_records(tiny_model, tmp_path, sig):
    """--save_every 50 and 24 steps: killed after a few steps there is no periodic checkpoint. After SIGKILL the
    rerun starts afresh and drops the rows the killed run logged; SIGTERM (Slurm's notice before the kill) ends the
    running step, checkpoints it and exits 143, and the rerun resumes from there. Either way metrics.jsonl ends as
    an uninterrupted run's, one row per step."""
    data = _kto_data(tmp_path / "kto.jsonl", n=48)
    common = ["--model", tiny_model, "--data", data, "--lr", "1e-3", "--batch_size", "2", "--epochs", "1",
              "--save_every", "50", "--no_plot"]
    full = str(tmp_path / "full")
    tr.main(common + ["--output_dir", full])
    want = _records(full)
    assert [m["step"] for m in want] == list(range(1, 25))
    cut = str(tmp_path / "cut")
    p = subprocess.Popen([sys.executable, "05_train_kto.py", *common, "--output_dir", cut], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (os.path.exists(os.path.join(cut, "metrics.jsonl")) and len(_metrics(cut)) >= 2):
        assert p.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.005)
    p.send_signal(sig)
    err = p.communicate(timeout=120)[1]
    assert not os.path.exists(os.path.join(cut, "final")), "killed too late to test anything"
    done = len(_metrics(cut))
    assert 2 <= done < 24
    if sig == signal.SIGTERM:
        assert p.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err, err[-2000:]
        assert [os.path.basename(c) for c in tr.checkpoints(cut)] == [f"checkpoint-{done:06d}"]
    else:
        assert tr.checkpoints(cut) == []
    r = _cli(*common, "--output_dir", cut, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    got = _records(cut)
    assert [m["step"] for m in got] == list(range(1, 25))
    for a, b in zip(got, want):
        assert a == pytest.approx(b, abs=1e-6), a["step"]


def test_metrics_png_is_a_readable_grid(tmp_path):
    import matplotlib.image
    path = tmp_path / "metrics.jsonl"
    recs = [{"step": s, "epoch": round(s / 10, 4), "loss": 0.5 - 0.01 * s, "lr": 1e-3, "grad_norm": 1.0,
             "tokens_per_s": 100.0, "rewards_desirable": 0.1 * s, "rewards_undesirable": None if s == 3 else -0.1 * s,
             "margin": None if s == 3 else 0.2 * s, "z0": 0.01 * s} for s in range(1, 21)]
    _write(path, recs)
    tr.plot_metrics(str(path), str(tmp_path / "metrics.png"), "kto", "kto on 40 examples: run")
    h, w = matplotlib.image.imread(str(tmp_path / "metrics.png")).shape[:2]
    assert w >= 1200 and h >= 600 and w / h < 3, (w, h)  # panels in rows and columns, not one strip


def test_checkpoints_get_the_mode_open_gives(tiny_model, tmp_path):
    """safetensors writes its files 0600: a checkpoint the rest of the team could not load. Every file of a saved
    checkpoint gets 0666 less the umask, as a plain open() gives (the README's promise), every folder 0777 less it."""
    from types import SimpleNamespace

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model, tok = AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)
    old = os.umask(0o027)
    try:
        path = str(tmp_path / "final")
        tr.save_checkpoint(path, 0, model, model, tok, None, None, None, SimpleNamespace(fsdp=False, lora=False), 0,
                           training=False)
    finally:
        os.umask(old)
    files = [os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs]
    assert any(f.endswith(".safetensors") for f in files)
    assert {f: oct(os.stat(f).st_mode & 0o777) for f in files} == {f: oct(0o640) for f in files}
    assert os.stat(path).st_mode & 0o777 == 0o750
    assert AutoModelForCausalLM.from_pretrained(path) is not None
