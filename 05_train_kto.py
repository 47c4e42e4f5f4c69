"""Stage 5: train the policy on 04's examples with KTO (default), DPO, SFT or GRPO, against a frozen reference.

    python 05_train_kto.py --model runs/r0/policy --data runs/r0/kto.jsonl --output_dir runs/r1/ckpt
    python 05_train_kto.py --model Qwen/Qwen2.5-Coder-1.5B-Instruct --data runs/r0/kto.jsonl \\
        --output_dir runs/r1/ckpt --lora --bf16 --gradient_checkpointing --batch_size 8 --grad_accum 4
    python 05_train_kto.py --loss dpo --dpo_type sigmoid --data runs/r0/dpo.jsonl --model M --output_dir D
    python 05_train_kto.py --loss sft --data train.jsonl --model M --output_dir D --lr 1e-3   # toy models
    python 05_train_kto.py --loss grpo --data runs/r1/grpo.jsonl --model M --output_dir D   # RL from the same tests
    torchrun --nproc_per_node 8 05_train_kto.py --model M --data 'kto.shard-*.jsonl' --output_dir D [--fsdp]
    python 05_train_kto.py ... --output_dir D --resume     # continue from D's last checkpoint
    sbatch slurm/05_train_kto.sbatch

Where to look: the losses are kto_step, dpo_step, sft_step and grpo_step (one micro-batch each: the loss and its metric
sums), listed in LOSSES; a new loss is one such function, its metrics line and one row there. main() reads top to
bottom: processes, data, reference log-probs, policy, optimizer, resume, the loop, the final model.

How it trains:
- the reference's log-probs are computed once, before training (under torchrun each process scores its share),
  and cached beside the data (DATA.ref-<key>.pt; the key covers the data, the reference model, --max_length and
  the pairing), so only the policy is in memory while training; with --lora the reference is the base model
  (the adapters disabled);
- KTO's λ_D, λ_U come from the examples loaded (after any dropped as too long), by 04's rule (common.kto_weights),
  so a glob over 04's shards trains with the weights of the whole set; --desirable_weight/--undesirable_weight
  override them;
- KTO's reference point z0 comes from mismatched pairs: every example i also carries the completion of example
  σ(i), a fixed seeded derangement of the data set (one cycle, so σ(i) != i whenever there are two examples or
  more), scored by the policy in a no-grad forward beside the batch's (z0 is detached, so a backward pass through
  those rows would be wasted work; --kl_pass same scores them in the batch's own forward for the same numbers);
  z0 = max(0, mean of those pairs' log-ratios) over the micro-batch on every rank. A one-class batch and a batch
  of one are ordinary batches; with a one-example data set σ(0) = 0 and z0 is that example's own clamped
  log-ratio;
- GRPO (04 --format grpo: each sample with its group advantage) needs, besides the reference's, the log-probs
  of the policy that sampled the completions (its ratio's π_old): --sampling_model, by default --model (the
  policy 05 starts from, which is the sampler in run_plum.sh's on-policy rounds), scored once before training and
  cached like the reference's (no second pass when it is the reference);
- a step's loss is the sum over its global batch divided by the global batch's size (tokens for SFT), whatever
  the split into ranks and accumulation micro-batches, so torchrun on W processes equals one process with the
  same global batch (KTO's z0, a mean over each micro-batch, is the one number --grad_accum changes); data order
  is a seeded permutation per epoch, a function of (--seed, step) alone;
- a micro-batch's rows are packed into one sequence with no padding (positions restart at 0 on each row and
  attention stays within a row, packed_attention), so padding costs nothing; --no_packing pads them instead, and
  models whose attention is not plain causal (sliding windows shorter than --max_length, soft-capping) are padded;
- prompt + completion longer than --max_length: the prompt is cut from the left (its end, next to the
  completion, is kept); a completion that does not fit with one prompt token is dropped and counted, never
  trained on cut short. An end token is appended to a completion the model ended itself (02 strips it and
  records finish_reason "eos" and which token, eos_token_id; records without finish_reason count as ended and get
  the tokenizer's EOS), never to one cut at a stop string or at --max_new_tokens, so the policy is not taught to
  stop where it did not, nor with another end token than its own; --no_eos appends none. A completion is the
  token ids 02 generated (completion_ids, chosen_ids, rejected_ids) where the record has them, else its text
  tokenized; a prompt is common.encode_prompt of its text, the ids 02 prompted with.

Processes and precision: under torchrun each process takes every W-th example of each micro-batch and DDP
all-reduces the gradients; --fsdp shards weights, gradients and AdamW's state instead (FSDP2, fully_shard, each
decoder layer a unit; NCCL on GPUs, gloo on CPUs) for the same numbers. Its checkpoints gather the full weights and
optimizer state on rank 0 and are the same Hugging Face folders, loadable by one process; one resumes under --fsdp
(a run's --fsdp is a training setting). --fsdp needs 2 processes or more and does not take --lora. --bf16 is
bfloat16 autocast: the matmuls run in bfloat16, the weights, gradients, AdamW's state and the checkpoints stay
float32 (under --fsdp too: weights are gathered in float32). --dtype bfloat16 makes the weights themselves, AdamW's
state and the checkpoints bfloat16. The reference's log-probs are computed with the same --dtype and --bf16, so the
policy equals the reference before its first step.

Stopping and resuming: a checkpoint is written every --save_every steps, at the end of every epoch, after the last
step, and when SIGTERM (what Slurm sends before it kills a job) or SIGINT (Ctrl-C) arrives: the running step
finishes, the checkpoint is written and 05 exits with 128 + the signal's number; a second signal stops at once.
--resume continues from the newest checkpoint and refuses one written with other training settings (loss, β, λ,
lr, schedule, batch, seed, ...: it names each difference). Every start, resumed or not, drops the rows of
metrics.jsonl past the step it starts from, so a run killed anywhere and rerun leaves the records of an
uninterrupted run.

Writes, in --output_dir D:
  D/checkpoint-NNNNNN/  a Hugging Face model (LoRA merged) + tokenizer, and training_state.pt (optimizer,
                        scheduler, RNG, step, adapter weights, the run's settings); written under a temporary name
                        and renamed; the newest --save_total_limit are kept
  D/final/              the same model + tokenizer at the end (what 02, 06 and load_backend load)
  D/metrics.jsonl       one line per optimizer step: step, epoch, loss, lr, grad_norm, examples, tokens,
                        tokens_per_s, seconds (wall time since the previous step's, checkpoints included),
                        memory_mb, and per loss: kto: rewards_desirable, rewards_undesirable, margin, z0,
                        n_desirable, n_undesirable; dpo: rewards_chosen, rewards_rejected, margin, accuracy;
                        sft: nll; grpo: rewards_desirable, rewards_undesirable (β · per-token mean log-ratio
                        to the reference of the samples with advantage > 0, < 0), margin, kl (k3), clip_ratio
  D/metrics.png         the curves of metrics.jsonl, one panel each, epochs shaded; the panel to read first
                        and framed (kto, dpo, grpo: margin; sft: loss), each step thin with a running mean
  D/train.args.json     the resolved arguments (λ_D, λ_U among them), data counts (dropped, prompts cut,
                        completions the model did not end: not_ended)
"""

import contextlib
import copy
import functools
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections import namedtuple
from datetime import timedelta
from types import SimpleNamespace

# torch, transformers and kto_loss (which imports torch) are imported where they are used, so that --help and a
# refused flag answer at once instead of after seconds of imports
from common import (SEED, InputError, JsonlWriter, check_writable, die, encode_prompt, expand_inputs, give_open_mode,
                    kto_weights, non_negative, number, positive, progress, read_jsonl, run_stage, stage_parser, stem,
                    write_args)


