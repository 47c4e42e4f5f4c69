"""What users look at: the progress lines in logs and the plots (pass_at_1.png, metrics.png, run_experiments.py's).

The progress helper writes tqdm's bar only to a terminal and plain lines (no carriage return) elsewhere; each plot
names its benchmark and run, starts its y axis at 0 or says where it starts, shows the spread over seeds, and
says what to read. The plotting functions are called directly on tiny data: fast, no training run.
"""

import importlib
import io
import json
import os
import re
import subprocess
import sys

import matplotlib.image
import pytest

import plots
from common import LogProgress, progress

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tr = importlib.import_module("05_train_kto")
rx = importlib.import_module("run_experiments")


def _png_size(path):
    h, w = matplotlib.image.imread(str(path)).shape[:2]
    return w, h


# ---------------------------------------------------------------------------------------------------------------
# progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_in_a_log_is_plain_lines_a_few_of_them():
    f = io.StringIO()   # not a terminal, like a stage's log under run_plum.sh or a Slurm job's output
    bar = progress(total=600, desc="train kto", unit="step", file=f, every_s=3600)
    for i in range(600):
        bar.set_postfix(loss=f"{1 - i / 1000:.4f}")
        bar.update(1)
    bar.close()
    text = f.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert isinstance(bar, LogProgress)
    assert len(lines) == 11   # the start, one per 10% (the 100% one is the closing line), the end
    assert lines[0] == "train kto: 0/600 step (0%)"
    assert re.fullmatch(r"train kto: 60/600 step \(10%\), \d+ s, ~\d+ s left, loss=0\.9410", lines[1]), lines[1]
    assert re.fullmatch(r"train kto: 600/600 step \(100%\), done in \d+ s, loss=0\.4010", lines[-1]), lines[-1]


def test_progress_in_a_log_writes_at_least_every_every_s_and_says_when_it_stopped():
    f = io.StringIO()
    with progress(desc="execute", unit="prog", file=f, every_s=0) as bar:   # no total: lines by time only
        for _ in range(3):
            bar.update(1)
    assert f.getvalue().splitlines()[1:] == ["execute: 1 prog, 0 s", "execute: 2 prog, 0 s", "execute: 3 prog, 0 s",
                                            "execute: 3 prog, done in 0 s"]
    f = io.StringIO()
    for i in progress(range(10), desc="judge", file=f):   # a loop left early: not "done"
        if i == 4:
            break
    assert f.getvalue().splitlines()[-1] == "judge: 4/10 it (40%), stopped after 0 s"


def test_progress_on_a_terminal_is_tqdm_and_disable_shows_nothing():
    from tqdm import tqdm
    term = _Terminal()
    bar = progress(total=3, desc="x", file=term)
    assert isinstance(bar, tqdm)
    bar.update(3)
    bar.close()
    assert "\r" in term.getvalue()   # redrawn in place, as a terminal wants
    quiet = io.StringIO()
    assert list(progress(range(3), desc="y", file=quiet, disable=True)) == [0, 1, 2]
    assert quiet.getvalue() == ""


def test_a_stage_bar_piped_to_a_file_has_no_carriage_return(tmp_path):
    """The real thing: a process whose stderr is a file (run_plum.sh's stage logs, toyworld's SFT run in a batch
    job) gets lines, not a 100 KB line of redraws."""
    code = ("from common import progress\nb = progress(total=50, desc='train sft', unit='step')\n"
            "for _ in range(50):\n    b.update(1)\nb.close()\n")
    log = tmp_path / "05.log"
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-c", code], cwd=REPO, stderr=f, check=True)
    text = log.read_text()
    assert "\r" not in text and text.count("\n") == 11 and text.endswith("done in 0 s\n")


def test_every_stage_bar_goes_through_the_one_helper():
    for name in ("01_generate_tests.py", "02_sample.py", "03_execute.py", "05_train_kto.py", "06_eval.py",
                 "toyworld.py"):
        with open(os.path.join(REPO, name), encoding="utf-8") as f:
            src = f.read()
        assert not re.search(r"^\s*(from tqdm import|import tqdm)", src, re.M), f"{name}: use common.progress"


# ---------------------------------------------------------------------------------------------------------------
# pass_at_1.png (run_plum.sh)


def test_pass_at_1_plot_names_benchmark_and_run_and_starts_at_0(tmp_path):
    png = tmp_path / "pass_at_1.png"
    got = plots.pass_at_1_plot({"held-out": [48.3, 53.3, 56.7, 58.3]}, str(png),
                               "the toy world's held-out tasks (120 tasks)", "runs/toy-s1", "loss kto, seed 1",
                               "one seed, so no spread is shown")
    assert "the toy world's held-out tasks (120 tasks)" in got["title"]
    assert "runs/toy-s1" in got["subtitle"] and "loss kto, seed 1" in got["subtitle"]
    assert "48.3 → 58.3% (+10.0 points) after 3 rounds" in got["subtitle"]
    assert got["ylim"][0] == 0 and got["ylim"][1] >= 58.3
    w, h = _png_size(png)
    assert w >= 800 and h >= 500   # 10 pt and up at 100 dpi: readable at 100%
    assert not [p for p in os.listdir(tmp_path) if p != "pass_at_1.png"]   # written atomically, nothing left over


