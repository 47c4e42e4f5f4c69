"""Every numeric flag of every stage refuses a value that makes no sense, with exit status 2 and a message naming the
flag (`03_execute.py --timeout -1` once judged every program a timeout and exited 0; `--workers 0` quietly meant 1;
`06_eval.py --num_samples 0` ended in a missing-file error).

The flags are found by introspecting each stage's parser, and FLAGS says the range each one must have: a numeric
flag added without a range (a plain `type=int`), or with one this table does not list, fails
test_every_numeric_flag_has_its_range. Only parse_args runs: no model, no sandbox.

    python -m pytest -q tests/test_flags.py
"""

import argparse
import importlib
import re

import pytest

from test_cli import STAGES, stage_parser

# the ranges (common.number's `.domain`), each with values it must refuse and values it must take, as typed
DOMAINS = {
    "a positive int": (["0", "-1", "1.5", "x"], ["1"]),
    "a positive float": (["0", "-0.5", "nan", "inf", "x"], ["0.001"]),
    "an int >= 0": (["-1", "0.5"], ["0"]),
    "a float >= 0": (["-0.001", "nan", "inf"], ["0"]),
    "an int >= 2": (["1", "0"], ["2"]),
    "a float in (0, 1]": (["0", "1.01", "-1", "nan"], ["1", "0.01"]),
    "a float in [0, 1]": (["-0.01", "1.01", "nan"], ["0", "1"]),
    "a float in [0, 1)": (["1", "-0.1"], ["0", "0.999"]),
    "a float in [0, 0.5)": (["0.5", "-0.1"], ["0", "0.25"]),
    "an int in [0, 2^63)": (["-1", str(2 ** 63), "1.5"], ["0", str(2 ** 63 - 1)]),
    "a comma list of positive ints such as 1,10,100": (["0", "1,0", "-1", "x", ""], ["1,10"]),
}

# generation.add_backend_args (01, 02, 06)
BACKEND = {
    "--tensor_parallel_size": "a positive int",
    "--gpu_memory_utilization": "a float in (0, 1]",
    "--max_model_len": "a positive int",
    "--api_concurrency": "a positive int",
    "--api_max_retries": "an int >= 0",          # 0: no retry
    "--api_timeout": "a positive float",
    "--api_backoff": "a float >= 0",             # 0: retry at once
    "--batch_size": "a positive int",
    "--max_new_tokens": "a positive int",
}
SHARDS = {"--shard_id": "an int >= 0", "--num_shards": "a positive int"}
SANDBOX = {"--workers": "a positive int", "--timeout": "a positive float", "--memory_mb": "a positive int"}

FLAGS = {
    "01_generate_tests": {
        **BACKEND, **SHARDS, **SANDBOX,
        "--limit": "a positive int",
        "--num_tests": "a positive int",
        "--num_samples": "a positive int",
        "--temperature": "a float >= 0",
        "--top_p": "a float in (0, 1]",
        "--seed": "an int in [0, 2^63)",
        "--min_tests": "a positive int",
        "--max_tests": "a positive int",
        "--tasks_per_call": "a positive int",
        "--corrupt_share": "a float in [0, 1]",
    },
    "02_sample": {
        **BACKEND, **SHARDS,
        "--num_samples": "a positive int",
        "--temperature": "a float >= 0",
        "--top_p": "a float in (0, 1]",
        "--seed": "an int in [0, 2^63)",
        "--example_tests": "an int >= 0",          # 0: the prompt names the function instead
        "--round": "an int >= 0",
        "--tasks_per_call": "a positive int",
    },
    "03_execute": {
        **SHARDS, **SANDBOX,
        "--program_timeout": "a positive float",
        "--max_output_bytes": "a positive int",
    },
    "04_build_pairs": {
        **SHARDS,
        "--max_per_task": "a positive int",
        "--max_desirable_per_task": "an int >= 0",    # 0: a one-class (undesirable only) ablation
        "--max_undesirable_per_task": "an int >= 0",  # 0: a one-class (desirable only) ablation
        "--max_pairs_per_task": "a positive int",
        "--seed": "an int in [0, 2^63)",
    },
    "05_train_kto": {
        "--lora_r": "a positive int",
        "--lora_alpha": "a positive int",
        "--lora_dropout": "a float in [0, 1)",
        "--beta": "a positive float",
        "--desirable_weight": "a float >= 0",         # 0: that class adds nothing to the loss
        "--undesirable_weight": "a float >= 0",
        "--label_smoothing": "a float in [0, 0.5)",
        "--clip_epsilon": "a positive float",
        "--max_length": "an int >= 2",
        "--epochs": "a positive float",
        "--max_steps": "a positive int",
        "--batch_size": "a positive int",
        "--grad_accum": "a positive int",
        "--lr": "a positive float",
        "--warmup_ratio": "a float in [0, 1]",
        "--weight_decay": "a float >= 0",
        "--adam_betas": "a float in [0, 1)",
        "--max_grad_norm": "a float >= 0",            # 0: no clipping
        "--seed": "an int in [0, 2^63)",
        "--ref_batch_size": "a positive int",
        "--save_every": "an int >= 0",                # 0: no checkpoint between epoch ends
        "--save_total_limit": "a positive int",
    },
    "06_eval": {
        **BACKEND, **SHARDS, **SANDBOX,
        "--limit": "a positive int",
        "--k": "a comma list of positive ints such as 1,10,100",
        "--min_time_limit": "a positive float",
        "--time_limit_factor": "a positive float",
        "--num_samples": "a positive int",
        "--temperature": "a float >= 0",
        "--top_p": "a float in (0, 1]",
        "--seed": "an int in [0, 2^63)",
        "--example_tests": "an int >= 0",
        "--tasks_per_call": "a positive int",
    },
}

