"""The experiment arms' stage options (04 --shuffle_labels / --format sft, 01 --corrupt_from, toyworld's second
held-out set) and run_experiments.py's resume, sharing and paired statistics, on fixtures built here."""

import importlib
import json
import math
import os
import statistics

import pytest

from common import code_sha256

bp = importlib.import_module("04_build_pairs")
gt = importlib.import_module("01_generate_tests")
rx = importlib.import_module("run_experiments")
tw = importlib.import_module("toyworld")


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def _read(path):
    return [json.loads(x) for x in open(path) if x.strip()]


def _pairs_world(tmp_path):
    """12 tasks x 5 distinct candidates; candidate i of task t passes when (t + i) % 3 == 0."""
    samples, execs = [], []
    for t in range(12):
        for i in range(5):
            ok = (t + i) % 3 == 0
            samples.append({"task_id": f"t{t}", "sample_id": i, "prompt": f"P{t}", "completion": f"c{t}-{i}",
                            "code": f"c{t}-{i}"})
            execs.append({"task_id": f"t{t}", "sample_id": i, "status": "passed" if ok else "failed", "passed": ok,
                          "tests_passed": 2 if ok else 0, "tests_total": 2, "code_sha256": code_sha256(f"c{t}-{i}")})
    return _write(tmp_path / "ex.jsonl", execs), _write(tmp_path / "sa.jsonl", samples), execs


def _build(tmp_path, ex, sa, name, *extra):
    out = str(tmp_path / name)
    bp.main(["--executions", ex, "--samples", sa, "--output", out, *extra])
    return _read(out)


def test_shuffle_keeps_the_ratio_is_seeded_and_moves_labels(tmp_path):
    ex, sa, execs = _pairs_world(tmp_path)
    plain = _build(tmp_path, ex, sa, "kto.jsonl")
    a = _build(tmp_path, ex, sa, "a.jsonl", "--shuffle_labels", "--seed", "1")
    b = _build(tmp_path, ex, sa, "b.jsonl", "--shuffle_labels", "--seed", "1")
    c = _build(tmp_path, ex, sa, "c.jsonl", "--shuffle_labels", "--seed", "2")
    assert a == b and [r["label"] for r in a] != [r["label"] for r in c]
    assert sum(r["label"] for r in a) == sum(r["label"] for r in plain) == sum(e["passed"] for e in execs)
    # the real verdict travels along; the label no longer follows it
    assert [r["verdict"] for r in a] == [r["label"] for r in plain]
    assert sum(r["label"] != r["verdict"] for r in a) > 0
    assert [(r["task_id"], r["completion"]) for r in a] == [(r["task_id"], r["completion"]) for r in plain]
    with pytest.raises(SystemExit):
        bp.parse_args(["--executions", ex, "--samples", sa, "--output", "x", "--format", "dpo", "--shuffle_labels"])


def test_rft_set_is_the_passing_samples_and_sft_all_is_every_sample(tmp_path):
    ex, sa, execs = _pairs_world(tmp_path)
    passing = {(e["task_id"], e["sample_id"]) for e in execs if e["passed"]}
    rft = _build(tmp_path, ex, sa, "sft.jsonl", "--format", "sft")
    assert {(r["task_id"], r["sample_id"]) for r in rft} == passing
    assert all(r["passed"] is True and "label" not in r for r in rft)
    everything = _build(tmp_path, ex, sa, "all.jsonl", "--format", "sft", "--sft_filter", "none")
    assert len(everything) == len(execs) and sum(r["passed"] for r in everything) == len(passing)
    # 05 --loss sft trains on every line of either file (it drops only label false)
    m5 = importlib.import_module("05_train_kto")
    args = m5.parse_args(["--loss", "sft", "--data", str(tmp_path / "all.jsonl"), "--model", "m", "--output_dir", "o"])
    assert len(m5.load_records(args)) == len(execs)


