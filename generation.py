"""Text generation behind one interface, shared by 01_generate_tests.py, 02_sample.py and 06_eval.py.

    from generation import load_backend
    be = load_backend("Qwen/Qwen2.5-Coder-1.5B-Instruct")            # or a local dir, e.g. a 05 checkpoint D/final
    prompt = be.build_prompt("Write a function add(a, b).")         # chat template when the tokenizer has one
    outs = be.generate([prompt], n=8, max_new_tokens=512, temperature=0.8, top_p=0.95, stop=(), seed=0)
    # outs[0] is a list of 8 strings: the text after the prompt, in prompt order

Two backends, the same contract:
- "hf" (default): Hugging Face transformers on CPU or GPU. Prompts are sorted by token length and batched with left
  padding and the KV cache, each prompt expanded to `n` rows with `num_return_sequences`; bf16 and SDPA attention on
  a GPU, float32 on CPU. `batch_size` bounds the rows (prompts x n) of one `generate` call.
- "vllm": imported only when chosen (it cannot be installed on a CPU machine); tensor parallel by flag.

The contract both keep, because 05 trains on exactly what 02 writes (on-policy to the token):
- a prompt is tokenized once, by `encode`: the tokenizer's special tokens (BOS) are added unless the text already
  starts with the BOS token (a chat template usually writes it), so BOS is never doubled;
- a completion is the text the model produced after the prompt, decoded from the generated tokens with the first
  end-of-sequence token and everything after it (padding) removed, cut before the first stop string (the stop
  string itself is not kept, as in vLLM and the OpenAI API). Nothing else is stripped or normalised;
- after each call, `last_finish[i][j]` says why completion j of prompt i ended: "eos" (the model's end-of-sequence
  token), "stop" (a stop string) or "length" (max_new_tokens ran out), and `last_eos[i][j]` which end-of-sequence
  token id ended an "eos" completion (None otherwise). 05 appends that token to a completion only when the model
  produced one, so a cut completion is never trained on as if the model had ended it, and a model with several
  end tokens (Llama-3-Instruct's <|eot_id|> and <|end_of_text|>) is taught the one it used;
- temperature 0 is greedy decoding; `seed` reseeds the sampler at the start of the call (`seed=None`: continue the
  current random stream). With the HF backend the samples depend on the seed and on how prompts are batched (rows
  share one random stream), not on anything else: the same prompts, n, flags and seed give the same completions on
  the same machine. Callers that must regenerate a batch exactly after a kill (02, 06) therefore seed every call
  with `derive_seed` of keys that do not change between runs (the seed flag, the shard, the chunk of tasks).
"""

import hashlib
import os

from common import InputError, encode_prompt


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


def _check_model_arg(model):
    """A path that does not exist is a typo, not a hub id: say so instead of a hub lookup error."""
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_like_path and not os.path.isdir(os.path.expanduser(model)):
        raise InputError(f"--model {model}: no such directory; pass a local model dir (e.g. a 05_train_kto.py "
                         f"checkpoint OUTPUT_DIR/final) or a Hugging Face hub id such as Qwen/Qwen2.5-Coder-1.5B")