# the least each stage's parse_args takes (the files need not exist: only the flags are parsed)
BASE = {
    "01_generate_tests": ["--output", "o.jsonl", "--dataset", "mbpp", "--model", "m"],
    "02_sample": ["--input", "t.jsonl", "--output", "o.jsonl", "--model", "m"],
    "03_execute": ["--samples", "s.jsonl", "--tests", "t.jsonl", "--output", "o.jsonl"],
    "04_build_pairs": ["--executions", "e.jsonl", "--samples", "s.jsonl", "--output", "o.jsonl"],
    "05_train_kto": ["--model", "m", "--data", "d.jsonl", "--output_dir", "o"],
    "06_eval": ["--benchmark", "humaneval", "--samples", "s.jsonl", "--output_dir", "o"],
}


def is_numeric(action):
    """Whether a flag takes a number: a numeric type or range, or a numeric default (a number, a list of them, or
    a text such as "1,10,100")."""
    if getattr(action.type, "domain", None) or action.type in (int, float):
        return True
    d = action.default
    if isinstance(d, list) and d:
        d = d[0]
    if isinstance(d, str):
        return bool(re.fullmatch(r"[-+\d.,\s]+", d)) and any(c.isdigit() for c in d)
    return isinstance(d, (int, float)) and not isinstance(d, bool)


@pytest.mark.parametrize("name", STAGES)
def test_every_numeric_flag_has_its_range(name, monkeypatch):
    assert set(FLAGS) == set(STAGES)
    parser = stage_parser(name, monkeypatch)
    found = {a.option_strings[-1]: a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
             and not isinstance(a, argparse._HelpAction) and is_numeric(a)}
    unlisted = sorted(set(found) - set(FLAGS[name]))
    assert not unlisted, (f"{name}: numeric flag(s) {unlisted} are not in tests/test_flags.py's FLAGS: give each a "
                          f"range (common.positive, non_negative, number, SEED) and list it there")
    assert not sorted(set(FLAGS[name]) - set(found)), f"{name}: FLAGS lists flags the parser lacks"
    wrong = {f: getattr(a.type, "domain", a.type) for f, a in found.items()
             if getattr(a.type, "domain", None) != FLAGS[name][f]}
    assert not wrong, f"{name}: flags whose range is not the one FLAGS says (a plain int/float takes anything): {wrong}"
    for domain in FLAGS[name].values():
        assert domain in DOMAINS, domain


def _args(flag, nargs, value, good):
    """The argv words for `flag` with `value`; a two-value flag gets it first, then second, beside a good one."""
    if nargs == 2:
        return [[flag, value, good], [flag, good, value]]
    return [[flag, value]]


CASES = [(name, flag, domain) for name in FLAGS for flag, domain in sorted(FLAGS[name].items())]


