"""04_build_pairs.py: labels, dedupe, caps, drop options, DPO pairing, λ weights, hostile input."""

import importlib
import json
import subprocess
import sys

import pytest

from common import code_sha256

bp = importlib.import_module("04_build_pairs")


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def _world(tmp_path, spec):
    """spec: {task_id: [(completion, passed, tests_total), ...]} -> (executions path, samples path)."""
    samples, execs = [], []
    for task, cands in spec.items():
        for i, (completion, passed, total) in enumerate(cands):
            samples.append({"task_id": task, "sample_id": i, "prompt": f"P[{task}]", "completion": completion,
                            "code": completion, "model": "m", "round": 0,
                            "finish_reason": "length" if completion.startswith("bad") else "eos",
                            "eos_token_id": None if completion.startswith("bad") else 7})
            execs.append({"task_id": task, "sample_id": i, "status": "passed" if passed else "failed",
                          "passed": passed, "tests_passed": total if passed else 0, "tests_total": total,
                          "test_status": [], "error": None, "seconds": 0.1, "code_sha256": code_sha256(completion)})
    return _write(tmp_path / "executions.jsonl", execs), _write(tmp_path / "samples.jsonl", samples)


def _run(tmp_path, ex, sa, *extra, name="kto.jsonl"):
    out = tmp_path / name
    bp.main(["--executions", ex, "--samples", sa, "--output", str(out), *extra])
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    stats = json.loads((tmp_path / (name[:-6] + ".stats.json")).read_text())
    return recs, stats


SPEC = {
    "a": [("good1", True, 3), ("bad1", False, 3), ("good1", True, 3), ("bad2", False, 3), ("zero", True, 0)],
    "b": [("g", True, 2), ("g2", True, 2)],  # all pass
    "c": [("x", False, 2), ("y", False, 2)],  # none pass
    "d": [("flaky", True, 2), ("flaky", False, 2), ("ok", True, 2)],  # same text, two verdicts
}


def test_kto_labels_dedupe_and_stats(tmp_path):
    ex, sa = _world(tmp_path, SPEC)
    recs, stats = _run(tmp_path, ex, sa)
    got = {(r["task_id"], r["completion"]): r["label"] for r in recs}
    assert got == {("a", "good1"): True, ("a", "bad1"): False, ("a", "bad2"): False, ("b", "g"): True,
                   ("b", "g2"): True, ("c", "x"): False, ("c", "y"): False, ("d", "ok"): True}
    assert ("a", "zero") not in got  # passing zero tests is not passing
    assert [r["sample_id"] for r in recs if r["task_id"] == "a"] == [0, 1, 3]  # the first copy is kept
    assert all(set(r) >= {"task_id", "sample_id", "prompt", "completion", "label"} for r in recs)
    # 02's finish_reason travels with the completion, so 05 appends EOS only where the model wrote one
    assert all(r["finish_reason"] == ("length" if r["completion"].startswith("bad") else "eos") for r in recs)
    assert all(r["eos_token_id"] == (None if r["completion"].startswith("bad") else 7) for r in recs)
    assert stats["n_desirable"] == 4 and stats["n_undesirable"] == 4
    assert stats["duplicates"] == 2 and stats["conflicting_duplicates"] == 2 and stats["no_tests"] == 1
    assert stats["tasks_all_pass"] == 2 and stats["tasks_none_pass"] == 1  # "d" is all-pass once deduped
    assert (stats["desirable_weight"], stats["undesirable_weight"]) == (1.0, 1.0)
    assert (tmp_path / "kto.args.json").exists()


def test_drop_options_and_weights(tmp_path):
    ex, sa = _world(tmp_path, SPEC)
    recs, stats = _run(tmp_path, ex, sa, "--drop_all_pass", "--drop_none_pass")
    assert {r["task_id"] for r in recs} == {"a"}
    assert stats["tasks_dropped"] == 3
    assert stats["n_desirable"] == 1 and stats["n_undesirable"] == 2
    spec = {"t": [(f"bad{i}", False, 1) for i in range(9)] + [("good", True, 1)]}
    ex, sa = _world(tmp_path, spec)
    recs, stats = _run(tmp_path, ex, sa)
    ratio = stats["desirable_weight"] * 1 / (stats["undesirable_weight"] * 9)
    assert 1 - 1e-9 <= ratio <= 4 / 3 + 1e-9 and stats["undesirable_weight"] == 1.0