def test_corruption_changes_exactly_the_share_and_only_expected_values(tmp_path):
    tests = [{"task_id": f"t{i}", "tests": [f"assert f({j}) == {i * j}", f"assert f('{j}') == 's{j}'",
                                            f"assert g(f([{j}])) == [{j}, 1]", "assert f(1) in (1, 2)"]}
             for i in range(10) for j in (1,)]
    src = _write(tmp_path / "tests.jsonl", tests)
    out = str(tmp_path / "bad.jsonl")
    gt.main(["--corrupt_from", src, "--corrupt_share", "0.25", "--seed", "3", "--output", out])
    bad = _read(out)
    assert sum(len(r["corrupted"]) for r in bad) == 10            # round(0.25 x 40)
    for old, new in zip(tests, bad):
        assert new["clean_tests"] == old["tests"]
        for j, (a, b) in enumerate(zip(old["tests"], new["tests"])):
            if j not in new["corrupted"]:
                assert a == b
                continue
            assert a != b and j != 3                             # `in` is not an expected value: never touched
            left_a, left_b = a.split(" == ")[0], b.split(" == ")[0]
            assert left_a == left_b                              # the call is kept; only the value changes
            ns = {"f": lambda v: v, "g": lambda v: v}
            assert eval(a.split(" == ")[1], ns) != eval(b.split(" == ")[1], ns)
            assert type(eval(a.split(" == ")[1])) is type(eval(b.split(" == ")[1]))
    # seeded: the same seed picks the same tests, another seed others
    again, _, _ = gt.corrupt_tests(tests, 0.25, 3)
    other, _, _ = gt.corrupt_tests(tests, 0.25, 4)
    assert [r["corrupted"] for r in again] == [r["corrupted"] for r in bad] != [r["corrupted"] for r in other]
    with pytest.raises(gt.InputError, match="only 30 have the shape"):
        gt.corrupt_tests(tests, 0.9, 0)


def test_a_corrupted_test_fails_the_reference():
    ref = "def f(n):\n    return n * 3\n"
    test = "assert f(4) == 12"
    ns = {}
    exec(ref, ns)
    exec(test, ns)
    with pytest.raises(AssertionError):
        exec(gt.corrupt_expected(test), ns)


def test_long_heldout_set_is_longer_disjoint_and_right():
    sft, plum, held = tw.build_tasks(0, n_sft=200, n_plum=40, n_heldout=30)
    long = tw.build_long_heldout(0, n=20)
    assert tw.build_long_heldout(0, n=20)[5]["instruction"] == long[5]["instruction"]
    texts = {t["instruction"] for t in sft + plum + held}
    assert all(len(t["composition"]) == 3 and t["instruction"] not in texts for t in long)
    for t in long:
        assert all(p not in tw.HELDOUT[t["family"]] for p in zip(t["composition"], t["composition"][1:]))
        ns = {}
        exec(tw.program(t), ns)
        for line in t["tests"]:
            exec(line, ns)   # the reference program passes its tests


# ---------------------------------------------------------------------------------------------------------------
# the driver


def test_paired_stats_on_known_differences():
    p = rx.paired([1.0, 2.0, 3.0])
    assert p["mean"] == 2.0 and p["sd"] == 1.0 and p["n"] == 3
    assert math.isclose(p["t"], 2 * math.sqrt(3)) and p["t_crit"] == 4.303 and not p["significant"]
    assert p["seeds_needed"] == 4     # 2 / (1 / sqrt(4)) = 4 > 3.182 (3 df); 3.46 < 4.303 at n = 3
    assert p["signs"] == (3, 0, 0)
    q = rx.paired([-3.0, -4.0, -5.0])   # t = -6.93 at n = 3; at n = 2 it would be -5.66 > -12.706
    assert q["significant"] and q["seeds_needed"] == 3 and rx.verdict(q, True).startswith("reversed")
    e = rx.paired([1.7, 1.7 + 1e-12, 1.7])   # one benchmark task apart in every seed: no spread, nothing to call
    assert e["sd"] == 0 and not e["significant"] and "same difference in all 3 seeds" in rx.verdict(e, True)
    z = rx.paired([1.0, -1.0, 0.0])
    assert z["seeds_needed"] is None and z["signs"] == (1, 1, 1) and "undecided with 3 seeds" in rx.verdict(z, True)
    recs = [{"arm": a, "seed": s, "gain": g} for a, s, g in
            [("plum", 0, 10), ("plum", 1, 12), ("plum", 2, 14), ("rft", 0, 4), ("rft", 1, 5), ("rft", 2, 6),
             ("rft", 3, 1)]]
    c = next(c for c in rx.contrasts(recs, "gain") if c["claim"] == "PLUM > RFT")
    assert c["seeds"] == [0, 1, 2] and c["diffs"] == [6, 7, 8] and c["verdict"].startswith("reproduces")
    assert rx.ms([10, 12, 14]) == "12.0 ± 2.0"


