"""The toy code world: right references, a held-out split by composition, habits the tests catch, a stable cache."""

import json
import os

import pytest

import toyworld as tw


# the smallest world the cache tests need: its data take a fraction of a second
SMALL = ["--n_sft", "200", "--n_train", "30", "--n_heldout", "20"]


@pytest.fixture(scope="module")
def world():
    return tw.build_tasks(0)


def _passes(code, tests):
    ns = {}
    exec(code, ns)  # our own reference programs, not model output
    for t in tests:
        try:
            exec(t, dict(ns))
        except AssertionError:
            return False
    return True


def test_known_answers():
    import random

    rng = random.Random(0)
    t = tw.make_task("list", ("even", "sum"), rng)
    t["steps"][2] = ("finish", "plus", 3, tw.LIST_FINISH["plus"])  # pin the finishing step: "then adds 3"
    ns = {}
    exec(tw.program(t), ns)
    assert ns["f"]([1, 2, 3, 4]) == 9 and ns["f"]([]) == 3 and ns["f"]([-2, 5]) == 1
    s = tw.make_task("str", ("reverse", "upper"), rng)
    exec(tw.program(s), ns)
    assert ns["f"]("ab c") == "C BA"
    assert "reverses it, then makes it upper case" in s["instruction"]


def test_every_reference_passes_its_tests_and_fn_agrees(world):
    for t in sum(world, []):
        assert _passes(tw.program(t), t["tests"]), t["task_id"]
        assert len(t["tests"]) == 4 and all(x.startswith("assert f(") for x in t["tests"])


def test_split_by_composition(world):
    sft, train, held = world
    held_comps = {(t["family"], tuple(t["composition"])) for t in held}
    train_comps = {(t["family"], tuple(t["composition"])) for t in sft + train}
    assert held_comps and not held_comps & train_comps
    # every held-out step is seen in training, only the combination is new
    train_steps = {(f, s) for f, c in train_comps for s in c}
    assert all((f, s) in train_steps for f, c in held_comps for s in c)
    # instruction texts: PLUM's set and the held-out set never appear in the SFT data
    sft_text = {t["instruction"] for t in sft}
    assert not sft_text & {t["instruction"] for t in train + held}
    assert len({t["instruction"] for t in train + held}) == len(train) + len(held)
    assert {t["family"] for t in held} == {"list", "int", "str"}


def test_habits_are_caught_by_reference_tests(world):
    """A habit that changes what a task computes fails one of its reference tests (else PLUM could not learn it)."""
    changed = 0
    for t in sum(world, []):
        if not tw.has_habit(t):
            continue
        good, bad = tw.program(t), tw.program(t, corrupt=True)
        assert good != bad
        if any(tw._run(good, v) != tw._run(bad, v) for v in tw._probes(t["family"])):
            changed += 1
            assert not _passes(bad, t["tests"]), (t["task_id"], bad, t["tests"])
    assert changed > 100


def test_sft_pairs_corrupt_only_solutions_at_the_rate(world):
    sft = world[0]
    pairs = tw.sft_pairs(sft, 0, 0.7, lambda i: i, lambda c: c, lambda i: i)
    sol = [p for p in pairs if p["kind"] == "solution"]
    tst = [p for p in pairs if p["kind"] == "tests"]
    assert len(sol) == len(tst) == len(sft)
    assert not any(p["corrupted"] for p in tst)
    with_habit = [p for p in sol if tw.has_habit(next(t for t in sft if t["task_id"] == p["task_id"]))]
    rate = sum(p["corrupted"] for p in with_habit) / len(with_habit)
    assert 0.6 < rate < 0.8
    assert not any(p["corrupted"] for p in sol if p not in with_habit)