def parse_args(argv=None):
    p = stage_parser(__doc__.split("\n\n")[0])
    # model
    p.add_argument("--model", required=True, help="policy to train: a Hugging Face id or a local dir")
    p.add_argument("--ref_model", default=None, help="frozen reference (default: --model)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="weights' dtype; for mixed precision keep float32 and pass --bf16")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (merged into D/final)")
    p.add_argument("--lora_r", type=positive(int), default=16, help="LoRA rank")
    p.add_argument("--lora_alpha", type=positive(int), default=32,
                   help="LoRA scaling numerator (the update is scaled by alpha / r)")
    p.add_argument("--lora_dropout", type=number(float, 0, 1, high_open=True), default=0.0,
                   help="dropout on the LoRA branch's input")
    p.add_argument("--lora_target_modules", default="all-linear", help="comma-separated module names, or all-linear")
    # data and loss
    p.add_argument("--data", required=True,
                   help="kto.jsonl / dpo.jsonl from 04 (a quoted glob merges shards), or prompt+completion for sft")
    p.add_argument("--loss", choices=list(LOSSES), default="kto",
                   help="kto: unpaired examples (label); dpo: pairs (chosen, rejected); sft: the desirable "
                        "completions' token-mean negative log-likelihood; grpo: every sample with its group "
                        "advantage (04 --format grpo), policy gradient with a clipped ratio and a k3 KL penalty")
    p.add_argument("--beta", type=positive(float), default=0.1,
                   help="KTO/DPO β: how far the policy may move from the reference")
    # a class weight may be 0: that class then adds nothing to the loss (an ablation)
    p.add_argument("--desirable_weight", type=non_negative(float), default=None,
                   help="KTO λ_D (default: from the examples loaded, 04's rule: λ_D·n_D : λ_U·n_U in [1, 4/3])")
    p.add_argument("--undesirable_weight", type=non_negative(float), default=None,
                   help="KTO λ_U (default: from the examples loaded, as λ_D)")
    p.add_argument("--dpo_type", choices=["sigmoid", "ipo", "hinge"], default="sigmoid",
                   help="DPO loss: sigmoid (DPO; with --label_smoothing, conservative DPO), ipo (on per-token mean "
                        "log-probs), hinge (SLiC)")
    p.add_argument("--label_smoothing", type=number(float, 0, 0.5, high_open=True), default=0.0,
                   help="conservative DPO ε, the assumed share of flipped preferences (sigmoid only)")
    # GRPO's flags default to None, resolved below for --loss grpo only: the other losses' checkpoints (whose
    # settings --resume compares) do not record them
    p.add_argument("--clip_epsilon", type=positive(float), default=None,
                   help="grpo: PPO's clip range ε for the ratio to the sampling policy (default 0.2; GSPO, whose "
                        "per-token mean ratio this is, used 3e-4)")
    p.add_argument("--length_norm", choices=["sequence", "constant"], default=None,
                   help="grpo: each sequence's token mean (sequence, GRPO's; the default), or a sum over tokens "
                        "divided by --max_length for every sequence (constant, Dr. GRPO's)")
    p.add_argument("--sampling_model", default=None,
                   help="grpo: the policy that sampled the completions (02's --model), whose log-probs the ratio "
                        "is taken against (default: --model, the policy training starts from)")
    p.add_argument("--max_length", type=number(int, 2), default=1024,   # at least a prompt and a completion token
                   help="prompt + completion tokens; longer prompts are cut from the left, longer completions dropped")
    p.add_argument("--kl_pass", choices=["separate", "same"], default="separate",
                   help="kto: score the KL rows in a no-grad forward of their own (separate: z0 is detached, so "
                        "nothing flows back through them) or in the batch's forward pass (same: the same numbers, "
                        "with a backward pass through the KL rows that is wasted work)")
    p.add_argument("--no_eos", action="store_true", help="do not append an end token to completions")
    # optimisation
    p.add_argument("--epochs", type=positive(float), default=1.0, help="passes over the data (fractions allowed)")
    p.add_argument("--max_steps", type=positive(int), default=None, help="optimizer steps (overrides --epochs)")
    p.add_argument("--batch_size", type=positive(int), default=8, help="examples per device per micro-batch")
    p.add_argument("--grad_accum", type=positive(int), default=1, help="micro-batches per optimizer step")
    p.add_argument("--lr", type=positive(float), default=None,
                   help="peak learning rate (default: " + ", ".join(f"{k} {v.lr:g}" for k, v in LOSSES.items()) + ")")
    p.add_argument("--scheduler", choices=["cosine", "linear", "constant"], default="cosine",
                   help="learning-rate decay after the warm-up")
    p.add_argument("--warmup_ratio", type=number(float, 0, 1), default=0.1,
                   help="share of the steps spent warming up linearly")
    p.add_argument("--weight_decay", type=non_negative(float), default=0.0, help="AdamW's decoupled weight decay")
    p.add_argument("--adam_betas", type=number(float, 0, 1, high_open=True), nargs=2, default=[0.9, 0.999],
                   metavar=("B1", "B2"), help="AdamW's β1 β2")
    p.add_argument("--max_grad_norm", type=non_negative(float), default=1.0,
                   help="clip the global gradient norm (0: off)")
    p.add_argument("--seed", type=SEED, default=0, help="data order, KL pairing, dropout, LoRA init")
    p.add_argument("--no_shuffle", action="store_true", help="read the data in file order")
    # precision, memory, parallelism
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (float32 weights, optimizer and checkpoints)")
    p.add_argument("--gradient_checkpointing", action="store_true",
                   help="recompute each layer's activations in the backward pass: less memory, about 1/3 more time")
    p.add_argument("--fsdp", action="store_true", help="shard weights, gradients and optimizer state across torchrun's processes "
                                                      "(FSDP2; GPUs or CPUs)")
    p.add_argument("--ref_batch_size", type=positive(int), default=None,
                   help="rows per reference forward (default: twice --batch_size)")
    p.add_argument("--no_packing", action="store_true",
                   help="right-pad each micro-batch instead of packing its rows into one sequence (packing keeps "
                        "rows apart in attention and is used wherever the model allows; see packing_blocker)")
    # output
    p.add_argument("--output_dir", required=True,
                   help="where checkpoints, final/, metrics.jsonl, metrics.png and train.args.json go")
    p.add_argument("--save_every", type=non_negative(int), default=500,  # 0: no checkpoint between
                   help="checkpoint every N optimizer steps (0: none between); epoch ends, the last step and "
                        "SIGTERM/SIGINT always get one")
    p.add_argument("--save_total_limit", type=positive(int), default=2,   # 0 would delete the one --resume needs
                   help="checkpoints kept (final not counted)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last checkpoint in --output_dir (refused if the training settings differ)")
    p.add_argument("--overwrite", action="store_true", help="delete --output_dir's checkpoints and start afresh")
    p.add_argument("--no_plot", action="store_true", help="skip metrics.png")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = LOSSES[args.loss].lr
    if args.loss == "grpo":
        args.clip_epsilon = args.clip_epsilon or 0.2
        args.length_norm = args.length_norm or "sequence"
        args.sampling_model = args.sampling_model or args.model
    return args


# ----------------------------------------------------------------------------------------------------------------
# data


def load_records(args):
    records = []
    for i, rec in enumerate(read_jsonl(args.data, required=LOSSES[args.loss].fields)):
        if args.loss != "dpo" and "label" in rec and not isinstance(rec["label"], bool):
            raise InputError(f"{args.data}: record {i + 1} (task_id {rec.get('task_id')!r}) has label "
                             f"{rec['label']!r}; label must be true or false (04_build_pairs.py writes it)")
        if args.loss == "sft" and rec.get("label") is False:
            continue  # SFT learns from the desirable completions only
        if args.loss == "grpo" and not (type(rec["advantage"]) in (int, float) and math.isfinite(rec["advantage"])):
            raise InputError(f"{args.data}: record {i + 1} (task_id {rec.get('task_id')!r}) has advantage "
                             f"{rec['advantage']!r}; it must be a finite number (04_build_pairs.py --format grpo "
                             f"writes it)")
        records.append(rec)
    return records


def encode_completion(tok, text, eos, ids=None, ids_key="completion_ids"):
    """Token ids of a completion, then `eos` (a token id) when it is not None. `ids`: the ids the model generated
    (02's completion_ids), used as they are: re-tokenizing the text need not give back the sampled tokens."""
    if ids is None:
        ids = tok(text, add_special_tokens=False)["input_ids"]
    elif not isinstance(ids, list) or not all(type(t) is int and 0 <= t < len(tok) for t in ids):
        raise InputError(f"{ids_key} holds something other than token ids of this tokenizer ({len(tok)} tokens); "
                         f"were the samples written by another model?")
    return ids + [eos] if eos is not None else ids


def end_token(tok, eos, eos_key):
    """The end token to append after a completion the model ended: the one it produced (02's eos_token_id, `eos`),
    or the tokenizer's EOS where the record does not say."""
    if eos is None:
        return tok.eos_token_id
    if type(eos) is not int or not 0 <= eos < len(tok):
        raise InputError(f"{eos_key} {eos!r} is not a token id of this tokenizer ({len(tok)} tokens); were the "
                         f"samples written by another model?")
    return eos


def tokenize(records, tok, args, counts):
    """Records -> examples {prompt, completions: [ids, ...], label, advantage}; too-long completions dropped and
    counted."""
    keys = LOSSES[args.loss].completions  # kto, sft: the completion; dpo: chosen, rejected
    finish_keys = [k + "_finish_reason" if args.loss == "dpo" else "finish_reason" for k in keys]
    eos_keys = [k + "_eos_token_id" if args.loss == "dpo" else "eos_token_id" for k in keys]
    examples = []
    for rec in records:
        # an empty prompt still needs one token before the completion: the first completion token is predicted
        prompt = encode_prompt(tok, rec["prompt"]) or [tok.bos_token_id if tok.bos_token_id is not None
                                                      else tok.eos_token_id]
        # 02's finish_reason: "eos", "stop", "length"; records written elsewhere, without it, count as ended
        ended = [rec.get(f) in (None, "eos") for f in finish_keys]
        counts["not_ended"] += ended.count(False)
        comps = [encode_completion(tok, rec[k], end_token(tok, rec.get(e), e) if x and not args.no_eos else None,
                                   rec.get(k + "_ids"), k + "_ids")
                 for k, x, e in zip(keys, ended, eos_keys)]
        room = args.max_length - max(len(c) for c in comps)
        if room < 1 or not all(comps):
            counts["dropped_too_long" if room < 1 else "dropped_empty"] += 1
            continue
        if len(prompt) > room:
            counts["prompt_truncated"] += 1
            prompt = prompt[-room:]
        examples.append({"prompt": prompt, "completions": comps, "label": bool(rec.get("label", True)),
                         "advantage": float(rec.get("advantage", 0.0))})
    return examples


def load_examples(args):
    """--data -> (tokenizer, examples, counts): the records the loss reads, tokenized, the too-long ones dropped and
    counted; InputError when nothing is left to train on."""
    from transformers import AutoTokenizer
    counts = {"records": 0, "dropped_too_long": 0, "dropped_empty": 0, "prompt_truncated": 0, "not_ended": 0}
    records = load_records(args)
    counts["records"] = len(records)
    tok = AutoTokenizer.from_pretrained(args.model)
    examples = tokenize(records, tok, args, counts)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not examples:
        raise InputError(
            f"{args.data}: no {args.loss} example to train on ({counts['records']} records read, "
            f"{counts['dropped_too_long']} longer than --max_length {args.max_length}); "
            + ("DPO needs pairs (04_build_pairs.py --format dpo); a one-class set can train with --loss kto"
               if args.loss == "dpo" else "check the file and --max_length"))
    return tok, examples, counts


def loss_weights(args, examples):
    """KTO's λ_D, λ_U for the examples being trained on: the flags where given, else kto_weights of their counts.

    Computed here, from what was loaded (a glob over 04's shards, less what --max_length dropped), not read from a
    stats file of 04's: each shard's stats describe that shard alone. Other losses weigh every example the same.
    """
    if args.loss != "kto":
        return 1.0, 1.0
    n_d = sum(e["label"] for e in examples)
    w_d, w_u = kto_weights(n_d, len(examples) - n_d)
    return (args.desirable_weight if args.desirable_weight is not None else w_d,
            args.undesirable_weight if args.undesirable_weight is not None else w_u)


def kl_partners(n, seed):
    """σ: a seeded single-cycle derangement of range(n) (σ(i) != i for n >= 2; σ(0) = 0 for n == 1)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    sigma = [0] * n
    for k in range(n):
        sigma[order[k]] = order[k - 1]
    return sigma


def fit_prompt(prompt, completion, max_length):
    # a KL row pairs a prompt with another example's completion: cut the prompt from the left to fit
    return prompt[-(max_length - len(completion)):] if len(prompt) + len(completion) > max_length else prompt


def rows_of(loss, examples, idx, sigma, max_length):
    """(prompt ids, completion ids) rows of one micro-batch: each completion of the examples idx in turn
    (kto, sft: the completion; dpo: all chosen, then all rejected), then for KTO the mismatched (KL) rows."""
    rows = [(examples[i]["prompt"], examples[i]["completions"][c])
            for c in range(len(LOSSES[loss].completions)) for i in idx]
    if LOSSES[loss].kl_rows:
        rows += [(fit_prompt(examples[i]["prompt"], examples[sigma[i]]["completions"][0], max_length),
                  examples[sigma[i]]["completions"][0]) for i in idx]
    return rows


def collate(rows, device, packed=True, pad_id=0):
    """Model inputs for rows [(prompt ids, completion ids), ...], and where each completion token is predicted.

    packed=True:  input_ids [1, S], the R rows back to back (S = their total length, no padding);
                  position_ids [1, S] restarting at 0 on each row; cu_seqlens [R+1] int32, the row boundaries
                  (FlashAttention's varlen convention), which packed_attention reads to keep rows apart.
    packed=False: input_ids [R, T], right-padded with pad_id to the longest row.
    Both:         score_at [N], indices into the flattened input positions whose next token is a completion
                  token; targets [N], those tokens; row [N], the row of each; ntok [R], completion tokens per row.

    Example: rows [([5, 6], [7, 8]), ([9], [3])], packed -> input_ids [[5, 6, 7, 8, 9, 3]], position_ids
    [[0, 1, 2, 3, 0, 1]], cu_seqlens [0, 4, 6], score_at [1, 2, 4], targets [7, 8, 3], row [0, 0, 1], ntok [2, 1].
    """
    import torch
    plen = torch.tensor([len(p) for p, _ in rows])
    clen = torch.tensor([len(c) for _, c in rows])
    lens = plen + clen
    flat = torch.tensor(list(itertools.chain.from_iterable(itertools.chain(p, c) for p, c in rows)))
    R, T = len(rows), int(lens.max())
    starts = torch.cumsum(lens, 0) - lens  # where each row begins in flat
    if packed:
        ids, row_base = flat[None], starts
    else:
        ids = torch.full((R, T), pad_id, dtype=torch.long)
        ids[torch.arange(T) < lens[:, None]] = flat
        row_base = torch.arange(R) * T
    row = torch.repeat_interleave(torch.arange(R), clen)
    # the k-th completion token of row r sits at base + plen + k and is predicted one position earlier
    k = torch.arange(int(clen.sum())) - torch.repeat_interleave(torch.cumsum(clen, 0) - clen, clen)
    score_at = row_base[row] + plen[row] - 1 + k
    batch = {"input_ids": ids, "score_at": score_at, "targets": ids.flatten()[score_at + 1], "row": row,
             "ntok": clen}
    if packed:
        batch["position_ids"] = (torch.arange(int(lens.sum())) - torch.repeat_interleave(starts, lens))[None]
        batch["cu_seqlens"] = torch.cat([torch.zeros(1, dtype=torch.int32), torch.cumsum(lens, 0, dtype=torch.int32)])
        batch["max_len"] = T
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


# ----------------------------------------------------------------------------------------------------------------
# the losses: one micro-batch each, and the metrics of a step
#
# A step function gets the policy's log-probs of the micro-batch's rows (in rows_of's order) and `mb`:
#   mb.ref     [b, R]  the reference's log-probs of the same rows, one column per kind of row (None for SFT); for
#                      GRPO a second column, the sampling policy's
#   mb.labels  [b]     bool, desirable (KTO)
#   mb.advantages [b]  float, 04's group advantage (GRPO)
#   mb.ntok    [b]     completion tokens of each example (its first completion, end token included)
#   mb.denom   the global batch's normaliser (examples; completion tokens for SFT), the same on every rank
#   mb.weight  1, or 0 for a rank that only joins the collectives (a last batch with fewer examples than ranks)
#   mb.all_sum sums a list of floats across ranks (every rank calls it the same number of times)
# and returns (loss: this micro-batch's share of the step's loss, {metric: sum over the micro-batch}). The loop
# adds the sums over micro-batches and ranks; the loss's metrics function turns them (and the step's record so far:
# loss, examples, ...) into the values logged beside the loss.


def kto_step(logps, mb, args):
    """KTO (kto_loss.kto_loss). logps [2b]: the b examples' own completions, then their KL rows (example i's prompt
    with example σ(i)'s completion); mb.ref [b, 2] the reference's for the same rows.

        z0 = max(0, mean over the micro-batch on every rank of log πθ(y'|x) − log πref(y'|x))
        loss = Σ_i L_KTO(x_i, y_i; z0, λ) / denom
    """
    import torch
    from kto_loss import kl_estimate, kto_loss
    b = len(mb.labels)
    policy, policy_kl = logps[:b], logps[b:]
    est = kl_estimate(policy_kl, mb.ref[:, 1])
    z_sum, z_n = mb.all_sum([est.item() * b * mb.weight, b * mb.weight])  # z0 is the mean over every rank's pairs
    z0 = torch.tensor(z_sum / max(z_n, 1e-12), device=logps.device)
    res = kto_loss(policy, mb.ref[:, 0], mb.labels, z0, args.beta, args.desirable_weight, args.undesirable_weight)
    lab = mb.labels
    return res.losses.sum() / mb.denom, {
        "loss": float(res.losses.detach().sum()), "z0": float(res.z0), "micro": 1.0,
        "r_d": float(res.rewards[lab].sum()), "r_u": float(res.rewards[~lab].sum()),
        "n_d": float(lab.sum()), "n_u": float((~lab).sum())}


def kto_metrics(s, rec):
    rd = s["r_d"] / s["n_d"] if s["n_d"] else None  # a one-class batch has no reward (and no margin) for the other
    ru = s["r_u"] / s["n_u"] if s["n_u"] else None
    return {"rewards_desirable": rd, "rewards_undesirable": ru, "margin": rd - ru if None not in (rd, ru) else None,
            "z0": s["z0"] / s["micro"], "n_desirable": int(s["n_d"]), "n_undesirable": int(s["n_u"])}


def dpo_step(logps, mb, args):
    """DPO and its variants (kto_loss.dpo_loss). logps [2b]: the chosen completions, then the rejected ones (per-token
    means for IPO); mb.ref [b, 2] the reference's. loss = Σ_i L_DPO(x_i, y_w, y_l) / denom."""
    from kto_loss import dpo_loss
    b = len(mb.ref)
    res = dpo_loss(logps[:b], logps[b:], mb.ref[:, 0], mb.ref[:, 1], args.beta, args.dpo_type, args.label_smoothing)
    return res.losses.sum() / mb.denom, {
        "loss": float(res.losses.detach().sum()), "r_c": float(res.chosen_rewards.sum()),
        "r_r": float(res.rejected_rewards.sum()), "acc": float((res.chosen_rewards > res.rejected_rewards).sum())}


def dpo_metrics(s, rec):
    n = rec["examples"]
    return {"rewards_chosen": s["r_c"] / n, "rewards_rejected": s["r_r"] / n, "margin": (s["r_c"] - s["r_r"]) / n,
            "accuracy": s["acc"] / n}


def sft_step(logps, mb, args):
    """Supervised fine-tuning (kto_loss.sft_loss). logps [b]: summed completion log-probs.
    loss = −Σ_i log πθ(y_i|x_i) / (completion tokens in the global batch)."""
    from kto_loss import sft_loss
    return sft_loss(logps, mb.denom), {"loss": -float(logps.detach().sum())}


def sft_metrics(s, rec):
    return {"nll": rec["loss"]}  # the loss is the token-mean NLL


def grpo_step(logps, mb, args):
    """GRPO (kto_loss.grpo_loss). logps [b]: per-token mean log πθ of the completions; mb.ref [b, 2]: the
    reference's and the sampling policy's, the same means; mb.advantages [b]: 04's group advantages.
    loss = Σ_i L_GRPO(x_i, y_i; A_i) / denom (Dr. GRPO's |y_i| / --max_length inside L with --length_norm constant)."""
    from kto_loss import grpo_loss
    const = args.length_norm == "constant"
    adv = mb.advantages
    res = grpo_loss(logps, mb.ref[:, 1], mb.ref[:, 0], adv, args.beta, args.clip_epsilon,
                    num_tokens=mb.ntok if const else None, max_tokens=args.max_length if const else None)
    rewards = args.beta * (logps.detach() - mb.ref[:, 0])   # as KTO's and DPO's, but per token
    pos, neg = adv > 0, adv < 0
    return res.losses.sum() / mb.denom, {
        "loss": float(res.losses.detach().sum()), "kl": float(res.kl.sum()), "clipped": float(res.clipped.sum()),
        "r_d": float(rewards[pos].sum()), "r_u": float(rewards[neg].sum()), "n_d": float(pos.sum()),
        "n_u": float(neg.sum())}


def grpo_metrics(s, rec):
    n = rec["examples"]
    rd = s["r_d"] / s["n_d"] if s["n_d"] else None   # a batch may hold samples of one sign only
    ru = s["r_u"] / s["n_u"] if s["n_u"] else None
    return {"rewards_desirable": rd, "rewards_undesirable": ru, "margin": rd - ru if None not in (rd, ru) else None,
            "kl": s["kl"] / n, "clip_ratio": s["clipped"] / n}


# fields:      record keys the loss reads (04's kto.jsonl / dpo.jsonl; DESIGN.md, Records)
# completions: the completion keys an example is scored on, one row each, in this order
# kl_rows:     KTO's mismatched rows (example i's prompt, example σ(i)'s completion) follow; no gradient needed
# reference:   the frozen reference's log-probs of every row are needed (computed once, cached)
# per_token:   the step's loss is normalised by completion tokens (else by examples)
# average:     the log-probs are per-token means (IPO) instead of sums, given the parsed flags
# lr:          the default peak learning rate
# sampling:    the log-probs of the policy that sampled the rows are needed too (GRPO's ratio; computed once, cached)
Loss = namedtuple("Loss", "fields completions kl_rows reference per_token average step metrics lr sampling",
                  defaults=(False,))
LOSSES = {
    "kto": Loss(fields=("prompt", "completion", "label"), completions=("completion",), kl_rows=True, reference=True,
                per_token=False, average=lambda args: False, step=kto_step, metrics=kto_metrics, lr=5e-7),
    "dpo": Loss(fields=("prompt", "chosen", "rejected"), completions=("chosen", "rejected"), kl_rows=False,
                reference=True, per_token=False, average=lambda args: args.dpo_type == "ipo", step=dpo_step,
                metrics=dpo_metrics, lr=5e-7),
    "sft": Loss(fields=("prompt", "completion"), completions=("completion",), kl_rows=False, reference=False,
                per_token=True, average=lambda args: False, step=sft_step, metrics=sft_metrics, lr=1e-5),
    "grpo": Loss(fields=("prompt", "completion", "advantage"), completions=("completion",), kl_rows=False,
                 reference=True, per_token=False, average=lambda args: True, step=grpo_step, metrics=grpo_metrics,
                 lr=1e-6, sampling=True),
}
# 04_build_pairs.py's --format that writes each loss's data, one entry per LOSSES row; the drivers read it
# (plum_round.py). Not a field of the rows: the toy world's cache key hashes the sft row and Loss (toyworld.py).
PAIRS_FORMAT = {"kto": "kto", "dpo": "dpo", "sft": "sft", "grpo": "grpo"}


# ----------------------------------------------------------------------------------------------------------------
# model


def packed_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, cu_seq_lens_q=None,
                     **kwargs):
    """Causal attention that keeps packed rows apart: query [1, H, S, D], key/value [1, H_kv, S, D] -> [1, S, H, D].

    Registered with transformers' AttentionInterface as "plum_packed" by enable_packing. Each row [s, e) of
    cu_seq_lens_q attends only to itself, through SDPA's fused causal kernel, so a packed batch computes what the
    rows would compute one at a time, with no padding anywhere: on a batch whose rows fill 40-100% of the longest,
    padding is about half of the attention work. Calls without cu_seq_lens_q (an ordinary padded batch,
    generation) go to transformers' SDPA path unchanged.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    if cu_seq_lens_q is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    bounds = cu_seq_lens_q.tolist()
    gqa = key.shape[1] != query.shape[1]
    out = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], dropout_p=dropout, scale=scaling, is_causal=True,
        enable_gqa=gqa) for s, e in zip(bounds[:-1], bounds[1:])]
    return torch.cat(out, dim=2).transpose(1, 2).contiguous(), None


def base_model(model):
    """The transformers model under a peft wrapper (the model itself when there is none)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def packing_blocker(model, max_length):
    """Why rows of this model cannot be packed (None when they can): packed_attention is plain causal attention."""
    base = base_model(model)
    cfg = base.config
    if not hasattr(base, "set_attn_implementation"):
        return "this transformers cannot switch a model's attention function (set_attn_implementation)"
    if not base._can_set_attn_implementation():
        return f"{type(base).__name__} does not take a custom attention function"
    if getattr(cfg, "attn_logit_softcapping", None) is not None:
        return "the model soft-caps its attention logits"
    window = getattr(cfg, "sliding_window", None)
    if window is not None and window < max_length:
        return f"the model's sliding window ({window}) is shorter than --max_length {max_length}"
    if cfg._attn_implementation not in ("sdpa", "eager", "plum_packed"):
        return f"the model was loaded with attn_implementation {cfg._attn_implementation!r}"
    return None


def enable_checkpointing(model, lora=False):
    """Recompute each layer's activations in the backward pass (non-reentrant: kwargs such as the packing reach
    every layer); with LoRA the embeddings' output must require grad or no gradient reaches the adapters."""
    kw = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.x
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
    if lora:
        model.enable_input_require_grads()


def enable_packing(model):
    """Route the model's attention through packed_attention (checkpoints still save a plain config)."""
    from transformers import AttentionInterface
    AttentionInterface.register("plum_packed", packed_attention)
    base_model(model).set_attn_implementation("plum_packed")
    return model


def SequenceLogps(model, logits_chunk=None):
    """Wraps a causal LM: a batch from collate -> (log π(y|x) [R], completion tokens [R]).

    The same sum as kto_loss.sequence_logps(model(input_ids).logits, ...), computed without the full logits: the
    decoder's hidden states are gathered at the positions that predict a completion token and only those go
    through the LM head and the float32 log-softmax, so prompt and padding cost no vocabulary-sized work, and
    kto_loss.linear_token_logps takes them a chunk of rows at a time, so no step holds more than a chunk of
    logits. Packed batches need enable_packing(model). Padded rows are right-padded and no attention mask is
    passed: under a causal mask the padding after a row's last token cannot change that row's earlier positions,
    and the mask-free path lets SDPA take its fused causal kernel.
    """
    return _sequence_logps_class()(model, logits_chunk)


@functools.cache
def _sequence_logps_class():
    """The torch.nn.Module behind SequenceLogps, defined on first use: torch is not imported with this module."""
    import torch
    from kto_loss import linear_token_logps, sum_per_sequence, token_logps

    class SequenceLogps(torch.nn.Module):
        def __init__(self, model, logits_chunk=None):
            super().__init__()
            self.model = model
            self.logits_chunk = logits_chunk  # rows of logits at a time (None: linear_token_logps's default)
            base = base_model(model)
            cfg = base.config
            # models that post-process logits (soft-capping, scaling) take the plain path through their forward
            self.fast = (getattr(cfg, "final_logit_softcapping", None) is None and getattr(cfg, "logit_scale", None)
                         is None and hasattr(base, "get_decoder") and base.get_output_embeddings() is not None)

        def forward(self, batch, average=False):
            kw = {}
            if "cu_seqlens" in batch:  # the names transformers passes on to the attention function
                cu, m = batch["cu_seqlens"], batch["max_len"]
                kw = dict(position_ids=batch["position_ids"], cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=m,
                          max_length_k=m)
            base = base_model(self.model)
            if self.fast:
                hidden = base.get_decoder()(input_ids=batch["input_ids"], use_cache=False, **kw).last_hidden_state
                hidden, head = hidden.flatten(0, 1)[batch["score_at"]], base.get_output_embeddings()
                if type(head) is torch.nn.Linear and head.bias is None:  # never the full logits: chunks of them
                    tok_logps = linear_token_logps(hidden, head.weight, batch["targets"], self.logits_chunk)
                else:
                    tok_logps = token_logps(head(hidden), batch["targets"])
            else:
                logits = self.model(input_ids=batch["input_ids"], use_cache=False, **kw).logits.flatten(0, 1)
                tok_logps = token_logps(logits[batch["score_at"]], batch["targets"])
            ntok = batch["ntok"]
            logps = sum_per_sequence(tok_logps, batch["row"], len(ntok))
            return (logps / ntok.clamp(min=1) if average else logps), ntok

    return SequenceLogps


def load_model(path, dtype, device):
    import torch
    from transformers import AutoModelForCausalLM
    if path.startswith((".", "/", "~")) and not os.path.isdir(os.path.expanduser(path)):
        raise InputError(f"--model/--ref_model {path}: no such directory")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    return model.to(device)


def model_fingerprint(path):
    """What identifies a reference model's weights for the cache key (config + weight files' size and mtime)."""
    if not os.path.isdir(path):
        return {"id": path}
    fp = {"id": os.path.abspath(path)}
    for name in sorted(os.listdir(path)):
        if name == "config.json" or name.endswith((".safetensors", ".bin")):
            st = os.stat(os.path.join(path, name))
            fp[name] = [st.st_size, st.st_mtime_ns]
    return fp


def config_fingerprint(config):
    d = config.to_dict()
    for k in ("_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures", "use_cache"):
        d.pop(k, None)
    return d


def sha256_files(pattern):
    h = hashlib.sha256()
    for path in expand_inputs(pattern):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# the reference's log-probs


def reference_logps(args, examples, sigma, data_hash, proc, keep_model, path=None, name="reference"):
    """The frozen reference's log-probs of every row the loss scores, computed once and cached beside the data.
    path: another model's instead (GRPO's sampling policy); the cache key holds the weights', so a path that is the
    reference's reads the same cache.

    returns (ref [N, R] float32 on the CPU: row i holds example i's rows in rows_of's order, one column per kind
    (kto: own completion, KL row; dpo: chosen, rejected), model): model is the loaded reference when keep_model and
    it had to be loaded (the policy starts from the same weights, so they are loaded once), else None.
    Under torchrun each process scores rows rank, rank + W, ... and a sum of the zero-filled parts gathers them.
    """
    import torch
    average = LOSSES[args.loss].average(args)
    ref_path = path or args.ref_model or args.model
    key = hashlib.sha256(json.dumps([data_hash, model_fingerprint(ref_path), args.max_length, args.no_eos,
                                     args.loss, average, args.seed, args.dtype, args.bf16],
                                    sort_keys=True).encode()).hexdigest()[:16]
    first = expand_inputs(args.data)[0]
    cache = stem(first) + f".ref-{key}.pt"
    rows = rows_of(args.loss, examples, range(len(examples)), sigma, args.max_length)
    model = None
    missing = proc.all_sum([0.0 if proc.rank or os.path.exists(cache) else 1.0])[0]  # rank 0's view decides for all
    if missing:
        t0 = time.time()
        ref_model = load_model(ref_path, args.dtype, proc.device)
        mine = list(range(proc.rank, len(rows), proc.world))
        part = compute_ref_logps(ref_model, [rows[i] for i in mine], args.ref_batch_size or 2 * args.batch_size,
                                 proc.device, average, proc.autocast, use_packing(ref_model, args, proc.rank),
                                 show=proc.rank == 0)
        lp = torch.zeros(len(rows), dtype=torch.float32, device=proc.device)
        lp[mine] = part.to(proc.device)
        if proc.world > 1:
            proc.dist.all_reduce(lp)
        if proc.rank == 0:
            tmp = cache + f".tmp-{os.getpid()}"
            torch.save({"logps": lp.cpu(), "key": key}, tmp)
            os.replace(tmp, cache)
            print(f"{name} log-probs of {len(rows)} rows on {proc.world} process(es) in "
                  f"{time.time() - t0:.1f}s -> {cache}", file=sys.stderr)
        if keep_model and ref_path == args.model:
            model = ref_model
        del ref_model
    proc.barrier()
    lp = torch.load(cache)["logps"]
    return lp.view(-1, len(examples)).T, model


def compute_ref_logps(model, rows, batch_size, device, average, autocast, packed, show=True):
    """Reference log-probs of every row, batched by length (little padding), in row order. [len(rows)] float32."""
    import torch
    fn = SequenceLogps(enable_packing(model) if packed else model).eval()
    order = sorted(range(len(rows)), key=lambda r: len(rows[r][0]) + len(rows[r][1]))
    out = torch.zeros(len(rows), dtype=torch.float32)
    with torch.no_grad():
        for s in progress(range(0, len(order), batch_size), desc="reference log-probs", unit="batch",
                          disable=not show):
            chunk = order[s:s + batch_size]
            with autocast():
                lp, _ = fn(collate([rows[r] for r in chunk], device, packed), average)
            out[chunk] = lp.float().cpu()
    return out


# ----------------------------------------------------------------------------------------------------------------
# the policy


def build_policy(args, proc, model, resume_from, state):
    """The model being trained and the module the loop calls.

    model: the reference's weights, already loaded (reused as the starting policy), or None: load --model (the
    checkpoint being resumed, unless its adapters are restored below). Then LoRA adapters (the checkpoint's, when
    resuming), gradient checkpointing, packing, and under torchrun FSDP or DDP around SequenceLogps.
    returns (policy: the Hugging Face / peft model, which checkpoints save; net: what the loop calls; packed:
    whether micro-batches are packed into one sequence, see packing_blocker).
    """
    import torch
    if model is None:
        model = load_model(resume_from if resume_from and not args.lora else args.model, args.dtype, proc.device)
    if args.lora:
        from peft import LoraConfig, get_peft_model
        targets = args.lora_target_modules
        targets = targets if targets == "all-linear" else targets.split(",")
        model = get_peft_model(model, LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, task_type="CAUSAL_LM",
                                                 lora_dropout=args.lora_dropout, target_modules=targets))
        if state is not None:
            params = dict(model.named_parameters())
            with torch.no_grad():
                for k, v in state["adapter"].items():
                    params[k].copy_(v)
    if args.gradient_checkpointing:
        enable_checkpointing(model.get_base_model() if args.lora else model, lora=args.lora)
    packed = use_packing(model, args, proc.rank)
    if packed:
        enable_packing(model)
    model.train()
    net = SequenceLogps(model)
    if args.fsdp:
        # FSDP2 (fully_shard): each decoder layer is a unit, gathered for its forward and backward and sharded
        # again after; the root unit is SequenceLogps, so the embeddings, final norm and LM head (which it reads
        # directly, not through the model's forward) are gathered for the whole forward. Runs on CPU (gloo) too.
        # Weights are gathered in their own dtype and --bf16 is the same autocast as in one process: with
        # MixedPrecisionPolicy(param_dtype=torch.bfloat16) the gathers would move half the bytes, but the norms
        # and embeddings would then compute in bfloat16, so the policy would differ from the reference (scored
        # with float32 weights) before its first step.
        from torch.distributed.fsdp import fully_shard
        for m in [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]:
            fully_shard(m)
        fully_shard(net)
    elif proc.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[proc.device] if proc.device.type == "cuda" else None)
    return model, net, packed