FAKE_PLUM = r"""#!/usr/bin/env bash
# records its flags, then writes what a finished run_plum.sh leaves (summary.jsonl with every round); the gain per
# round is 5 points, or with --train_args "--lr X" 5 - 10000 |X - 2e-4| (best at 2e-4)
out=""; rounds=3; seed=0; train=""; evals=all
while [[ $# -gt 0 ]]; do case "$1" in --out) out=$2; shift 2;; --rounds) rounds=$2; shift 2;;
  --seed) seed=$2; shift 2;; --train_args) train=$2; shift 2;; --eval_rounds) evals=$2; shift 2;; *) shift;; esac; done
echo "$out" >> "$CALLS"
echo "$out $train" >> "$CALLS.train"
[[ $out == *fail* ]] && exit 3
[[ -f $out/tests/.done/01 ]] && echo "tests given" >> "$CALLS"
mkdir -p "$out/tests/.done" "$out/round-0/.done"; touch "$out/tests/.done/01" "$out/round-0/.done/06" "$out/round-0/.done/06b"
python3 - "$out" "$rounds" "$train" "$evals" <<'EOF'
import json, sys
out, rounds, train, evals = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
step = 0.05 - (abs(float(train[train.index("--lr") + 1]) - 2e-4) if "--lr" in train else 0)
with open(out + "/summary.jsonl", "w") as f:
    for r in range(rounds + 1):
        shown = evals == "all" or r in (0, rounds)   # --eval_rounds last: the rounds between are not evaluated
        f.write(json.dumps({"round": r, "pass@1": 0.5 + step * r if shown else None,
                            "pass@1_eval2": 0.3 + step * r if shown else None,
                            "pass@1_se": 0.02, "pass@1_eval2_se": 0.015, "problems": 375,
                            "kept_tests": 200, "tasks_with_tests": 100, "tasks_validated": 100,
                            "train_steps": 10 if r else None, "samples_passing": 0.4 if r else None}) + "\n")
EOF
"""