@pytest.mark.parametrize("name,flag,domain", CASES, ids=[f"{n}{f}" for n, f, _ in CASES])
def test_bad_values_are_refused_naming_the_flag(name, flag, domain, capsys):
    mod = importlib.import_module(name)
    bad, good = DOMAINS[domain]
    nargs = 2 if flag == "--adam_betas" else None
    for value in bad:
        for words in _args(flag, nargs, value, good[0]):
            with pytest.raises(SystemExit) as e:
                mod.parse_args(BASE[name] + words)
            err = capsys.readouterr().err
            assert e.value.code == 2, (words, err)
            assert f"argument {flag}: must be {domain}, not {value}" in err, (words, err)


@pytest.mark.parametrize("name,flag,domain", CASES, ids=[f"{n}{f}" for n, f, _ in CASES])
def test_values_in_range_are_taken(name, flag, domain):
    mod = importlib.import_module(name)
    dest = flag[2:]
    for value in DOMAINS[domain][1]:
        words = [flag, value, value] if flag == "--adam_betas" else [flag, value]
        got = getattr(mod.parse_args(BASE[name] + words), dest)
        want = ([int(k) for k in value.split(",")] if domain.startswith("a comma list")
                else float(value) if "float" in domain else int(value))
        assert got == ([want, want] if flag == "--adam_betas" else want), (flag, value, got)


def test_a_range_check_refuses_nan_and_infinity_for_every_kind():
    import common
    for t in (common.positive(float), common.non_negative(float), common.number(float, 0, 1)):
        for text in ("nan", "inf", "-inf"):
            with pytest.raises(argparse.ArgumentTypeError, match=f"not {text}"):
                t(text)


# ----------------------------------------------------------------------------------------------------------------
# one name per concept: samples per task is --num_samples, tasks per generate call --tasks_per_call, in every stage
# that has them; the old names (common.RENAMED) still work, with a note, and --help shows only the current ones

OLD_NAMES = {"01_generate_tests": ["--num_generations"], "02_sample": [], "06_eval": ["--n_samples", "--gen_chunk"]}
# each stage's own defaults: 06's samples per task depends on the benchmark (None: resolved by resolve_sampling),
# and its 32 tasks per call keep runs begun with that size resuming exactly
DEFAULTS = {"01_generate_tests": (1, 64), "02_sample": (8, 64), "06_eval": (None, 32)}


@pytest.mark.parametrize("name", sorted(OLD_NAMES))
def test_one_name_per_concept_and_the_old_names_still_work(name, capsys):
    import common
    mod = importlib.import_module(name)
    args = mod.parse_args(BASE[name])
    assert (args.num_samples, args.tasks_per_call) == DEFAULTS[name]
    assert capsys.readouterr().err == ""
    for old in OLD_NAMES[name]:
        new = common.RENAMED[old]
        for words in ([old, "3"], [f"{old}=3"]):
            args = mod.parse_args(BASE[name] + words)
            assert getattr(args, new[2:]) == 3 and not hasattr(args, old[2:]), (old, vars(args))
            assert capsys.readouterr().err == f"note: {old} is now {new}\n"
        # the old name keeps the range, and the refusal names the flag as typed
        with pytest.raises(SystemExit) as e:
            mod.parse_args(BASE[name] + [old, "0"])
        assert e.value.code == 2 and f"argument {old}: must be a positive int, not 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        mod.parse_args(["--help"])
    shown = capsys.readouterr().out
    assert e.value.code == 0 and "--num_samples" in shown and "--tasks_per_call" in shown
    for old in common.RENAMED:
        assert old not in shown, (name, old)
    # a mistyped flag is pointed to the current name, never an old one
    with pytest.raises(SystemExit):
        mod.parse_args(BASE[name] + ["--n_sample", "2"])
    assert "did you mean --num_samples?" in capsys.readouterr().err


def test_06_livecodebench_default_samples_resolve_under_the_current_name():
    ev = importlib.import_module("06_eval")
    for bench, n in (("livecodebench", 10), ("humaneval", 1)):
        args = ev.parse_args(["--benchmark", bench, "--model", "m", "--output_dir", "o"])
        ev.resolve_sampling(args)
        assert args.num_samples == n, bench