def score(net, rows, n_grad, average, packed, proc, pad_id):
    """log πθ of each row [len(rows)]: rows[:n_grad] in a forward pass that keeps the graph, the rest (KTO's KL
    rows, whose log-probs only enter z0, detached) in a no-grad pass of their own, run first."""
    import torch
    tail = None
    if n_grad < len(rows):
        with torch.no_grad(), proc.autocast():
            plain = net.module if isinstance(net, torch.nn.parallel.DistributedDataParallel) else net
            tail, _ = plain(collate(rows[n_grad:], proc.device, packed, pad_id), average)
    with proc.autocast():
        logps, _ = net(collate(rows[:n_grad], proc.device, packed, pad_id), average)
    return logps if tail is None else torch.cat([logps, tail])


# ----------------------------------------------------------------------------------------------------------------
# checkpoints and resume


def checkpoints(output_dir):
    """Finished checkpoints in output_dir, oldest first (temporary dirs of a killed save are not listed)."""
    if not os.path.isdir(output_dir):
        return []
    found = [d for d in os.listdir(output_dir) if d.startswith("checkpoint-") and d[11:].isdigit()
             and os.path.exists(os.path.join(output_dir, d, "training_state.pt"))]
    return [os.path.join(output_dir, d) for d in sorted(found, key=lambda d: int(d[11:]))]