def test_caps_are_stable_and_respected(tmp_path):
    spec = {f"t{k}": [(f"good{i}", True, 1) for i in range(6)] + [(f"bad{i}", False, 1) for i in range(6)]
            for k in range(3)}
    ex, sa = _world(tmp_path, spec)
    recs, _ = _run(tmp_path, ex, sa, "--max_desirable_per_task", "2", "--max_undesirable_per_task", "3")
    for k in range(3):
        mine = [r for r in recs if r["task_id"] == f"t{k}"]
        assert sum(r["label"] for r in mine) == 2 and sum(not r["label"] for r in mine) == 3
    again, stats = _run(tmp_path, ex, sa, "--max_desirable_per_task", "2", "--max_undesirable_per_task", "3")
    assert again == recs and stats["capped"] == 3 * 7
    recs, _ = _run(tmp_path, ex, sa, "--max_per_task", "4")
    assert all(sum(r["task_id"] == f"t{k}" for r in recs) == 4 for k in range(3))


def test_dpo_pairs_cover_candidates_before_repeating(tmp_path):
    spec = {"t": [(f"good{i}", True, 1) for i in range(2)] + [(f"bad{i}", False, 1) for i in range(5)],
            "none": [("x", False, 1)], "all": [("y", True, 1)]}
    ex, sa = _world(tmp_path, spec)
    recs, stats = _run(tmp_path, ex, sa, "--format", "dpo", "--max_pairs_per_task", "5", name="dpo.jsonl")
    assert len(recs) == 5 and stats["n_pairs"] == 5
    assert {r["rejected"] for r in recs} == {f"bad{i}" for i in range(5)}  # every loser used once
    assert all(r["chosen"].startswith("good") and r["prompt"] == "P[t]" for r in recs)
    assert all((r["chosen_finish_reason"], r["rejected_finish_reason"]) == ("eos", "length") for r in recs)
    assert all((r["chosen_eos_token_id"], r["rejected_eos_token_id"]) == (7, None) for r in recs)
    assert all(set(r) >= {"task_id", "prompt", "chosen", "rejected"} for r in recs)
    recs, _ = _run(tmp_path, ex, sa, "--format", "dpo", "--max_pairs_per_task", "100", name="dpo.jsonl")
    assert len({(r["chosen"], r["rejected"]) for r in recs}) == len(recs) == 10  # the whole product, once each


def test_dpo_pairing_enumerates_product():
    import random
    for a, b in [(1, 1), (2, 5), (5, 2), (3, 3), (4, 6)]:
        pairs = bp.dpo_pairs(list(range(a)), list(range(100, 100 + b)), 10 ** 6, random.Random(0))
        assert sorted(pairs) == sorted((i, j) for i in range(a) for j in range(100, 100 + b))


def _cli(*args):
    return subprocess.run([sys.executable, "04_build_pairs.py", *args], capture_output=True, text=True)


def test_hostile_input_fails_clearly(tmp_path):
    ex, sa = _world(tmp_path, SPEC)
    with open(ex, "a") as f:
        f.write("{not json}\n")
    r = _cli("--executions", ex, "--samples", sa, "--output", str(tmp_path / "o.jsonl"))
    assert r.returncode != 0 and "executions.jsonl:13" in r.stderr and "not valid JSON" in r.stderr
    assert not (tmp_path / "o.jsonl").exists()
    ex, sa = _world(tmp_path, {"c": [("x", False, 1)]})
    r = _cli("--executions", ex, "--samples", sa, "--output", str(tmp_path / "d.jsonl"), "--format", "dpo")
    assert r.returncode != 0 and "DPO needs a task with both" in r.stderr
    # one class is fine for KTO (online rounds produce it)
    r = _cli("--executions", ex, "--samples", sa, "--output", str(tmp_path / "k.jsonl"))
    assert r.returncode == 0 and "one class only" in r.stderr
    r = _cli("--executions", ex, "--samples", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "e.jsonl"))
    assert r.returncode != 0 and "no such file" in r.stderr


def test_sharding_splits_tasks(tmp_path):
    ex, sa = _world(tmp_path, SPEC)
    seen = []
    for k in range(2):
        bp.main(["--executions", ex, "--samples", sa, "--output", str(tmp_path / "s.jsonl"), "--shard_id", str(k),
                 "--num_shards", "2"])
        p = tmp_path / f"s.shard-{k:05d}-of-00002.jsonl"
        seen.append({json.loads(line)["task_id"] for line in p.read_text().splitlines()})
    assert seen[0] | seen[1] == {"a", "b", "c", "d"} and not seen[0] & seen[1]