def _fake_repo(tmp_path, monkeypatch, accuracy):
    """A repository whose run_plum.sh is FAKE_PLUM and whose toyworld.py records its command in OUT.built, a toy
    folder with the evaluation file, and the test accuracy fixed; returns (toy folder, the fake's calls file)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "run_plum.sh").write_text(FAKE_PLUM)
    (repo / "toyworld.py").write_text("import sys\nopen(sys.argv[2] + '.built', 'w').write(' '.join(sys.argv))\n")
    toy = tmp_path / "toy"
    toy.mkdir()
    (toy / "heldout_all_tests.jsonl").write_text("")
    monkeypatch.setattr(rx, "REPO", str(repo))
    monkeypatch.setattr(rx, "test_accuracy", lambda d, refs: accuracy)
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("CALLS", str(calls))
    return toy, calls


def test_driver_skips_finished_runs_resumes_the_rest_and_shares_a_seeds_tests(tmp_path, monkeypatch):
    toy, calls = _fake_repo(tmp_path, monkeypatch, 0.75)
    out = tmp_path / "exp"
    argv = ["--arms", "plum,rft,offline,offline_steps", "--seeds", "0,1", "--rounds", "2", "--jobs", "2", "--out", str(out),
            "--toy_dir", str(toy), "--tune_lrs", ""]
    # plum seed 0 finished before: skipped; its tests are copied into rft seed 0 before that starts
    done = out / "plum" / "seed-0"
    (done / "tests" / ".done").mkdir(parents=True)
    (done / "tests" / ".done" / "01").write_text("x")
    (done / "tests" / "tests.jsonl").write_text("{}\n")
    (done / "round-0" / ".done").mkdir(parents=True)
    for m in ("06", "06b"):
        (done / "round-0" / ".done" / m).write_text("x")
    _write(done / "summary.jsonl", [{"round": r, "pass@1": 0.5, "pass@1_eval2": 0.3, "kept_tests": 200,
                                     "tasks_with_tests": 100, "tasks_validated": 100, "train_steps": 7 if r else None}
                                    for r in range(3)])
    assert rx.main(argv) == 0
    ran = calls.read_text().split("\n")
    assert str(done) not in ran
    assert sorted(x for x in ran if x.startswith("/")) == sorted(
        str(out / a / f"seed-{s}") for a, s in [("plum", 1), ("rft", 0), ("rft", 1), ("offline", 0), ("offline", 1),
                                                ("offline_steps", 0), ("offline_steps", 1)])
    assert (out / "rft" / "seed-0" / "tests" / "tests.jsonl").read_text() == "{}\n"
    # a second run has nothing to do
    calls.write_text("")
    assert rx.main(argv) == 0
    assert calls.read_text() == ""
    recs = [r for r in _read(out / "experiments.jsonl") if r["kind"] == "run"]
    assert len(recs) == 8
    off = next(r for r in recs if r["arm"] == "offline")
    assert len(off["pass@1"]) == 2 and "--num_samples" in off["flags"] and "16" in off["flags"]
    # trained for the plum run's steps of the same seed: 7 + 7 (seed 0, made above), 10 + 10 (seed 1, the fake's)
    assert [r["flags"][r["flags"].index("--train_args") + 1] for r in recs if r["arm"] == "offline_steps"] == [
        "--max_steps 14", "--max_steps 20"]
    assert "8 of 8 runs finished" in (out / "experiments.md").read_text()
    for png in ("pass_by_round.png", "gain_vs_n.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # a failing run is reported (exit 1) and the table says partial
    bad = ["--arms", "plum", "--seeds", "0", "--out", str(tmp_path / "fail"), "--toy_dir", str(toy), "--tune_lrs", ""]
    assert rx.main(bad) == 1
    assert "0 of 1 runs finished (PARTIAL)" in (tmp_path / "fail" / "experiments.md").read_text()


def test_driver_tunes_the_lr_per_loss_on_tuning_seeds_then_runs_the_arms_with_it(tmp_path, monkeypatch):
    toy, calls = _fake_repo(tmp_path, monkeypatch, 1.0)
    out = tmp_path / "exp"
    argv = ["--arms", "plum,shuffled,rft,off_policy_other", "--seeds", "0,1", "--rounds", "2", "--out", str(out),
            "--toy_dir", str(toy), "--tune_lrs", "1e-4,2e-4,4e-4", "--tune_seeds", "7"]
    assert rx.main(argv) == 0
    # the other model was built beside the toy world, from another seed
    assert "--model_seed 1" in open(str(toy) + "-m1.built").read()
    # tuning: one arm per loss (kto in plum, sft in rft) at each lr, on seed 7 only; 2e-4 wins for both
    train = dict(line.split(" ", 1) for line in (tmp_path / "calls.txt.train").read_text().splitlines())
    tuned_dirs = sorted(d for d in train if "/tune/" in d)
    assert [os.path.basename(os.path.dirname(d)) for d in tuned_dirs] == sorted(
        f"{a}-lr{lr}" for a in ("plum", "rft") for lr in ("0.0001", "0.0002", "0.0004"))
    assert all(d.endswith("seed-7") for d in tuned_dirs)
    assert json.load(open(out / "tuned.json"))["lr"] == {"kto": "0.0002", "sft": "0.0002"}
    assert "| kto | 0.0002 |" in (out / "tune" / "tuning.md").read_text()
    # every evaluation run trains at its loss's tuned lr; none on a tuning seed
    main_runs = {d: t for d, t in train.items() if "/tune/" not in d}
    assert len(main_runs) == 8 and all(t.strip() == "--lr 0.0002" for t in main_runs.values())
    assert not any(d.endswith("seed-7") for d in main_runs)
    # the table: the primary metric (sampled) with its standard error, the lr column, verdicts with the margin
    md = (out / "experiments.md").read_text()
    assert "verdicts are on gain_sampled" in md and "| 0.0002 |" in md and "(1.5 ± 0.0)" in md
    # round 1 was not evaluated (--eval_rounds last, the default): a dash, and the gains from rounds 0 and 2
    assert "| 50.0 ± 0.0 → - → 60.0 ± 0.0 (2.0 ± 0.0) | +10.0 ± 0.0 |" in md
    assert (out / "pass_by_round.png").read_bytes()[:4] == b"\x89PNG"
    cons = [c for c in _read(out / "experiments.jsonl") if c["kind"] == "contrast"]
    assert {c["metric"] for c in cons} == {"gain_sampled", "gain"}
    # identical fakes: every difference is 0 with no spread
    assert all(c["mean"] == 0 and "no difference" in c["verdict"] for c in cons)
    # tuning seeds must not be evaluation seeds
    with pytest.raises(SystemExit):
        rx.parse_args(["--seeds", "0,7", "--tune_seeds", "7"])


def test_equivalence_and_decision_verdicts():
    # mean 0.5, sd 1 over 8 seeds: 90% half-width 1.895 / sqrt(8) = 0.67 -> inside +-3: equal
    diffs = [0.5 + x for x in (-1.5, -1, -0.5, 0, 0, 0.5, 1, 1.5)]
    p = rx.paired(diffs, margin=3.0)
    assert p["equal"] and not p["significant"]
    assert rx.verdict(p, True).startswith("equal within ±3 points")
    # a wide spread over 3 seeds: neither decided nor equal; the seeds each would need are named
    q = rx.paired([4.0, -2.0, 1.0], margin=3.0)
    assert not q["equal"] and not q["significant"]
    assert q["seeds_needed_equal"] is not None and q["seeds_needed_equal"] > 3
    v = rx.verdict(q, True)
    assert v.startswith("undecided with 3 seeds") and "to show it equal within ±3" in v
    # a mean beyond the margin can never be shown equal
    r = rx.paired([4.0, 5.0, 3.5], margin=3.0)
    assert r["seeds_needed_equal"] is None and r["significant"] and rx.verdict(r, True).startswith("reproduces")
    assert rx.equivalent(0.0, 1.0, 2, 3.0) is False    # 6.314 / sqrt(2) = 4.46 > 3
    assert rx.equivalent(0.0, 1.0, 3, 3.0) is True     # 2.920 / sqrt(3) = 1.69 < 3


def test_heldout_all_is_every_heldout_task_once_and_right():
    _, _, held = tw.build_tasks(0)
    every = tw.build_heldout_all(0)
    texts = [t["instruction"] for t in every]
    assert len(texts) == len(set(texts)) == 375
    assert {t["instruction"] for t in held} <= set(texts)     # the 120 are among them
    assert all(tuple(t["composition"]) in tw.HELDOUT[t["family"]] for t in every)
    # more draws find nothing new: the set is complete, and its order does not depend on the draw
    assert [t["instruction"] for t in tw.build_heldout_all(0, draws=120_000)] == texts
    for t in every[::25]:
        ns = {}
        exec(tw.program(t), ns)
        for line in t["tests"]:
            exec(line, ns)


def test_model_seed_is_another_model_of_the_same_world():
    base = tw.parse_args(["--data_only"])
    other = tw.parse_args(["--data_only", "--model_seed", "1"])
    files = tw.world_files(base)[0]
    assert files == tw.world_files(other)[0]                       # the same data
    cfg, key = tw.config_key(base, files)
    cfg1, key1 = tw.config_key(other, files)
    assert "model_seed" not in cfg and cfg1["model_seed"] == 1 and key != key1
    assert tw.sft_command(other, "OUT")[tw.sft_command(other, "OUT").index("--seed") + 1] == "1"
    assert tw.sft_command(base, "OUT")[tw.sft_command(base, "OUT").index("--seed") + 1] == "0"


def test_eval_se_is_the_per_task_difference_of_the_last_evaluations(tmp_path):
    args = rx.parse_args(["--out", str(tmp_path), "--seeds", "0,1"])

    def run(arm, seed, passed):   # passed: {task: [sample verdicts]} of the last (sampled) evaluation, round 2
        d = tmp_path / arm / f"seed-{seed}"
        (d / "round-2" / "eval2").mkdir(parents=True)
        _write(d / "summary.jsonl", [{"round": r} for r in range(3)])
        recs = [{"task_id": t, "sample_id": i, "passed": p} for t, ps in passed.items() for i, p in enumerate(ps)]
        _write(d / "round-2" / "eval2" / "executions.jsonl", recs + recs[:1])   # a record appended twice counts once
    # seed 0: per-task differences 50, 0, 0, -50 (points); seed 1: 100, 0, 0, 0
    run("plum", 0, {"a": [1, 1], "b": [1, 0], "c": [0, 0], "d": [0, 0]})
    run("rft", 0, {"a": [1, 0], "b": [1, 0], "c": [0, 0], "d": [1, 0]})
    run("plum", 1, {"a": [1, 1], "b": [0, 0], "c": [0, 0], "d": [0, 0]})
    run("rft", 1, {"a": [0, 0], "b": [0, 0], "c": [0, 0], "d": [0, 0]})
    assert rx.task_scores(str(tmp_path / "plum" / "seed-0"), "gain_sampled") == {"a": 100, "b": 50, "c": 0, "d": 0}
    se0 = statistics.stdev([50, 0, 0, -50]) / 2
    se1 = statistics.stdev([100, 0, 0, 0]) / 2
    assert rx.eval_se(args, "plum", "rft", [0, 1], "gain_sampled") == pytest.approx(math.sqrt(se0 ** 2 + se1 ** 2) / 2)
    assert rx.eval_se(args, "plum", "rft", [0, 1], "gain") is None     # no greedy evaluation in this fixture
