"""The learning objectives of PLUM as pure tensor functions: KTO, DPO (sigmoid, conservative, IPO, hinge), SFT,
GRPO (RL from the same tests, for comparison), and the sequence log-probs they are computed from.

Nothing here touches a model, a file or a process group: every function maps tensors to tensors, so the tests can
check them against hand-computed answers and against the equations in their docstrings (KTO also against an
independent restatement of TRL's). Shapes: B = sequences in the batch, T = tokens per (padded) sequence,
V = vocabulary size, N = scored tokens in a packed batch, H = hidden size. `05_train_kto.py` is the only caller that
owns models, devices and ranks.

Reading order: the losses (KTO, DPO, SFT, GRPO), then the log-probs they take (`sequence_logps`, `token_logps`),
then the speed path 05 uses instead of full logits (`linear_token_logps`, a custom autograd function).

    >>> import torch
    >>> out = kto_loss(torch.tensor([-3.0]), torch.tensor([-4.0]), torch.tensor([True]), z0=torch.tensor(0.0), beta=1.0)
    >>> round(out.losses.item(), 4)          # 1 - sigmoid(1 * (1 - 0))
    0.2689
"""

from collections import namedtuple

import torch
import torch.nn.functional as F


def _upcast(x):
    """float16/bfloat16 -> float32; float32 and float64 unchanged (tests feed float64 to check to 1e-6)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


# ----------------------------------------------------------------------------------------------------------------
# KTO

KTOOutput = namedtuple("KTOOutput", "losses rewards z0")


def kl_estimate(policy_kl_logps, reference_kl_logps):
    """The batch's estimate of KL(πθ ‖ πref) before clamping, from mismatched prompt/completion pairs (detached).

    policy_kl_logps, reference_kl_logps [M]: log π(y'|x) for M pairs where y' was written for another prompt.
    returns a scalar: mean(log πθ(y'|x) − log πref(y'|x)), no gradient. With data parallelism the caller averages
    this across ranks (weighted by M) and passes the result to `kto_loss` as z0, which clamps it at 0.
    """
    return (_upcast(policy_kl_logps.detach()) - _upcast(reference_kl_logps)).mean()


def kto_loss(policy_logps, reference_logps, labels, z0, beta=0.1, desirable_weight=1.0, undesirable_weight=1.0):
    """Kahneman-Tversky Optimisation (Ethayarajh et al. 2024, eq. 7), one loss per example.

    policy_logps    [B]  log πθ(y|x) of each example's completion (summed over its tokens)
    reference_logps [B]  log πref(y|x), the frozen reference's value for the same completion
    labels          [B]  bool: True for a desirable completion (it passed every test), False otherwise
    z0              []   the reference point: a KL estimate from mismatched pairs (`kl_estimate`, averaged across
                         ranks by the caller); it is detached and clamped at 0 here
    returns KTOOutput(losses [B], rewards [B] = β·r (detached), z0 [] as used)

        r(x, y) = log πθ(y|x) − log πref(y|x)
        L(x, y) = λ_D · (1 − σ(β (r − z0)))   if y is desirable
                  λ_U · (1 − σ(β (z0 − r)))   if y is undesirable
        z0      = max(0, E_{x, y' mismatched} [log πθ(y'|x) − log πref(y'|x)])

    The batch loss is the mean of `losses` over all examples, desirable and undesirable together (TRL's
    `losses.nanmean()`), so a batch holding only one class, or a single example, is an ordinary batch: nothing here
    divides by a per-class count. What z0 becomes in those cases is the caller's choice of mismatched pairs; in
    05_train_kto.py every example carries the completion of a fixed other example (a seeded derangement of the data
    set), so even a batch of one has a genuinely mismatched pair and z0 is that one pair's clamped log-ratio.
    """
    labels = labels.bool()
    z0 = _upcast(z0.detach()).clamp(min=0)
    logratios = _upcast(policy_logps) - _upcast(reference_logps)
    desirable = desirable_weight * (1 - torch.sigmoid(beta * (logratios - z0)))
    undesirable = undesirable_weight * (1 - torch.sigmoid(beta * (z0 - logratios)))
    losses = torch.where(labels, desirable, undesirable)
    return KTOOutput(losses, beta * logratios.detach(), z0)


# ----------------------------------------------------------------------------------------------------------------
# DPO and its variants

DPOOutput = namedtuple("DPOOutput", "losses chosen_rewards rejected_rewards")


def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
             beta=0.1, loss_type="sigmoid", label_smoothing=0.0):
    """Direct Preference Optimisation (Rafailov et al. 2023) and two variants, one loss per pair.

    policy_chosen_logps, policy_rejected_logps       [B]  log πθ of the chosen and the rejected completion
    reference_chosen_logps, reference_rejected_logps [B]  the same under the frozen reference
    returns DPOOutput(losses [B], chosen_rewards [B], rejected_rewards [B]) with rewards β·(log πθ − log πref)

        h = (log πθ(y_w|x) − log πref(y_w|x)) − (log πθ(y_l|x) − log πref(y_l|x))
        sigmoid: −(1 − ε) log σ(β h) − ε log σ(−β h)     (ε = label_smoothing; ε = 0 is DPO's eq. 7)
        ipo:     (h − 1/(2β))²                           (Azar et al. 2023, eq. 17)
        hinge:   max(0, 1 − β h)                         (SLiC, Zhao et al. 2023)

    With ε > 0 the sigmoid loss is conservative DPO (Mitchell 2023): each preference is taken to be flipped with
    probability ε, so the loss no longer pushes h without bound but is smallest at β h = log((1 − ε) / ε). That is
    not what TRL 1.16's `loss_type="sigmoid"` computes (it ignores label_smoothing; its "robust" loss is another
    estimator): the tests check this function against the equation above, not against TRL.

    IPO is meant for per-token mean log-probs (TRL and the IPO authors normalise by completion length): pass
    `sequence_logps(..., average=True)` values for it; the function itself does not look at lengths.
    """
    chosen = _upcast(policy_chosen_logps) - _upcast(reference_chosen_logps)
    rejected = _upcast(policy_rejected_logps) - _upcast(reference_rejected_logps)
    h = chosen - rejected
    if loss_type == "sigmoid":
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    else:
        raise ValueError(f"unknown DPO loss_type {loss_type!r}; use sigmoid, ipo or hinge")
    return DPOOutput(losses, beta * chosen.detach(), beta * rejected.detach())


# ----------------------------------------------------------------------------------------------------------------
# SFT


def sft_loss(logps, num_tokens):
    """Token-mean negative log-likelihood of the completions (the supervised baseline; also trains toy models).

    logps      [B]  summed completion log-probs (`sequence_logps(..., average=False)`)
    num_tokens [B]  completion tokens per row (or a scalar total, e.g. the global count across ranks)
    returns    []   −Σ_b logps_b / Σ_b num_tokens_b   (every token weighs the same, whatever its sequence's length)
    """
    logps = _upcast(logps)
    return -logps.sum() / torch.as_tensor(num_tokens, dtype=logps.dtype, device=logps.device).sum().clamp(min=1)


# ----------------------------------------------------------------------------------------------------------------
# GRPO: policy-gradient RL on the same samples and verdicts

GRPOOutput = namedtuple("GRPOOutput", "losses kl ratio clipped")


def grpo_loss(policy_logps, sampling_logps, reference_logps, advantages, beta=0.1, epsilon=0.2, num_tokens=None,
              max_tokens=None):
    """Group Relative Policy Optimisation (Shao et al. 2024, DeepSeekMath eq. 3) on sequence-level log-probs.

    policy_logps    [B]  per-token mean log πθ(y|x) of each completion (`sequence_logps(..., average=True)`)
    sampling_logps  [B]  the same under π_old, the policy that sampled y (no gradient)
    reference_logps [B]  the same under the frozen reference πref
    advantages      [B]  A_i: the sample's reward against its group's (04_build_pairs.py --format grpo computes it:
                         (r_i − mean_g r) / (std_g r + 1e-4), or Dr. GRPO's r_i − mean_g r, or RLOO's
                         r_i − mean of the others)
    num_tokens      [B]  completion tokens |y_i|, with max_tokens (a number L): Dr. GRPO's constant normalisation;
                         both None: GRPO's per-sequence token mean
    returns GRPOOutput(losses [B], kl [B], ratio [B], clipped [B] bool), all but losses detached

        ℓ̄(y) = (1/|y|) Σ_t log π(y_t | x, y_<t)                        the per-token mean log-prob
        s_i  = exp(ℓ̄θ(y_i) − ℓ̄old(y_i))                                the importance ratio against the sampler
        pg_i = −min(s_i A_i, clip(s_i, 1 − ε, 1 + ε) A_i)               PPO's clipped surrogate
        d_i  = ℓ̄ref(y_i) − ℓ̄θ(y_i),   kl_i = exp(d_i) − d_i − 1        the k3 estimator of KL(πθ ‖ πref)
        L_i  = w_i (pg_i + β kl_i),   w_i = 1 (GRPO) or |y_i| / L (Dr. GRPO, Liu et al. 2025)

    The batch loss is the mean of `losses` (05 divides their sum by the global batch). Why sequence level: 05 scores
    whole completions and caches one reference number per completion, so the loss is one function and one row of
    05's table, with no change to its scorer or cache. The ratio is taken on the per-token mean log-ratio (GSPO,
    Zheng et al. 2025; TRL's importance_sampling_level="sequence"), and so is the KL: k3 of the mean per-token
    log-ratio. At s_i = 1 the gradient of pg_i is −A_i ∇ℓ̄θ(y_i), exactly GRPO's per-token loss averaged over the
    sequence (and |y_i|/L times it, Dr. GRPO's). The KL term equals GRPO's token-mean k3, value and gradient, where
    the log-ratio is the same on every token, and lies below it otherwise (k3 is convex); both are 0 at πθ = πref.

    With one gradient step per on-policy batch, πθ = π_old when the loss is computed: every s_i is 1, the clip is
    inactive and pg_i is REINFORCE with the group baseline. The clip acts only once πθ has moved since sampling
    (later steps of a round whose samples are split into several batches, or a second epoch). A batch of any size
    or make-up is an ordinary batch: nothing divides by a count of any kind of sample.
    """
    policy = _upcast(policy_logps)
    adv = _upcast(advantages).to(policy.dtype)
    log_ratio = policy - _upcast(sampling_logps.detach())
    ratio = torch.exp(log_ratio)
    clipped_ratio = ratio.clamp(1 - epsilon, 1 + epsilon)
    pg = -torch.min(ratio * adv, clipped_ratio * adv)
    d = _upcast(reference_logps.detach()) - policy
    kl = torch.exp(d) - d - 1
    losses = pg + beta * kl
    if max_tokens is not None:
        losses = losses * torch.as_tensor(num_tokens, dtype=policy.dtype, device=policy.device) / max_tokens
    # where the min picks the clipped term its gradient is 0: the share of such samples says how often the clip acts
    clipped = ((ratio < 1 - epsilon) & (adv < 0)) | ((ratio > 1 + epsilon) & (adv > 0))
    return GRPOOutput(losses, kl.detach(), ratio.detach(), clipped)


# ----------------------------------------------------------------------------------------------------------------
# sequence log-probabilities


def sequence_logps(logits, input_ids, completion_mask, average=False):
    """log πθ(y|x) of each completion: the sum (or, with `average`, the mean) of its tokens' log-probs.

    logits          [B, T, V]  the model's output for input_ids (prompt followed by completion, right-padded)
    input_ids       [B, T]     long
    completion_mask [B, T]     1 where the token belongs to the completion, 0 on prompt and padding tokens
    returns         [B]        float32 (float64 logits stay float64); a row with no completion token gets 0

        log π(y|x) = Σ_{t ∈ completion} log softmax(logits[t-1])[input_ids[t]]

    The logits at position t-1 predict token t (the shift); only completion tokens are scored, so the prompt and
    the padding never enter the sum.
    """
    mask = completion_mask[:, 1:].bool()
    rows, cols = mask.nonzero(as_tuple=True)
    # gather only the scored positions before the float32 log-softmax: prompt and padding cost nothing
    lp = token_logps(logits[:, :-1][rows, cols], input_ids[:, 1:][rows, cols])
    total = sum_per_sequence(lp, rows, input_ids.shape[0])
    if not average:
        return total
    return total / mask.sum(1).clamp(min=1).to(total.dtype)


def token_logps(logits, targets):
    """log p(target) for each scored token: logits [N, V] (any float dtype), targets [N] long -> [N] float32.

    The logits are upcast to float32 before the log-softmax: in bf16 a 32k-way log-softmax loses about two decimal
    digits, which is the same size as the log-ratios KTO and DPO train on.
    """
    logits = _upcast(logits)
    return torch.gather(logits, -1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def sum_per_sequence(values, seq_index, num_seqs):
    """Add per-token values [N] into their sequences: seq_index [N] long in [0, num_seqs) -> [num_seqs]."""
    out = torch.zeros(num_seqs, dtype=values.dtype, device=values.device)
    return out.index_add(0, seq_index, values)


# ----------------------------------------------------------------------------------------------------------------
# the speed path: log-probs straight from the last hidden states, a chunk of the LM head at a time


def linear_token_logps(hidden, weight, targets, chunk_rows=None):
    """token_logps(hidden @ weight.T, targets) without ever holding more than chunk_rows x V logits.

    hidden  [N, H]  the decoder's last hidden states at the positions that predict a scored token (any float dtype)
    weight  [V, H]  the LM head's weight (a bias-free head; tied to the embeddings or not)
    targets [N]     long, the tokens those positions predict
    returns [N]     float32 (float64 inputs stay float64)

        log p(t_i) = h_i · w_{t_i} − log Σ_v exp(h_i · w_v)
        ∂/∂h_i = g_i (w_{t_i} − Σ_v p_iv w_v),   ∂/∂w_v = Σ_i g_i (1[t_i = v] − p_iv) h_i

    The full logits of a batch are the largest tensor of a training step at real vocabularies: 8 rows x 1,024
    tokens x 152k (Qwen2.5) is 5 GB in float32, twice over with the log-softmax's output kept for the backward.
    Here the forward keeps only the log-normaliser per token and the backward recomputes each chunk's logits (one
    more matmul of the head), so memory is chunk_rows x V whatever N is. The matmuls run in hidden's dtype (bf16
    under autocast), the exp and sums in float32. Default chunk: about 2^26 logits (256 MB in float32).
    """
    if chunk_rows is None:
        chunk_rows = max(16, (1 << 26) // weight.shape[0])
    return _LinearTokenLogps.apply(hidden, weight, targets, int(chunk_rows))


class _LinearTokenLogps(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_rows):
        w = weight.to(hidden.dtype)
        out_dtype = torch.promote_types(hidden.dtype, torch.float32)
        lse = torch.empty(hidden.shape[0], dtype=out_dtype, device=hidden.device)
        out = torch.empty_like(lse)
        for s in range(0, hidden.shape[0], chunk_rows):
            logits = (hidden[s:s + chunk_rows] @ w.T).to(out_dtype)
            lse[s:s + chunk_rows] = torch.logsumexp(logits, dim=-1)
            out[s:s + chunk_rows] = logits.gather(1, targets[s:s + chunk_rows, None])[:, 0] - lse[s:s + chunk_rows]
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.chunk_rows = chunk_rows
        return out

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight, targets, lse = ctx.saved_tensors
        w = weight.to(hidden.dtype)
        grad_h = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros(weight.shape, dtype=lse.dtype, device=weight.device) if ctx.needs_input_grad[1] else None
        for s in range(0, hidden.shape[0], ctx.chunk_rows):
            h, g = hidden[s:s + ctx.chunk_rows], grad_out[s:s + ctx.chunk_rows, None].to(lse.dtype)
            # d log p / d logits = onehot(target) - softmax: scaled by the incoming gradient, built in place
            d = torch.exp((h @ w.T).to(lse.dtype) - lse[s:s + ctx.chunk_rows, None]).mul_(-g)
            d.scatter_add_(1, targets[s:s + ctx.chunk_rows, None], g)
            if grad_h is not None:
                grad_h[s:s + ctx.chunk_rows] = d.to(hidden.dtype) @ w
            if grad_w is not None:
                grad_w += (d.T @ h.to(lse.dtype))
        return grad_h, (grad_w.to(weight.dtype) if grad_w is not None else None), None, None