def test_y_axis_label_says_where_an_axis_starts_when_not_0():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [48.3, 58.3])
    plots.y_axis_label(ax, "pass@1 (%)")
    lo = ax.get_ylim()[0]
    assert 0 < lo <= 48.3 and lo == round(lo)
    assert ax.get_ylabel() == f"pass@1 (%)\n(axis starts at {lo:g}, not 0)"
    ax.set_ylim(0, 60)
    plots.y_axis_label(ax, "pass@1 (%)")
    assert ax.get_ylabel() == "pass@1 (%)"
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------
# metrics.png (05)


def _metrics(path, n, loss="kto"):
    recs = []
    for s in range(1, n + 1):
        r = {"step": s, "epoch": round(s / n, 4), "loss": 0.69 + 0.02 * (-1) ** s, "lr": 1e-3, "grad_norm": 1.0,
             "tokens_per_s": 100.0}
        if loss == "kto":
            r.update(rewards_desirable=0.01 * s, rewards_undesirable=-0.01 * s, margin=0.02 * s + 0.05 * (-1) ** s,
                     z0=0.001 * s)
        recs.append(r)
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    return str(path)


def test_metrics_png_says_what_to_read_and_smooths_when_there_are_enough_steps(tmp_path):
    got = tr.plot_metrics(_metrics(tmp_path / "m.jsonl", 19), str(tmp_path / "metrics.png"), "kto",
                          "kto on 40 examples: runs/x/round-1/ckpt")
    assert got["panels"][0] == "margin"   # the panel that says whether KTO works comes first
    assert "Read the margin" in got["subtitle"] and "z0" in got["subtitle"]
    assert got["window"] == 3 and "running mean over 3 steps" in got["subtitle"]
    assert got["title"].startswith("kto on 40 examples: runs/x/round-1/ckpt")
    w, h = _png_size(tmp_path / "metrics.png")
    assert w >= 1200 and h >= 600 and w / h < 3
    few = tr.plot_metrics(_metrics(tmp_path / "f.jsonl", 5), str(tmp_path / "few.png"), "kto", "kto")
    assert few["window"] is None and "too few to smooth" in few["subtitle"]
    sft = tr.plot_metrics(_metrics(tmp_path / "s.jsonl", 120, "sft"), str(tmp_path / "sft.png"), "sft", "sft")
    assert sft["panels"][0] == "loss" and sft["window"] == 11


def test_running_mean_is_centred_and_keeps_the_length():
    assert plots.running_mean([1, 2, 3, 4, 5, 6], 3) == [1.5, 2.0, 3.0, 4.0, 5.0, 5.5]
    assert [plots.smoothing_window(n) for n in (7, 8, 19, 56, 600)] == [None, 3, 3, 5, 25]


# ---------------------------------------------------------------------------------------------------------------
# run_experiments.py's plots


def test_experiment_plots_show_mean_and_sd_over_seeds_and_say_the_axis_start(tmp_path):
    recs = []
    for arm, gain in (("plum", 10.0), ("off_policy", 8.0), ("offline", 5.0), ("n1", 11.0), ("corrupt50", 4.0)):
        for seed in (0, 1, 2):
            k = 2 if arm == "offline" else 4
            ys = [48.3 + gain * i / (k - 1) + seed for i in range(k)]
            ys[0] = 48.3
            recs.append({"arm": arm, "seed": seed, "pass@1": ys, "pass@1_sampled": [y - 5 for y in ys],
                         "gain": ys[-1] - ys[0], "gain_sampled": ys[-1] - ys[0], "problems": 375,
                         "test_accuracy": 0.5 if arm == "corrupt50" else 1.0})
    args = rx.parse_args(["--out", str(tmp_path), "--arms", "plum,off_policy,offline,n1,corrupt50"])
    got = rx.plots(args, recs)
    pbr = got["pass_by_round.png"]
    assert "mean ± sd over seeds 0, 1, 2" in pbr["subtitle"]
    assert "axis starts at" in pbr["ylabels"][0]   # zoomed and says so
    assert "375 tasks" in pbr["ylabels"][0] and "4 samples at T = 0.8" in pbr["ylabels"][1]
    assert pbr["legends"][0] == ["PLUM", "off-policy", "offline (1 round)"]
    assert "PLUM (N = 8)" in pbr["legends"][1] and "50% wrong" in pbr["legends"][2]
    for name in ("pass_by_round.png", "gain_vs_n.png", "gain_vs_test_accuracy.png"):
        w, h = _png_size(tmp_path / name)
        assert w >= 800 and h >= 500, name
    assert got["gain_vs_n.png"]["title"] == "PLUM's gain against samples per prompt"


@pytest.mark.parametrize("arms", [["plum"], ["plum", "rft"]])
def test_experiment_plots_with_few_arms(tmp_path, arms):
    recs = [{"arm": a, "seed": s, "pass@1": [48.3, None, 50.0 + s], "pass@1_sampled": None, "gain": 1.7 + s,
             "gain_sampled": None, "problems": 375, "test_accuracy": None} for a in arms for s in (0, 1)]
    got = rx.plots(rx.parse_args(["--out", str(tmp_path), "--arms", ",".join(arms)]), recs)
    assert (tmp_path / "pass_by_round.png").exists() and len(got["pass_by_round.png"]["legends"]) == 1
