"""05_train_kto.py's scale paths on CPU: --fsdp (FSDP2) under a real torchrun on 2 processes (gloo), killed and
resumed; LoRA under torchrun; gradient accumulation with a short last micro-batch; --bf16 autocast. Each is held to
a one-process float32 run of the same global batch."""

import contextlib
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

tr = importlib.import_module("05_train_kto")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KEYS = ("loss", "z0", "rewards_desirable", "rewards_undesirable", "margin", "grad_norm", "lr")
# Adam divides each gradient element by its running RMS, so an element whose gradient is near zero turns summation
# order noise (ranks, micro-batches) into a visible share of an lr-sized step: 5% of lr 1e-3
WEIGHT_ATOL = 5e-5


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The tiny Llama with head dimension 32 (2 heads of a 64-wide model), as in the toy world's model."""
    from tinylm import build_tiny_model
    return build_tiny_model(str(tmp_path_factory.mktemp("tiny32") / "model"), hidden=64, heads=2)


@pytest.fixture
def data(tmp_path):
    # 22 examples: with a global batch of 8 the steps hold 8, 8, 6; classes fall unevenly across ranks
    p = tmp_path / "kto.jsonl"
    p.write_text("".join(json.dumps({"prompt": f"Write f{i}(x).\n", "completion": "def f(x):\n    return x\n"
                                     + "#" * (i % 5), "label": i % 3 != 0}) + "\n" for i in range(22)))
    return str(p)


def _metrics(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _weights(d):
    from safetensors.torch import load_file
    return load_file(os.path.join(d, "model.safetensors"))


def _same_run(a, b, keys=KEYS):
    """Two output dirs hold the same metrics, step by step, and the same final weights."""
    ma, mb = _metrics(a), _metrics(b)
    assert [r["step"] for r in ma] == [r["step"] for r in mb]
    for x, y in zip(ma, mb):
        assert x["examples"] == y["examples"]
        for k in keys:
            if x[k] is None:  # a batch without one of the classes logs no reward for it
                assert y[k] is None, (x["step"], k)
            else:
                assert y[k] == pytest.approx(x[k], rel=1e-4, abs=1e-5), (x["step"], k)
    wa, wb = _weights(os.path.join(a, "final")), _weights(os.path.join(b, "final"))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=WEIGHT_ATOL, msg=lambda m, k=k: f"{k}: {m}")


def _torchrun(*args, wait=True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "05_train_kto.py", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _kill_all(launcher):
    """SIGKILL torchrun's workers, then the launcher: the workers run in sessions of their own, so a kill of the
    launcher (or of its process group) leaves them training."""
    workers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == launcher.pid:
            workers.append(int(pid))
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    launcher.kill()
    launcher.wait()
    for pid in workers:  # gone before the rerun starts, so nothing writes into the folder it reads
        while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
    return workers


def test_fsdp_on_two_processes_killed_and_resumed_equals_one_process(model, data, tmp_path):
    common = ["--model", model, "--data", data, "--lr", "1e-3", "--beta", "0.5", "--epochs", "2", "--no_plot",
              "--save_every", "2"]
    one = str(tmp_path / "one")
    tr.main(common + ["--output_dir", one, "--batch_size", "8", "--save_total_limit", "6"])  # caches the reference
    assert len(_metrics(one)) == 6 and _metrics(one)[-1]["loss"] != _metrics(one)[0]["loss"]

    # FSDP, 4 per rank: killed (SIGKILL, launcher and workers) once its step-2 checkpoint is written
    two = str(tmp_path / "two")
    args = common + ["--output_dir", two, "--batch_size", "4", "--fsdp"]
    p = _torchrun(*args, wait=False)
    deadline = time.time() + 180
    try:
        while not os.path.exists(os.path.join(two, "checkpoint-000002", "training_state.pt")):
            assert p.poll() is None and time.time() < deadline, "the run ended before it could be killed"
            time.sleep(0.01)
    finally:
        assert len(_kill_all(p)) == 2
    assert not os.path.exists(os.path.join(two, "final")), "killed too late to test anything"

    # a checkpoint of a sharded run is an ordinary HF folder, the full weights, loadable by one process
    from transformers import AutoModelForCausalLM
    ckpt = AutoModelForCausalLM.from_pretrained(os.path.join(two, "checkpoint-000002"))
    want = AutoModelForCausalLM.from_pretrained(os.path.join(one, "checkpoint-000002")).state_dict()
    assert not any(type(v).__name__ == "DTensor" for v in ckpt.state_dict().values())
    for k, v in ckpt.state_dict().items():
        torch.testing.assert_close(v, want[k], rtol=1e-4, atol=WEIGHT_ATOL, msg=lambda m, k=k: f"{k}: {m}")

    r = _torchrun(*args, "--resume")
    assert re.search(r"steps [2-5]->6", r.stderr), r.stderr[-2000:]
    # the steps after the kill ran on the restored optimizer state too: Adam's moments shape every update
    _same_run(one, two)

def test_lora_dpo_under_torchrun_with_a_short_last_micro_batch_equals_one_big_batch(model, tmp_path):
    # DPO, not KTO: KTO's z0 is a mean over each micro-batch (all ranks), so accumulation changes KTO's numbers
    data = tmp_path / "dpo.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Write f{i}(x).\n", "chosen": "def f(x):\n    return x\n",
                                        "rejected": "while True:\n    pass\n" + "#" * (i % 5)}) + "\n"
                            for i in range(22)))
    common = ["--model", model, "--data", str(data), "--loss", "dpo", "--lr", "1e-2", "--max_steps", "3",
              "--no_plot", "--save_every", "0", "--lora", "--lora_r", "4"]
    one = str(tmp_path / "one")
    tr.main(common + ["--output_dir", one, "--batch_size", "8"])
    # 2 ranks x 2 per micro-batch x 2 micro-batches: the third step's 6 pairs come as 4 + 2
    two = str(tmp_path / "two")
    r = _torchrun(*common, "--output_dir", two, "--batch_size", "2", "--grad_accum", "2")
    assert "on 2 process(es)" not in r.stderr  # the reference log-probs came from the cache the first run wrote
    assert [x["examples"] for x in _metrics(two)] == [8, 8, 6]
    _same_run(one, two, keys=("loss", "rewards_chosen", "rewards_rejected", "accuracy", "grad_norm", "lr"))
    assert _metrics(two)[-1]["margin"] > _metrics(two)[0]["margin"]
    base = _weights(model)
    assert max((_weights(os.path.join(two, "final"))[k] - v).abs().max().item() for k, v in base.items()) > 1e-4


