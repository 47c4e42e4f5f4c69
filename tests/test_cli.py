"""Every stage's command line: each flag has help text and shows its default, abbreviations are refused, outputs get
the mode a plain open() gives, and Ctrl-C says what it interrupted.

    python -m pytest -q tests/test_cli.py
"""

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from common import code_sha256
from conftest import REPO

import common

# The stages whose flags this file checks.
STAGES = ["01_generate_tests", "02_sample", "03_execute", "04_build_pairs", "05_train_kto", "06_eval"]


class _Parsed(Exception):
    def __init__(self, parser):
        self.parser = parser


def stage_parser(name, monkeypatch):
    """The ArgumentParser a stage's parse_args builds (caught before it parses anything)."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}", os.path.join(REPO, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def catch(self, *a, **k):
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    with pytest.raises(_Parsed) as e:
        mod.parse_args([])
    return e.value.parser


@pytest.mark.parametrize("name", STAGES)
def test_every_flag_has_help_and_shows_its_default(name, monkeypatch):
    parser = stage_parser(name, monkeypatch)
    assert parser.allow_abbrev is False, f"{name}: abbreviations such as --sample for --samples must be refused"
    no_help, no_default = [], []
    fmt = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        if action.help == argparse.SUPPRESS:   # an old name kept working (common.RENAMED): not in --help
            continue
        flag = action.option_strings[-1]
        if not (action.help or "").strip():
            no_help.append(flag)
            continue
        shown = fmt._expand_help(action)
        # a flag that takes a value and may be left out says what it is when left out; switches are off
        if action.nargs != 0 and not action.required and "default" not in shown.lower():
            no_default.append(flag)
    assert not no_help, f"{name}: flags without help: {no_help}"
    assert not no_default, f"{name}: flags whose --help shows no default: {no_default}"


def test_help_runs_and_shows_defaults():
    p = subprocess.run([sys.executable, os.path.join(REPO, "03_execute.py"), "--help"], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0 and "--workers" in p.stdout
    assert "(default: 2)" in p.stdout and "(default: 2048)" in p.stdout


def test_abbreviations_are_refused(tmp_path):
    # --sample is not --samples: argparse would take it silently; here it is an error naming the flag
    p = subprocess.run([sys.executable, os.path.join(REPO, "03_execute.py"), "--sample", "s.jsonl", "--tests",
                        "t.jsonl", "--output", "o.jsonl"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    # named even though the required --samples is missing (argparse reports that one first)
    assert p.returncode == 2 and "unrecognized arguments: --sample; did you mean --samples?" in p.stderr, p.stderr
    assert "required" not in p.stderr


def test_atomic_writes_get_the_mode_open_gives(tmp_path):
    old = os.umask(0o022)
    try:
        common.atomic_write_text(str(tmp_path / "a.json"), "{}\n")
        common.write_args(str(tmp_path / "out.jsonl"), {"x": 1})
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
        os.umask(0o002)   # a team umask: group-writable, as open() would make it
        common.atomic_write_json(str(tmp_path / "b.json"), {})
    finally:
        os.umask(old)
    mode = lambda p: os.stat(tmp_path / p).st_mode & 0o777
    assert mode("a.json") == mode("plain.txt") == mode("out.args.json") == 0o644
    assert mode("b.json") == 0o664
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]   # no temporary file left behind


def test_build_pairs_outputs_are_readable_by_the_team(tmp_path):
    # 04's outputs are all atomic writes (kto.jsonl, kto.stats.json, kto.args.json): each gets open()'s mode
    with open(tmp_path / "s.jsonl", "w") as s, open(tmp_path / "e.jsonl", "w") as e:
        for sid in range(4):
            s.write(json.dumps({"task_id": "t", "sample_id": sid, "prompt": "p", "completion": f"c{sid}",
                                "code": f"c{sid}", "finish_reason": "eos", "eos_token_id": 0}) + "\n")
            e.write(json.dumps({"task_id": "t", "sample_id": sid, "status": "passed" if sid % 2 else "failed",
                                "passed": bool(sid % 2), "tests_passed": sid % 2, "tests_total": 1,
                                "test_status": [], "error": None, "seconds": 0.0,
                                "code_sha256": code_sha256(f"c{sid}")}) + "\n")
    p = subprocess.run([sys.executable, os.path.join(REPO, "04_build_pairs.py"), "--executions", "e.jsonl",
                        "--samples", "s.jsonl", "--output", "kto.jsonl"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120, preexec_fn=lambda: os.umask(0o022))
    assert p.returncode == 0, p.stderr
    for name in ("kto.jsonl", "kto.stats.json", "kto.args.json"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o644, name


def test_ctrl_c_says_what_was_interrupted_and_that_a_rerun_resumes(tmp_path):
    tests = {"task_id": "t", "instruction": "i", "entry_point": "f", "setup": "", "tests": ["assert f() == 1"]}
    (tmp_path / "tests.jsonl").write_text(json.dumps(tests) + "\n")
    with open(tmp_path / "samples.jsonl", "w") as f:
        for sid in range(40):
            code = "import time\ntime.sleep(0.2)\ndef f():\n    return 1\n"
            f.write(json.dumps({"task_id": "t", "sample_id": sid, "code": code}) + "\n")
    cmd = [sys.executable, os.path.join(REPO, "03_execute.py"), "--samples", "samples.jsonl", "--tests",
           "tests.jsonl", "--output", "ex.jsonl", "--workers", "1"]
    # a terminal's SIGINT disposition, even where this suite runs as a background job (which ignores SIGINT)
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = tmp_path / "ex.jsonl"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120 and (not out.exists() or len(out.read_text().splitlines()) < 2):
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGINT)   # what a terminal's Ctrl-C sends: the whole foreground group
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "03_execute: interrupted (Ctrl-C)" in err and "ex.jsonl" in err and "Rerun the same command" in err
    assert "Traceback" not in err
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(l)["sample_id"] for l in out.read_text().splitlines()) == list(range(40))


# every stage's output flag, and the least else it needs to start (the inputs need not exist: the output is
# checked first, before any input is read or any model loaded)
OUTPUT_ARGV = {
    "01_generate_tests": (["--dataset", "jsonl", "--data_path", "i.jsonl", "--completions", "c.jsonl"], "--output"),
    "02_sample": (["--model", "m", "--input", "t.jsonl"], "--output"),
    "03_execute": (["--samples", "s.jsonl", "--tests", "t.jsonl"], "--output"),
    "04_build_pairs": (["--executions", "e.jsonl", "--samples", "s.jsonl"], "--output"),
    "05_train_kto": (["--model", "m", "--data", "d.jsonl"], "--output_dir"),
    "06_eval": (["--benchmark", "humaneval", "--samples", "s.jsonl"], "--output_dir"),
}


@pytest.mark.parametrize("name", STAGES)
def test_an_unwritable_output_is_refused_before_any_work(name, tmp_path):
    """An output under a regular file cannot be made, for root too (root writes through any permission bits): each
    stage says so in one line before it starts, instead of a traceback after the work (05: after loading models)."""
    argv, flag = OUTPUT_ARGV[name]
    (tmp_path / "file.txt").write_text("a file, not a folder\n")
    out = "file.txt/sub/out.jsonl" if flag == "--output" else "file.txt/sub"
    p = subprocess.run([sys.executable, os.path.join(REPO, f"{name}.py"), *argv, flag, out], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 1, p.stderr[-2000:]
    assert p.stderr.startswith(f"error: {flag} {out}: ") and "file.txt is a file, not a folder" in p.stderr, p.stderr
    assert f"pick another {flag}" in p.stderr and "Traceback" not in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]   # nothing written: no args.json, no output


def _as_nobody():
    os.setgid(65534)
    os.setuid(65534)


def test_a_read_only_folder_is_refused_for_a_user_without_write_permission(tmp_path):
    """The permission case a non-root user meets (root passes permission bits, so this runs only where the suite
    can switch to uid 65534 and that user can run this Python)."""
    if os.getuid() != 0:
        pytest.skip("needs root to switch to uid 65534")
    def runs(python):   # 04 imports the standard library only: any Python 3 that uid 65534 may run will do
        try:
            return subprocess.run([python, "-c", "import common"], cwd=REPO, preexec_fn=_as_nobody,
                                  capture_output=True).returncode == 0
        except OSError:
            return False
    python = next((p for p in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3") if runs(p)), None)
    if python is None:
        pytest.skip("uid 65534 can run no Python here, or cannot read the repository")
    import tempfile
    top = tempfile.mkdtemp(prefix="plum-ro-")
    try:
        os.chmod(top, 0o755)
        ro = os.path.join(top, "ro")
        os.mkdir(ro, 0o555)
        p = subprocess.run([python, os.path.join(REPO, "04_build_pairs.py"), "--executions", "e.jsonl",
                            "--samples", "s.jsonl", "--output", os.path.join(ro, "kto.jsonl")], cwd=top,
                           preexec_fn=_as_nobody, capture_output=True, text=True, timeout=120)
        assert p.returncode == 1 and f"cannot write in {ro} (no permission" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr and os.listdir(ro) == []
    finally:
        import shutil
        shutil.rmtree(top)


def test_a_run_that_fails_in_setup_leaves_no_args_json_behind(tmp_path):
    """02 on a tests.jsonl record without `tests`: refused, naming the file and line, and the args.json it had
    written is gone again (no output was created); an earlier run's args.json beside a kept output stays."""
    rec = {"task_id": "t", "instruction": "Add.", "entry_point": "add"}
    (tmp_path / "tests.jsonl").write_text(json.dumps({**rec, "tests": ["assert add(1) == 1"]}) + "\n"
                                          + json.dumps(rec) + "\n")
    cmd = [sys.executable, os.path.join(REPO, "02_sample.py"), "--model", "never/loaded", "--input", "tests.jsonl",
           "--output", "s.jsonl"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 1 and "tests.jsonl:2: record lacks key(s) ['tests']" in p.stderr, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["tests.jsonl"]
    # a resumed output and its args.json (another run's) are left as they were
    (tmp_path / "s.jsonl").write_text(json.dumps({"task_id": "t", "sample_id": 0}) + "\n")
    (tmp_path / "s.args.json").write_text('{"earlier": "run"}\n')
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 1 and "record lacks key(s) ['tests']" in p.stderr
    assert (tmp_path / "s.args.json").read_text() == '{"earlier": "run"}\n'
    assert (tmp_path / "s.jsonl").read_text() == json.dumps({"task_id": "t", "sample_id": 0}) + "\n"


@pytest.mark.parametrize("name", ["04_build_pairs", "05_train_kto"])
def test_help_imports_no_torch(name):
    """--help and a refused flag answer at once: torch (seconds to import) is imported where it is used."""
    code = (f"import importlib, sys; m = importlib.import_module({name!r}); "
            f"print('torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stdout + p.stderr[-2000:]
    p = subprocess.run([sys.executable, "-X", "importtime", os.path.join(REPO, f"{name}.py"), "--help"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0 and "usage:" in p.stdout
    assert not re.search(r"\|\s+torch$", p.stderr, re.M), "torch was imported by --help"