class _Backend:
    name = "?"
    tokenizer = None
    last_finish = None  # per prompt, per sample: "eos", "stop" or "length" (the last generate call)
    last_eos = None     # per prompt, per sample: the token id that ended an "eos" completion, else None
    last_ids = None     # per prompt, per sample: the completion's token ids as generated (None: not known)
    max_context = None  # prompt + completion tokens the model accepts (None: unknown)

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
        self.last_new_tokens = 0
        self.max_context = _context_length(self.model.config, self.tokenizer)

    def generate(self, prompts, n=1, max_new_tokens=512, temperature=0.0, top_p=1.0, stop=(), seed=0):
        """n completions per prompt, in prompt order: list (per prompt) of lists (n strings) of text after the prompt."""
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
        self.last_finish = [None] * len(prompts)
        self.last_eos = [None] * len(prompts)
        self.last_ids = [None] * len(prompts)
        self.last_new_tokens = 0  # tokens generated by the last call, up to each row's EOS (for throughput)
        for start in range(0, len(order), per_batch):
            idx = order[start:start + per_batch]
            batch = self.tokenizer.pad({"input_ids": [ids_list[i] for i in idx]}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.inference_mode():
                seqs = self.model.generate(**batch, **kwargs)
            new = seqs[:, batch["input_ids"].shape[1]:].tolist()
            for j, i in enumerate(idx):
                texts, finish, ends, kept = [], [], [], []
                for row in new[j * rows:(j + 1) * rows]:
                    text, eos_id, row_ids = self._decode_completion(ids_list[i], row)
                    cut = cut_at_stop(text, stop)
                    texts.append(cut)
                    finish.append("stop" if len(cut) < len(text) else "eos" if eos_id is not None else "length")
                    ends.append(eos_id if finish[-1] == "eos" else None)
                    kept.append(row_ids if len(cut) == len(text) else self._ids_before(ids_list[i], row_ids, cut))
                out[i] = texts if sampling else texts * n
                self.last_finish[i] = finish if sampling else finish * n
                self.last_eos[i] = ends if sampling else ends * n
                self.last_ids[i] = kept if sampling else kept * n
        return out

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
        self.last_new_tokens += len(new_ids)
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
# vLLM (GPU only; not installed here, so this path is written to the vLLM docs and not exercised by the tests)


class VLLMBackend(_Backend):
    def __init__(self, model, dtype="auto", tensor_parallel_size=1, seed=0, gpu_memory_utilization=0.9):
        try:
            from vllm import LLM
        except ImportError:
            raise InputError("--backend vllm: vLLM is not installed (pip install vllm, on a machine with a GPU); "
                             "or use --backend hf") from None
        _check_model_arg(model)
        self.name = model
        self.llm = LLM(model=model, dtype=dtype, tensor_parallel_size=tensor_parallel_size, seed=seed,
                       gpu_memory_utilization=gpu_memory_utilization)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_context = self.llm.llm_engine.model_config.max_model_len

    def generate(self, prompts, n=1, max_new_tokens=512, temperature=0.0, top_p=1.0, stop=(), seed=0):
        from vllm import SamplingParams

        if not prompts:
            return []
        ids_list = [self.encode(p) for p in prompts]
        self._check_fit(ids_list, max_new_tokens)
        params = SamplingParams(n=n, temperature=temperature, top_p=top_p if temperature > 0 else 1.0,
                                max_tokens=max_new_tokens, stop=[s for s in (stop or ()) if s] or None, seed=seed,
                                skip_special_tokens=False)
        # token ids, not text: the same tokenization as the HF backend (vLLM would add BOS to templated text again)
        results = self.llm.generate([{"prompt_token_ids": ids} for ids in ids_list], params)
        # finish_reason "stop" covers EOS and stop strings; stop_reason is the matched stop string, the token id of
        # a secondary EOS from generation_config (vLLM adds those as stop_token_ids), or None for the tokenizer's EOS
        self.last_finish = [["length" if o.finish_reason == "length" else "stop" if isinstance(o.stop_reason, str)
                             else "eos" for o in r.outputs] for r in results]
        self.last_eos = [[(o.stop_reason if isinstance(o.stop_reason, int) else self.tokenizer.eos_token_id)
                          if f == "eos" else None for o, f in zip(r.outputs, fin)]
                         for r, fin in zip(results, self.last_finish)]
        return [[o.text for o in r.outputs] for r in results]  # vLLM returns requests in input order


# ----------------------------------------------------------------------------------------------------------------


def load_backend(model, backend="hf", dtype="auto", device=None, tensor_parallel_size=1, **kwargs):
    """A generation backend for `model` (hub id or local dir). backend: "hf" or "vllm"."""
    if backend == "hf":
        if tensor_parallel_size != 1:
            raise InputError("--tensor_parallel_size needs --backend vllm; the hf backend runs on one device")
        return HFBackend(model, dtype=dtype, device=device, **kwargs)
    if backend == "vllm":
        return VLLMBackend(model, dtype=dtype, tensor_parallel_size=tensor_parallel_size, **kwargs)
    raise InputError(f"--backend {backend}: unknown; choose hf or vllm")


def add_backend_args(parser, max_new_tokens=512, model_required=True):
    """The flags every stage that generates shares (01, 02, 06); model_required=False where --model is optional."""
    g = parser.add_argument_group("model")
    g.add_argument("--model", required=model_required, default=None,
                   help="hub id or local dir (a 05_train_kto.py checkpoint D/final works)")
    g.add_argument("--backend", default="hf", choices=["hf", "vllm"], help="generation engine (vllm: GPU only)")
    g.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, float32 on CPU), bfloat16, float16, float32")
    g.add_argument("--tensor_parallel_size", type=int, default=1, help="GPUs per model (vllm only)")
    g.add_argument("--batch_size", type=int, default=256,
                   help="hf: most sequences (prompts x samples) per generate call; lower it on out-of-memory")
    g.add_argument("--max_new_tokens", type=int, default=max_new_tokens, help="most tokens generated per sample")
    g.add_argument("--chat", default="auto", choices=["auto", "yes", "no"],
                   help="wrap prompts in the tokenizer's chat template: auto = when it has one")
    return g


def backend_from_args(args):
    """load_backend with the flags of add_backend_args."""
    extra = {"batch_size": args.batch_size} if args.backend == "hf" else {}
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
        return be.build_prompt(text if system is None else f"{system}\n\n{text}", chat=request.chat)
    try:
        return be.tokenizer.apply_chat_template([{"role": "system", "content": system},
                                                 {"role": "user", "content": text}],
                                                tokenize=False, add_generation_prompt=True)
    except Exception:   # "System role not supported"
        return be.build_prompt(f"{system}\n\n{text}", chat=True)