def full_state_options():
    # full (unsharded) tensors, gathered to rank 0's CPU memory one at a time; other ranks get an empty dict
    from torch.distributed.checkpoint.state_dict import StateDictOptions
    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def unwrapped_state_dict(wrapped, args):
    """Under FSDP: the HF model's full state dict, on rank 0 (None elsewhere; every rank must call this). Otherwise
    None: the model saves its own weights."""
    if args.fsdp:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict
        sd = get_model_state_dict(wrapped, options=full_state_options())
        return {k[len("model."):]: v for k, v in sd.items()} if sd else None
    return None


def save_model_dir(path, hf_model, tok, state_dict, args):
    if args.lora:  # merge into a copy: training goes on with the adapters
        merged = copy.deepcopy(hf_model).merge_and_unload()
        merged.save_pretrained(path)
        del merged
    else:
        hf_model.save_pretrained(path, state_dict=state_dict)
    tok.save_pretrained(path)


def optimizer_state(wrapped, opt, args):
    if args.fsdp:  # keyed by parameter name, unsharded, on rank 0: a checkpoint any number of ranks can resume
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
        return get_optimizer_state_dict(wrapped, opt, options=full_state_options())
    return opt.state_dict()


def rng_state():
    import torch
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(s):
    import torch
    torch.set_rng_state(s["torch"])
    random.setstate(s["python"])
    if s["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def save_checkpoint(path, step, wrapped, hf_model, tok, opt, sched, fingerprint, args, rank, training=True):
    """Write path atomically: a temporary dir, then a rename; readers (and --resume) never see half of one."""
    import torch
    sd = unwrapped_state_dict(wrapped, args)
    osd = optimizer_state(wrapped, opt, args) if training else None
    if rank == 0:
        parent = os.path.dirname(path)
        tmp = os.path.join(parent, f".tmp-{os.path.basename(path)}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        save_model_dir(tmp, hf_model, tok, sd, args)
        if training:
            adapter = ({k: v.detach().cpu() for k, v in hf_model.named_parameters() if v.requires_grad}
                       if args.lora else None)
            torch.save({"step": step, "optimizer": osd, "scheduler": sched.state_dict(), "rng": rng_state(),
                        "adapter": adapter, "fingerprint": fingerprint}, os.path.join(tmp, "training_state.pt"))
        give_open_mode(tmp)   # safetensors writes 0600: the team must be able to read (and load) the checkpoint
        old = path + ".old"
        if os.path.exists(path):
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
        if training:
            for stale in checkpoints(parent)[:-max(1, args.save_total_limit)]:
                shutil.rmtree(stale, ignore_errors=True)


def restore_training_state(state, net, opt, sched, args):
    """Load a checkpoint's optimizer, scheduler and RNG state; returns the step it was written after."""
    if args.fsdp:  # every rank read the full state; each keeps its shard
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
        set_optimizer_state_dict(net, opt, state["optimizer"], options=StateDictOptions(full_state_dict=True))
    else:
        opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["step"]


# flags that change neither the numbers a run produces nor what its checkpoints hold: a resume may change them.
# Every other flag is a training setting, and a resume with another value is refused.
RESUMABLE = {"model", "data", "output_dir", "resume", "overwrite", "save_every", "save_total_limit", "no_plot",
             "ref_batch_size", "kl_pass", "no_packing", "gradient_checkpointing", "batch_size", "grad_accum"}


def run_fingerprint(args, world, config, data_hash):
    """What a checkpoint must share with the run that resumes it. --model and --data are compared by what they
    hold (the model's config, the data's sha256), the batch by its global size (any split into processes and
    micro-batches gives the same steps), the rest flag by flag, as resolved (the default learning rate, λ_D, λ_U)."""
    settings = {k: v for k, v in sorted(vars(args).items()) if k not in RESUMABLE}
    return {"model_config": config_fingerprint(config), "data": data_hash,
            "global_batch": args.batch_size * world * args.grad_accum, "settings": json.loads(json.dumps(settings))}


def check_fingerprint(saved, now, ckpt):
    """Raise InputError naming every difference between a checkpoint's fingerprint and this run's."""
    fix = "resume with the same settings, or pass --overwrite to start afresh in this --output_dir"
    a, b = saved.get("model_config") or {}, now["model_config"]
    keys = sorted(c for c in set(a) | set(b) if a.get(c) != b.get(c))
    if keys:
        detail = ", ".join(f"{c}: checkpoint {a.get(c)!r} vs --model {b.get(c)!r}" for c in keys[:4])
        raise InputError(f"{ckpt} was trained from another model ({detail}); pass the --model it started from, "
                         f"or --overwrite to start afresh in this --output_dir")
    diffs = []
    if saved.get("data") != now["data"]:
        diffs.append("--data (other contents: sha256 differs)")
    if saved.get("global_batch") != now["global_batch"]:
        diffs.append(f"the global batch (--batch_size x processes x --grad_accum) {saved.get('global_batch')} in "
                     f"the checkpoint, {now['global_batch']} now")
    if "settings" not in saved:
        raise InputError(f"{ckpt} does not record its training settings (written by an older 05_train_kto.py), so "
                         f"a resume cannot be checked; pass --overwrite to start afresh in this --output_dir")
    old, new = saved["settings"], now["settings"]
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            diffs.append(f"--{k} {old.get(k)!r} in the checkpoint, {new.get(k)!r} now")
    if diffs:
        raise InputError(f"{ckpt} was written with other training settings: {'; '.join(diffs)}; {fix}")


def check_outputs(args):
    """Refuse, before any import or model load, outputs that cannot be written: --output_dir, and the folder of
    --data where the reference's log-probs are cached."""
    check_writable(args.output_dir, "--output_dir", folder=True)
    if LOSSES[args.loss].reference:
        first = expand_inputs(args.data)[0]
        try:
            check_writable(stem(first) + ".ref-cache.pt", "--data")
        except InputError as e:
            raise InputError(f"{e} (the reference's log-probs are cached beside the data: copy it to a writable "
                             f"folder)") from None


def prepare_output_dir(args, rank):
    """The checkpoint to resume from (None: start afresh); refuses to train over checkpoints without --resume."""
    out = args.output_dir
    existing = checkpoints(out)
    if existing and not (args.resume or args.overwrite):
        raise InputError(f"{out} already holds {os.path.basename(existing[-1])}; pass --resume to continue from it "
                         f"or --overwrite to start afresh")
    if args.overwrite and rank == 0:
        for d in existing + [os.path.join(out, "final")]:
            shutil.rmtree(d, ignore_errors=True)
        for f in ("metrics.jsonl", "metrics.png"):
            if os.path.exists(os.path.join(out, f)):
                os.remove(os.path.join(out, f))
    if args.resume and not existing and rank == 0:
        print(f"note: --resume but {out} holds no checkpoint; starting afresh", file=sys.stderr)
    return existing[-1] if args.resume and existing and not args.overwrite else None


def trim_metrics(path, step):
    """Keep the rows of metrics.jsonl up to `step`, the step training starts from: the steps after it are trained
    (and logged) again, so a run stopped anywhere and rerun leaves one row per step."""
    if not os.path.exists(path):
        return
    kept = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
    with JsonlWriter(path, overwrite=True) as w:
        for r in kept:
            w.write(r)


class StopSignals:
    """SIGTERM and SIGINT, caught while training: `signum` is set, and the loop checkpoints after the running step
    and stops, so the work since the last checkpoint is kept. At a job's time limit Slurm sends SIGTERM and, KillWait
    seconds later (30 by default), SIGKILL; `sbatch --signal=B:TERM@300` sends it 300 s before the limit instead,
    time enough for a step and a checkpoint. A second signal ends the process at once, as the default action would."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum = None
        self.previous = {}

    def _handle(self, signum, frame):
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        # os.write, not print: the signal may have interrupted a write to sys.stderr (tqdm's), and a buffered
        # stream refuses to be re-entered
        os.write(2, f"\n05_train_kto: {signal.Signals(signum).name}: stopping after this step with a checkpoint "
                    f"(send it again to stop at once)\n".encode())

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Python takes signals in the main thread only
            for s in self.SIGNALS:
                self.previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, h in self.previous.items():
            signal.signal(s, h)
        return False


# ----------------------------------------------------------------------------------------------------------------
# schedule, memory, plot


def lr_factor(step, total, warmup, kind):
    if step < warmup:
        return (step + 1) / warmup  # the first step already learns (HF's schedule spends it at lr 0)
    progress = (step - warmup) / max(1, total - warmup)
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    if kind == "linear":
        return max(0.0, 1 - progress)
    return 1.0


def memory_mb(device):
    import torch
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    import resource  # peak resident set size of this process (Linux reports KiB)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# metrics.png's panels: a key, a title, the metrics drawn in it, the y-axis label
PANELS = [("loss", "loss", ["loss"], "loss (this step's batch)"),
          ("margin", "margin: the reward gap", ["margin"], "mean reward, {gap}"),
          ("rewards", "rewards (β · log-ratio to the reference)", ["rewards_desirable", "rewards_undesirable",
                                                                  "rewards_chosen", "rewards_rejected"],
           "mean reward"),
          ("z0", "z0: KTO's KL estimate (its reference point)", ["z0"], "z0 (nats)"),
          ("kl", "KL to the reference (GRPO's k3, per token)", ["kl"], "nats per token"),
          ("accuracy", "DPO accuracy", ["accuracy"], "share with chosen > rejected"),
          ("lr", "learning rate", ["lr"], "lr"),
          ("grad_norm", "gradient norm (before clipping)", ["grad_norm"], "global L2 norm"),
          ("throughput", "throughput", ["tokens_per_s"], "tokens / s")]
# per loss: the panel that says whether training works (drawn first, framed) and what to read in it; the rest
# follow in PANELS' order
READ = {
    "kto": ("margin", "Read the margin (framed): the desirable examples' reward minus the undesirable ones' should "
                      "grow. KTO's loss is measured against z0, the KL estimate, which grows as the policy leaves "
                      "the reference: the loss can rise while the margin grows."),
    "dpo": ("margin", "Read the margin (framed) and the accuracy: chosen minus rejected reward should grow and "
                      "the accuracy rise above 0.5. DPO's loss starts at log 2 and falls as the margin grows."),
    "sft": ("loss", "Read the loss (framed): the token-mean negative log-likelihood of the completions should "
                    "fall."),
    "grpo": ("margin", "Read the margin (framed): the samples with a positive advantage minus those with a "
                       "negative one, in β · per-token log-ratio to the reference, should grow, and the KL stay "
                       "small. GRPO's loss is not a progress measure: advantages are centred within each group."),
}


def plot_metrics(path, png, loss, title):
    """metrics.jsonl -> a grid of panels, one per metric, step on x, epochs shaded: the panel that matters first
    and framed, a subtitle saying what to read, each step thin and a running mean thick (window stated) once there
    are 8 steps or more. Returns {"title", "subtitle", "panels", "window"} (None without records)."""
    import matplotlib.ticker

    from plots import NOTE_SIZE, running_mean, save, smoothing_window, style, wrap
    recs = list(read_jsonl(path))
    if not recs:
        return
    key, advice = READ.get(loss, (None, ""))
    panels = [(k, t, [m for m in ms if any(r.get(m) is not None for r in recs)], y) for k, t, ms, y in PANELS]
    panels = sorted((p for p in panels if p[2]), key=lambda p: p[0] != key)   # stable: the key panel first
    cols = 2 if len(panels) <= 4 else 3   # a grid, never a strip
    rows = math.ceil(len(panels) / cols)
    window = smoothing_window(len(recs))
    # epoch e covers the steps whose "epoch" value lies in (e, e + 1]
    bounds = [(r["step"], math.ceil(r["epoch"]) if "epoch" in r else 1) for r in recs]
    last = max(s for s, _ in bounds)
    epochs = max(e for _, e in bounds)
    how = (f"Thin lines: each step; thick: the running mean over {window} steps (centred)." if window else
           f"{len(recs)} steps: too few to smooth, each step drawn.")
    with style() as plt:
        fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 3.6 * rows + 1.2), squeeze=False)
        for ax, (name, label, keys, ylabel) in zip(axes.flat, panels):
            for e in sorted({e for _, e in bounds}):
                steps = [s for s, x in bounds if x == e]
                if e % 2 == 0:
                    ax.axvspan(min(steps) - 0.5, max(steps) + 0.5, color="0.92", zorder=0)
            for i, k in enumerate(keys):
                pts = [(r["step"], r[k]) for r in recs if r.get(k) is not None]
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                series = k.replace("rewards_", "")
                named = series if len(keys) > 1 else None   # the subtitle says what thin and thick lines are
                if window and name != "lr" and len(ys) >= 8:   # noisy from batch to batch: the trend on top
                    ax.plot(xs, ys, color=f"C{i}", alpha=0.35, lw=1, marker="." if len(xs) <= 60 else None)
                    ax.plot(xs, running_mean(ys, window), color=f"C{i}", lw=2.5, label=named)
                else:
                    ax.plot(xs, ys, color=f"C{i}", lw=1.8, marker="." if len(xs) <= 60 else None, label=named)
                if k == "loss" and recs[0]["step"] == 1 and LOSSES[loss].reference and ys:
                    ax.axhline(ys[0], color="0.4", ls="--", lw=1, label="step 1's loss")   # read a rise against it
                if k == "margin":
                    ax.axhline(0, color="0.4", ls="--", lw=1)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=10)
            ax.set_title(label + ("  ← read this" if name == key else ""), fontsize=12,
                         color="C3" if name == key else "black")
            if name == key:
                for side in ax.spines.values():
                    side.set_edgecolor("C3")
                    side.set_linewidth(2.5)
            ax.set_xlabel("optimizer step")
            ax.set_ylabel(ylabel.format(gap={"dpo": "chosen − rejected", "grpo": "A > 0 − A < 0"}.get(
                loss, "desirable − undesirable")))
            ax.set_xlim(0.5, last + 0.5)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.ticklabel_format(axis="y", useOffset=False)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        head = title + (f" ({epochs} epochs: every second one shaded)" if epochs > 1 else "")
        sub = wrap(f"{advice} {how}".strip(), 45 * cols)
        height = fig.get_figheight()   # title and subtitle placed in inches from the top, the panels below them
        fig.suptitle(head, fontweight="bold", y=1 - 0.12 / height, va="top")
        fig.text(0.5, 1 - 0.45 / height, sub, ha="center", va="top", fontsize=NOTE_SIZE)
        fig.tight_layout(rect=(0, 0, 1, 1 - (0.5 + 0.19 * (sub.count("\n") + 1)) / height))
        save(fig, png)
    return {"title": head, "subtitle": sub, "panels": [p[0] for p in panels], "window": window}


def use_packing(model, args, rank):
    why = None if args.no_packing else packing_blocker(model, args.max_length)
    if why and rank == 0:
        print(f"note: rows are padded, not packed: {why}", file=sys.stderr)
    return not args.no_packing and why is None


def add(d, k, v):
    d[k] = d.get(k, 0.0) + v


# ----------------------------------------------------------------------------------------------------------------


def start_processes(args):
    """This process's place in a torchrun job (one process without torchrun): rank, world, device and the two
    collectives the loop needs. Under torchrun the process group is gloo on CPU, NCCL on GPUs."""
    import torch
    import torch.distributed as dist
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    if args.fsdp and world == 1:
        die("--fsdp shards the model across torchrun's processes: run under torchrun --nproc_per_node N (N >= 2), "
            "or drop --fsdp")
    if args.fsdp and args.lora:
        die("--fsdp with --lora is not supported; LoRA adapters are small enough for plain DDP")

    def all_sum(values):
        t = torch.tensor(values, dtype=torch.float64, device=device)
        if world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def barrier():
        if world > 1:
            dist.barrier()

    return SimpleNamespace(world=world, rank=rank, device=device, dist=dist, all_sum=all_sum, barrier=barrier,
                           autocast=lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16))


def main(argv=None):
    args = parse_args(argv)
    check_outputs(args)   # before seconds of imports and minutes of model loading
    import torch
    spec = LOSSES[args.loss]
    proc = start_processes(args)
    rank, world, device = proc.rank, proc.world, proc.device
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    out = args.output_dir
    metrics_path = os.path.join(out, "metrics.jsonl")
    try:
        resume_from = prepare_output_dir(args, rank)
        proc.barrier()

        # --- data
        tok, examples, counts = load_examples(args)
        labels = torch.tensor([e["label"] for e in examples])
        advantages = torch.tensor([e["advantage"] for e in examples])
        ntok = torch.tensor([len(e["completions"][0]) for e in examples])
        n_d, n_u = int(labels.sum()), int((~labels).sum())
        args.desirable_weight, args.undesirable_weight = loss_weights(args, examples)
        if args.loss == "kto" and min(n_d, n_u) == 0 and rank == 0:
            print(f"warning: {args.data} holds only {'desirable' if n_u == 0 else 'undesirable'} examples; KTO "
                  f"trains on one class against z0", file=sys.stderr)
        sigma = kl_partners(len(examples), args.seed) if spec.kl_rows else None
        average = spec.average(args)

        # --- what a resumed checkpoint must share with this run, checked before any work
        data_hash = sha256_files(args.data)
        from transformers import AutoConfig
        fingerprint = run_fingerprint(args, world, AutoConfig.from_pretrained(args.model), data_hash)
        if resume_from:
            saved = torch.load(os.path.join(resume_from, "training_state.pt"), weights_only=False, mmap=True)
            check_fingerprint(saved["fingerprint"], fingerprint, resume_from)
            del saved

        # --- the reference's log-probs: once, cached beside the data, before the policy is built
        ref, policy = None, None
        if spec.reference:
            ref, policy = reference_logps(args, examples, sigma, data_hash, proc,
                                          keep_model=resume_from is None and not args.fsdp)
        if spec.sampling:   # GRPO's π_old: a second column beside the reference's
            old, loaded = reference_logps(args, examples, sigma, data_hash, proc, path=args.sampling_model,
                                          name="sampling policy", keep_model=resume_from is None and not args.fsdp)
            ref, policy = torch.cat([ref, old], 1), policy if policy is not None else loaded

        # --- the policy, its optimizer and schedule
        state = (torch.load(os.path.join(resume_from, "training_state.pt"), weights_only=False)
                 if resume_from else None)
        policy, net, packed = build_policy(args, proc, policy, resume_from, state)
    except InputError as e:
        die(str(e))
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=tuple(args.adam_betas), weight_decay=args.weight_decay)
    N = len(examples)
    G = args.batch_size * world * args.grad_accum
    steps_per_epoch = math.ceil(N / G)
    total = args.max_steps or max(1, math.ceil(args.epochs * steps_per_epoch))
    warmup = math.ceil(args.warmup_ratio * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, warmup, args.scheduler))

    # --- resume: optimizer, schedule, RNG and step; the metrics rows after that step are trained again
    start = restore_training_state(state, net, opt, sched, args) if state is not None else 0
    final = os.path.join(out, "final")
    if start == total and os.path.exists(os.path.join(final, "config.json")):
        if rank == 0:
            print(f"05_train_kto: {out} is finished ({total} steps); nothing to do -> {final}", file=sys.stderr)
        if world > 1:
            proc.dist.destroy_process_group()
        return
    if rank == 0:
        trim_metrics(metrics_path, start)
        write_args(os.path.join(out, "train"), args, world_size=world, counts=counts, n_desirable=n_d,
                   n_undesirable=n_u, total_steps=total, resumed_from=resume_from)
        if counts["dropped_too_long"] or counts["prompt_truncated"]:
            print(f"warning: {counts['dropped_too_long']} example(s) dropped (completion longer than --max_length "
                  f"{args.max_length}), {counts['prompt_truncated']} prompt(s) cut from the left", file=sys.stderr)

    def global_batch(step):
        epoch, b = divmod(step, steps_per_epoch)
        perm = (list(range(N)) if args.no_shuffle
                else torch.randperm(N, generator=torch.Generator().manual_seed(args.seed + epoch)).tolist())
        return epoch, perm[b * G:(b + 1) * G]

    def save(step):
        save_checkpoint(os.path.join(out, f"checkpoint-{step:06d}"), step, net, policy, tok, opt, sched,
                        fingerprint, args, rank)
        proc.barrier()

    # --- the loop: one optimizer step per global batch
    bar = progress(total=total, initial=start, desc=f"train {args.loss}", unit="step", disable=rank != 0)
    writer = JsonlWriter(metrics_path) if rank == 0 else None
    step_loss, stopped = None, None
    t0 = time.time()
    with StopSignals() as signals:
        for step in range(start, total):
            epoch, batch = global_batch(step)
            # the step's normaliser, known to every rank without communication: examples (or completion tokens)
            denom = (sum(len(examples[i]["completions"][0]) for i in batch) if spec.per_token else len(batch))
            chunk = args.batch_size * world
            micro = [batch[m * chunk:(m + 1) * chunk] for m in range(args.grad_accum)]
            micro = [m for m in micro if m]
            sums = {}  # metric sums over this rank's examples, reduced across ranks once per step
            tokens = 0
            for m_i, mb in enumerate(micro):
                local = mb[rank::world]
                weight = 1.0
                if not local:  # a short last batch with fewer examples than ranks: join the collectives, add nothing
                    local, weight = mb[:1], 0.0
                rows = rows_of(args.loss, examples, local, sigma, args.max_length)
                tokens += sum(len(p) + len(c) for p, c in rows) if weight else 0
                # KTO's KL rows only enter z0, which is detached: no graph for them unless --kl_pass same
                n_grad = (len(local) * len(spec.completions)
                          if spec.kl_rows and args.kl_pass == "separate" else len(rows))
                sync = m_i == len(micro) - 1 or world == 1 or args.fsdp  # DDP: all-reduce on the last micro-batch
                with net.no_sync() if not sync else contextlib.nullcontext():
                    logps = score(net, rows, n_grad, average, packed, proc, tok.pad_token_id)
                    loss, micro_sums = spec.step(logps, SimpleNamespace(
                        ref=ref[local].to(device) if ref is not None else None, labels=labels[local].to(device),
                        advantages=advantages[local].to(device), ntok=ntok[local].to(device),
                        denom=denom, weight=weight, all_sum=proc.all_sum), args)
                    (loss * world * weight).backward()
                for k, v in micro_sums.items():
                    add(sums, k, v * weight)
            if args.max_grad_norm > 0:
                gn = torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
            else:
                gn = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in params if p.grad is not None))
            if args.fsdp:  # the norm of sharded gradients is a DTensor
                gn = gn.full_tensor()
            lr = sched.get_last_lr()[0]
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)

            keys = sorted(sums)
            # one collective a step: the metric sums, the tokens, and whether any rank was signalled to stop (read
            # once, before it: every rank decides from the same sum, so all of them checkpoint and stop together)
            signum = signals.signum
            red = dict(zip(keys + ["tokens", "stop"],
                           proc.all_sum([sums[k] for k in keys] + [tokens, float(signum or 0)])))
            now = time.time()  # wall time since the last step's: its logging and any checkpoint count too
            secs, t0 = now - t0, now
            rec = {"step": step + 1, "epoch": round(epoch + (step % steps_per_epoch + 1) / steps_per_epoch, 4),
                   "loss": red["loss"] / denom, "lr": lr, "grad_norm": float(gn), "examples": len(batch),
                   "tokens": int(red["tokens"]), "tokens_per_s": red["tokens"] / secs, "seconds": secs,
                   "memory_mb": memory_mb(device)}
            rec.update(spec.metrics(red, rec))
            step_loss = rec["loss"]
            if writer:
                writer.write(rec)
            bar.set_postfix(loss=f"{step_loss:.4f}")   # before update: a log line shows this step's loss
            bar.update(1)
            stopped = (signum or signal.SIGTERM) if red["stop"] else None
            if (stopped or step + 1 == total or (step + 1) % steps_per_epoch == 0
                    or args.save_every and (step + 1) % args.save_every == 0):
                save(step + 1)
            if stopped:
                break
    bar.close()
    if writer:
        writer.close()
    if stopped:
        if rank == 0:
            print(f"05_train_kto: stopped by {signal.Signals(stopped).name} after step {step + 1} of {total}; "
                  f"{os.path.join(out, f'checkpoint-{step + 1:06d}')} written. Rerun with --resume to continue.",
                  file=sys.stderr, flush=True)
        if world > 1:
            proc.dist.destroy_process_group()
        sys.exit(128 + stopped)

    # --- the final model
    save_checkpoint(final, total, net, policy, tok, opt, sched, fingerprint, args, rank, training=False)
    proc.barrier()
    if rank == 0 and not args.no_plot:
        plot_metrics(metrics_path, os.path.join(out, "metrics.png"), args.loss, f"{args.loss} on {N} examples: {out}")
    if world > 1:
        proc.dist.destroy_process_group()
    if rank == 0:
        last = f"{step_loss:.4f}" if step_loss is not None else "n/a (no step left to train)"
        print(f"05_train_kto: {args.loss} on {N} examples (desirable {n_d}, undesirable {n_u}), steps {start}->"
              f"{total}, last loss {last} -> {final}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main, "05_train_kto")