def test_accumulated_uneven_micro_batches_equal_one_big_batch(model, tmp_path):
    # SFT's loss is normalised by the global batch's completion tokens: micro-batches of 3, 3, 1 must add up to it
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Write f{i}(x).\n", "completion": "def f(x):\n    return x\n"
                                        + "#" * (i % 7)}) + "\n" for i in range(22)))
    common = ["--model", model, "--data", str(data), "--loss", "sft", "--lr", "1e-3", "--epochs", "1",
              "--no_plot", "--save_every", "0"]
    big, acc = str(tmp_path / "big"), str(tmp_path / "acc")
    tr.main(common + ["--output_dir", big, "--batch_size", "9"])
    tr.main(common + ["--output_dir", acc, "--batch_size", "3", "--grad_accum", "3"])
    assert [r["examples"] for r in _metrics(acc)] == [9, 9, 4]  # the third step: 3 + 1
    _same_run(big, acc, keys=("loss", "grad_norm", "tokens", "lr"))
    assert _metrics(acc)[-1]["loss"] < _metrics(acc)[0]["loss"]


def test_bf16_autocast_is_close_to_float32_and_checkpoints_as_documented(model, data, tmp_path):
    from safetensors import safe_open
    common = ["--model", model, "--data", data, "--lr", "1e-3", "--beta", "0.5", "--max_steps", "3", "--no_plot",
              "--save_every", "0", "--batch_size", "8"]
    runs = {}
    for name, extra in (("fp32", []), ("bf16", ["--bf16"]), ("bf16_weights", ["--bf16", "--dtype", "bfloat16"])):
        out = str(tmp_path / name)
        tr.main(common + ["--output_dir", out, *extra])
        runs[name] = _metrics(out)
        with safe_open(os.path.join(out, "final", "model.safetensors"), "pt") as f:
            dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        # --bf16 computes in bfloat16 and keeps float32 weights (and saves them); --dtype sets the weights' dtype
        assert dtypes == {"BF16" if name == "bf16_weights" else "F32"}, (name, dtypes)
    # seen: autocast within 0.5% of float32 over these 3 steps (the loss within 0.01%), bfloat16 weights within 2%
    for name, rel in (("bf16", 0.01), ("bf16_weights", 0.04)):
        for x, y in zip(runs["fp32"], runs[name]):
            for k in ("loss", "z0", "grad_norm", "rewards_desirable"):
                assert torch.isfinite(torch.tensor(y[k])), (name, x["step"], k)
                assert y[k] == pytest.approx(x[k], rel=rel, abs=1e-6), (name, x["step"], k)
    # bfloat16 rounding shows: the runs are close, not equal
    assert any(x["loss"] != y["loss"] for x, y in zip(runs["fp32"], runs["bf16"]))