def test_data_files_deterministic_and_cache_guard(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    small = ["--data_only"] + SMALL
    assert tw.main(["--out", a] + small) == 0
    assert tw.main(["--out", b] + small) == 0
    for name in ("sft.jsonl", "train_instructions.jsonl", "train_tests.jsonl", "heldout_tests.jsonl"):
        assert open(os.path.join(a, name)).read() == open(os.path.join(b, name)).read()
    recs = [json.loads(x) for x in open(os.path.join(a, "train_instructions.jsonl"))]
    assert len(recs) == 30 and all(set(r) >= {"task_id", "instruction", "reference", "entry_point"} for r in recs)
    held = [json.loads(x) for x in open(os.path.join(a, "heldout_tests.jsonl"))]
    assert len(held) == 20 and all(set(r) >= {"task_id", "instruction", "entry_point", "tests", "setup"} for r in held)
    # the SFT prompts are exactly what 02/06 (solution) and 01 (tests) give a base model
    from common import solution_prompt, tests_prompt
    sft = [json.loads(x) for x in open(os.path.join(a, "sft.jsonl"))]
    s = next(p for p in sft if p["kind"] == "solution")
    instr = s["prompt"].split('"""\n')[1].split("\n")[0]
    shown = s["prompt"].split("these tests:\n\n")[1].split("\n")[0]
    assert s["prompt"] == solution_prompt(instr, "f", tests=[shown], chat=False)
    t = next(p for p in sft if p["kind"] == "tests")
    assert t["prompt"] == tests_prompt(t["prompt"].split('"""\n')[1].split("\n")[0], "f", k=4, chat=False)
    # a rerun with the same settings is a cache hit; other settings refuse to mix into the same folder
    assert tw.main(["--out", a] + small) == 0
    with pytest.raises(SystemExit) as e:
        tw.main(["--out", a, "--data_only", "--n_sft", "201", "--n_train", "30", "--n_heldout", "20"])
    assert e.value.code != 0


def test_cache_key_covers_the_data_and_the_build_environment(tmp_path, monkeypatch, capsys):
    import common

    args = tw.parse_args(SMALL)
    env = tw.build_environment()
    assert {"torch", "transformers", "tokenizers", "sft_threads"} <= set(env)
    cfg, key = tw.config_key(args, environment=env)
    assert tw.config_key(args, environment={**env, "transformers": "0.0"})[1] != key
    assert tw.config_key(tw.parse_args(SMALL + ["--habit_rate", "0.5"]), environment=env)[1] != key   # settings
    real = common.tests_prompt
    monkeypatch.setattr(common, "tests_prompt", lambda *a, **k: real(*a, **k) + "# one more line\n")
    assert tw.config_key(args, environment=env)[1] != key   # another prompt: other SFT data, another SFT model
    monkeypatch.undo()
    # a world built in another environment is refused, naming what differs, before anything is rebuilt
    d = tmp_path / "w"
    d.mkdir()
    other = {**cfg, "environment": {**env, "transformers": "5.0.0"}}
    (d / "world.json").write_text(json.dumps({"key": "other", "config": other}))
    (d / "DONE").write_text("other\n")
    with pytest.raises(SystemExit):
        tw.main(["--out", str(d)] + SMALL)
    err = capsys.readouterr().err
    assert "environment.transformers: 5.0.0 -> " in err and "--rebuild" in err
    # its data files still serve --data_only (they depend on the settings only)
    assert tw.main(["--out", str(d), "--data_only"] + SMALL) == 0


def _repo_copy(tmp_path):
    """The repository's top-level modules, copied: the key is computed from files, so a copy can be edited freely."""
    import shutil

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in os.listdir(tw.HERE):
        if name.endswith(".py"):
            shutil.copy(os.path.join(tw.HERE, name), repo / name)
    return repo


def _edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_cache_key_ignores_edits_off_the_sft_path(tmp_path):
    """An ablation's edit to 05 or kto_loss (a comment, a docstring, another KTO default, a new loss) keeps the key,
    and so the cached SFT model and round 0; an edit to what builds the model (tinylm, the SFT loss, the trainer's
    batching, a default the SFT run reads) changes it."""
    repo = _repo_copy(tmp_path)
    args = tw.parse_args(SMALL)
    env = {"torch": "t"}
    files = tw.world_files(args)[0]
    key = lambda: tw.config_key(args, files, environment=env, repo=str(repo))[1]
    k0 = key()
    assert k0 == tw.config_key(args, files, environment=env)[1]   # the copy is the repository
    train, loss = repo / "05_train_kto.py", repo / "kto_loss.py"
    train.write_text(train.read_text() + "\n# an ablation's note\n")
    _edit(train, '"""Stage 5: train the policy', '"""Stage 5 (edited docstring): train the policy')
    _edit(train, '"""KTO (kto_loss.kto_loss).', '"""KTO, reworded (kto_loss.kto_loss).')
    _edit(train, 'p.add_argument("--beta", type=positive(float), default=0.1,',
          'p.add_argument("--beta", type=positive(float), default=0.3,')
    _edit(train, "z0 = torch.tensor(z_sum / max(z_n, 1e-12), device=logps.device)",
          "z0 = torch.zeros((), device=logps.device)  # ablation: no reference point")
    _edit(loss, "def kto_loss(policy_logps, reference_logps, labels, z0, beta=0.1,",
          "def kto_loss(policy_logps, reference_logps, labels, z0, beta=0.2,")
    _edit(train, "\nLOSSES = {\n", "\ndef new_step(logps, mb, args):\n    return logps.sum(), {}\n\n\nLOSSES = {\n"
          '    "new": Loss(fields=("prompt", "completion"), completions=("completion",), kl_rows=False, '
          'reference=False, per_token=False, average=lambda args: False, step=new_step, metrics=None, lr=1e-6),\n')
    assert key() == k0
    # each of these changes what the SFT build computes
    for path, old, new in [
        (repo / "tinylm.py", "intermediate_size=2 * hidden", "intermediate_size=3 * hidden"),
        (loss, "def sft_loss(logps, num_tokens):", "def sft_loss(logps, num_tokens):\n    num_tokens = num_tokens + 1"),
        (train, "starts = torch.cumsum(lens, 0) - lens", "starts = torch.cumsum(lens, 0) - lens + 0"),
        (train, 'p.add_argument("--warmup_ratio", type=number(float, 0, 1), default=0.1,',
         'p.add_argument("--warmup_ratio", type=number(float, 0, 1), default=0.05,'),
        (repo / "common.py", "def encode_prompt(tokenizer, text):", "def encode_prompt(tokenizer, text, _=0):"),
    ]:
        before = path.read_text()
        _edit(path, old, new)
        assert key() != k0, (path.name, new)
        path.write_text(before)
    assert key() == k0


def test_reused_cache_names_the_files_it_was_built_by(tmp_path, capsys):
    """A cache whose key matches is reused even when the whole files that built it have changed since; the message
    says so, with the hashes recorded at build time and the way to a new baseline. A change on the SFT path is
    refused instead, naming the function."""
    d = tmp_path / "w"
    args = tw.parse_args(["--out", str(d)] + SMALL)
    cfg, key = tw.config_key(args)
    built_by = tw.provenance()
    built_by["files"]["05_train_kto.py"] = "0123456789ab"
    (d / "sft" / "final").mkdir(parents=True)
    (d / "world.json").write_text(json.dumps({"key": key, "config": cfg, "built_by": built_by}))
    (d / "DONE").write_text(key + "\n")
    assert tw.main(["--out", str(d)] + SMALL) == 0
    out, err = capsys.readouterr()
    now = tw.provenance()["files"]["05_train_kto.py"]
    assert f"built by 05_train_kto.py sha 0123456789ab at {built_by['at']}" in err
    assert f"current 05_train_kto.py (sha {now}) differs" in err and "reusing the cached model" in err
    assert f"toyworld.py --out {d} --rebuild" in err and key in out
    # unchanged files: no note
    (d / "world.json").write_text(json.dumps({"key": key, "config": cfg, "built_by": tw.provenance()}))
    assert tw.main(["--out", str(d)] + SMALL) == 0
    assert "built by" not in capsys.readouterr().err
    # the SFT loss changed since the build: refused, the function named
    code = {**cfg["code"], "kto_loss.py:sft_loss": "000000000000"}
    (d / "world.json").write_text(json.dumps({"key": "other", "config": {**cfg, "code": code}}))
    with pytest.raises(SystemExit):
        tw.main(["--out", str(d)] + SMALL)
    err = capsys.readouterr().err
    assert "code.kto_loss.py:sft_loss: 000000000000 -> " in err and "--rebuild" in err
