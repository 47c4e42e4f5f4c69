"""torchrun --nproc_per_node 2 on CPU (gloo) gives the losses of one process with the same global batch."""

import importlib
import json
import os
import subprocess
import sys

import pytest

tr = importlib.import_module("05_train_kto")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _losses(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_two_processes_equal_one(tiny_model, tmp_path):
    data = tmp_path / "kto.jsonl"
    # 22 examples, global batch 8: the last step has 6 (3 per rank), and classes are uneven across ranks
    data.write_text("".join(json.dumps({"prompt": f"Write f{i}(x).\n", "completion": "def f(x):\n    return x\n"
                                        + "#" * (i % 5), "label": i % 3 != 0}) + "\n" for i in range(22)))
    common = ["--model", tiny_model, "--data", str(data), "--lr", "1e-3", "--epochs", "2", "--save_every", "0",
              "--no_plot", "--beta", "0.5"]
    one = str(tmp_path / "one")
    tr.main(common + ["--output_dir", one, "--batch_size", "8"])
    two = str(tmp_path / "two")
    # the same data in another folder: no cached reference log-probs, so the two ranks compute them, half each
    (tmp_path / "copy").mkdir()
    copy = tmp_path / "copy" / "kto.jsonl"
    copy.write_text(data.read_text())
    common[common.index(str(data))] = str(copy)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "05_train_kto.py", *common, "--output_dir", two, "--batch_size", "4"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "on 2 process(es)" in r.stderr
    import torch
    (c1,), (c2,) = ([torch.load(p)["logps"] for p in d.glob("kto.ref-*.pt")] for d in (tmp_path, copy.parent))
    assert c1.shape == c2.shape == (44,) and torch.allclose(c1, c2, atol=1e-4) and (c2 != 0).all()
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):
        assert x["examples"] == y["examples"]
        for k in ("loss", "z0", "rewards_desirable", "rewards_undesirable", "margin", "grad_norm"):
            if x[k] is None:  # a batch without one of the classes logs no reward (and no margin) for it
                assert y[k] is None and k in ("rewards_desirable", "rewards_undesirable", "margin"), (x["step"], k)
                continue
            assert y[k] == pytest.approx(x[k], rel=1e-4, abs=1e-5), (x["step"], k)
    assert a[-1]["examples"] == 6 and a[-1]["rewards_desirable"] != 0