def test_crashed_programs_keep_their_label_and_every_left_out_is_counted(tmp_path, capsys):
    """Issue 19, family 8: a program that ran and crashed is an undesirable example, even in a record without test
    counts (the sandbox once wrote tests_total 0 for a program that died in a fast-path test); only a sample that
    never ran has no label, and every candidate left out is counted, by reason, in the stats and the summary."""
    def ex(task, sid, status, total, error=None, statuses=None):
        return {"task_id": task, "sample_id": sid, "status": status, "passed": status == "passed",
                "tests_passed": total if status == "passed" else 0, "tests_total": total,
                "test_status": statuses if statuses is not None else [status] * total, "error": error,
                "seconds": 0.1, "code_sha256": code_sha256(f"c{task}{sid}")}
    execs = [ex("t", 0, "passed", 2),
             ex("t", 1, "error", 0, "sandbox: TypeError: keywords must be strings", []),   # crashed, old record
             ex("t", 2, "error", 2, "test 0: the program exited or was killed during the test",
                ["error", "not_run"]),                                                      # crashed, new record
             ex("t", 3, "timeout", 0, "timeout (test 0)", []),                              # ran, no counts
             ex("u", 0, "error", 0, "assert job has no tests", []),                         # never ran
             ex("t", 9, "failed", 2)]                                                       # no sample
    samples = [{"task_id": t, "sample_id": i, "prompt": f"P[{t}]", "completion": f"c{t}{i}", "code": f"c{t}{i}"}
               for t, i in [("t", 0), ("t", 1), ("t", 2), ("t", 3), ("t", 4), ("u", 0)]]   # t/4: not executed
    e, s = _write(tmp_path / "executions.jsonl", execs), _write(tmp_path / "samples.jsonl", samples)
    recs, stats = _run(tmp_path, e, s)
    assert {(r["task_id"], r["sample_id"]): r["label"] for r in recs} == {
        ("t", 0): True, ("t", 1): False, ("t", 2): False, ("t", 3): False}
    assert stats["zero_test_failures"] == 2 and stats["no_tests"] == 1
    assert stats["left_out"] == {"missing_execution": 1, "no_tests": 1, "missing_sample": 1}
    err = capsys.readouterr().err
    assert "left out: 1 not run by 03 (no execution record), 1 never ran (its task has no tests), " \
           "1 executions without a sample" in err
    assert "2 that crashed without test counts kept as undesirable" in err
    # DPO and SFT say what their format leaves out too
    recs, stats = _run(tmp_path, e, s, "--format", "dpo", "--max_pairs_per_task", "1", name="dpo.jsonl")
    assert len(recs) == 1 and stats["left_out"]["dpo_unpaired"] == 2
    recs, stats = _run(tmp_path, e, s, "--format", "sft", name="sft.jsonl")
    assert len(recs) == 1 and stats["left_out"]["sft_not_passing"] == 3
    assert "3 not passing" in capsys.readouterr().err


def test_executions_of_other_code_are_refused_naming_the_files(tmp_path):
    """Executions of one round joined with samples of another share (task_id, sample_id) but not code: 04 refuses,
    naming both files, instead of writing wrong labels; so does an execution without code_sha256."""
    spec = {"t": [("good", True, 1), ("bad", False, 1)]}
    ex, sa = _world(tmp_path, spec)
    other = [dict(json.loads(line), code=json.loads(line)["code"] + "\n# round 2", completion="x")
             for line in open(sa)]
    sa2 = _write(tmp_path / "samples2.jsonl", other)
    with pytest.raises(SystemExit) as e:
        _run(tmp_path, ex, sa2)
    assert e.value.code == 1
    old = [{k: v for k, v in json.loads(line).items() if k != "code_sha256"} for line in open(ex)]
    ex2 = _write(tmp_path / "executions2.jsonl", old)
    p = subprocess.run([sys.executable, bp.__file__, "--executions", ex2, "--samples", sa, "--output",
                        str(tmp_path / "k.jsonl")], capture_output=True, text=True)
    assert p.returncode == 1 and "executions2.jsonl" in p.stderr and "no code_sha256" in p.stderr, p.stderr
    p = subprocess.run([sys.executable, bp.__file__, "--executions", ex, "--samples", sa2, "--output",
                        str(tmp_path / "k.jsonl")], capture_output=True, text=True)
    assert p.returncode == 1 and "samples2.jsonl" in p.stderr and "2 execution record(s)" in p.stderr, p.stderr
    recs, _ = _run(tmp_path, ex, sa)   # the matching pair still works
    assert [r["label"] for r in recs] == [True, False]


def test_group_advantages_known_answers():
    # one pass in four: mean 1/4, sample std sqrt((9/16 + 3/16) / 3) = 1/2
    a = bp.group_advantages([1.0, 0.0, 0.0, 0.0])
    assert a == pytest.approx([0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001])
    assert sum(a) == pytest.approx(0, abs=1e-12)
    assert bp.group_advantages([1.0, 0.0, 0.0, 0.0], "dr_grpo") == pytest.approx([0.75, -0.25, -0.25, -0.25])
    assert bp.group_advantages([1.0, 0.0, 0.0, 0.0], "rloo") == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3])
    assert bp.group_advantages([0.5, 0.0], "rloo") == pytest.approx([0.5, -0.5])
    assert bp.group_advantages([1.0]) == [0.0]   # a group of one has no baseline


def test_grpo_format_groups_advantages_and_stats(tmp_path):
    ex, sa = _world(tmp_path, SPEC)
    recs, stats = _run(tmp_path, ex, sa, "--format", "grpo", name="grpo.jsonl")
    by_group = {}
    for r in recs:
        assert r["group"] == r["task_id"] and r["reward"] == float(r["label"])
        assert set(r) >= {"task_id", "sample_id", "prompt", "completion", "label", "reward", "advantage"}
        by_group.setdefault(r["group"], []).append(r)
    # "b" (all pass) and "c" (none pass) have equal rewards: dropped. Copies are kept: a group is the samples as
    # drawn ("a" has good1 twice; "d" keeps both verdicts of "flaky"); "a"'s zero-test pass never ran
    assert sorted(by_group) == ["a", "d"]
    assert [r["sample_id"] for r in by_group["a"]] == [0, 1, 2, 3]
    assert [r["sample_id"] for r in by_group["d"]] == [0, 1, 2]
    # a: rewards 1, 0, 1, 0: mean 1/2, sample std sqrt(1/3)
    assert [r["advantage"] for r in by_group["a"]] == pytest.approx([x / (3 ** -0.5 + 1e-4) for x in
                                                                      (0.5, -0.5, 0.5, -0.5)])
    assert all(abs(sum(r["advantage"] for r in g)) < 1e-9 for g in by_group.values())
    assert stats["groups"] == 2 and stats["groups_equal_rewards"] == 2 and stats["records"] == 7
    assert stats["left_out"] == {"no_tests": 1, "zero_advantage": 4}
    assert (stats["reward"], stats["advantage"], stats["format"]) == ("passed", "grpo", "grpo")
    assert stats["n_desirable"] == 4 and stats["n_undesirable"] == 3
    recs, _ = _run(tmp_path, ex, sa, "--format", "grpo", "--advantage", "rloo", name="grpo.jsonl")
    assert [r["advantage"] for r in recs if r["task_id"] == "d"] == pytest.approx([0.5, -1.0, 0.5])


def test_grpo_share_reward_tells_failing_samples_apart(tmp_path):
    # three failing samples that pass 0, 1 and 2 of 3 tests: equal rewards under --reward passed, not under share
    samples = [{"task_id": "t", "sample_id": i, "prompt": "P", "completion": f"c{i}", "code": f"c{i}"}
               for i in range(3)]
    execs = [{"task_id": "t", "sample_id": i, "status": "failed", "passed": False, "tests_passed": i,
              "tests_total": 3, "test_status": [], "error": None, "seconds": 0.1, "code_sha256": code_sha256(f"c{i}")}
             for i in range(3)]
    e, s = _write(tmp_path / "executions.jsonl", execs), _write(tmp_path / "samples.jsonl", samples)
    with pytest.raises(SystemExit):
        _run(tmp_path, e, s, "--format", "grpo", name="grpo.jsonl")
    assert not (tmp_path / "grpo.jsonl").exists()
    recs, stats = _run(tmp_path, e, s, "--format", "grpo", "--reward", "share", "--advantage", "dr_grpo",
                       name="grpo.jsonl")
    assert [r["reward"] for r in recs] == pytest.approx([0, 1 / 3, 2 / 3])
    assert [r["advantage"] for r in recs] == pytest.approx([-1 / 3, 0, 1 / 3])
    assert stats["groups"] == 1 and stats["groups_equal_rewards"] == 0
