"""kto_loss.py against hand-computed answers, against the equations in its docstrings, and against an independent
restatement of TRL 1.16's formulas where ours are meant to be the same (KTO; DPO's sigmoid without label smoothing,
IPO, hinge).

The restatements below follow trl/trainer/kto_trainer.py (KTOTrainer._compute_loss) and dpo_trainer.py
(DPOTrainer._compute_loss) step by step: split by label with index_select, concatenate the weighted losses, take
the nanmean; the KL term is the clamped mean of the mismatched pairs' log-ratios. They are written here, not
imported, so a change in our code cannot change them. DPO with label smoothing is conservative DPO, which TRL's
sigmoid loss does not implement: it is checked against its own equation.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from common import kto_weights
from kto_loss import (dpo_loss, grpo_loss, kl_estimate, kto_loss, linear_token_logps, sequence_logps, sft_loss,
                      token_logps)


# ---------------------------------------------------------------------------------------------------------------
# restatements of TRL


def trl_kto(policy, ref, labels, policy_kl, ref_kl, beta, w_d, w_u):
    kl = (policy_kl - ref_kl).mean().detach().clamp(min=0)
    chosen_idx = torch.nonzero(labels, as_tuple=False).view(-1)
    rejected_idx = torch.nonzero(~labels, as_tuple=False).view(-1)
    chosen = policy.index_select(0, chosen_idx) - ref.index_select(0, chosen_idx)
    rejected = policy.index_select(0, rejected_idx) - ref.index_select(0, rejected_idx)
    chosen_losses = 1 - F.sigmoid(beta * (chosen - kl)) if len(chosen_idx) else torch.tensor([])
    rejected_losses = 1 - F.sigmoid(beta * (kl - rejected)) if len(rejected_idx) else torch.tensor([])
    losses = torch.cat((w_d * chosen_losses, w_u * rejected_losses), 0)
    return losses.nanmean(), kl


def trl_dpo(pc, pr, rc, rr, beta, loss_type, pc_len=None, pr_len=None):
    chosen, rejected = pc - rc, pr - rr
    delta = chosen - rejected
    if loss_type == "sigmoid":  # TRL 1.16's sigmoid loss has no label smoothing term
        losses = -F.logsigmoid(beta * delta)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * delta)
    elif loss_type == "ipo":  # TRL normalises the summed log-ratios by completion length
        ipo_delta = chosen / pc_len.clamp(min=1.0) - rejected / pr_len.clamp(min=1.0)
        losses = (ipo_delta - 1 / (2 * beta)) ** 2
    return losses.mean()


def trl_per_token_logps(logits, input_ids, completion_mask):
    labels = input_ids.masked_fill(completion_mask == 0, -100)[:, 1:]
    logp = torch.log_softmax(logits[:, :-1].double(), -1)
    tok = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (tok * (labels != -100)).sum(-1)


# ---------------------------------------------------------------------------------------------------------------
# sequence_logps


def _batch(seed=0, B=4, T=9, V=11):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g) * 3
    ids = torch.randint(0, V, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, (start, end) in enumerate([(2, 9), (4, 7), (1, 2), (8, 9)][:B]):
        mask[b, start:end] = 1  # completion tokens; before: prompt, after: padding
    return logits, ids, mask


def test_sequence_logps_known_answer():
    # one sequence, vocab 2, uniform logits: each completion token has log-prob log(1/2)
    logits = torch.zeros(1, 4, 2)
    ids = torch.tensor([[0, 1, 1, 0]])
    mask = torch.tensor([[0, 1, 1, 0]])  # two completion tokens, one prompt token, one pad
    assert sequence_logps(logits, ids, mask).item() == pytest.approx(2 * math.log(0.5), abs=1e-7)
    assert sequence_logps(logits, ids, mask, average=True).item() == pytest.approx(math.log(0.5), abs=1e-7)
    # a confident model: logit 5 on the right token at position 0 predicts token 1 at position 1
    logits = torch.zeros(1, 2, 2)
    logits[0, 0, 1] = 5.0
    want = 5.0 - math.log(math.exp(5.0) + 1.0)
    assert sequence_logps(logits, torch.tensor([[0, 1]]), torch.tensor([[0, 1]])).item() == pytest.approx(want, abs=1e-6)


def test_sequence_logps_matches_trl_masking_and_shift():
    logits, ids, mask = _batch()
    got = sequence_logps(logits, ids, mask)
    want = trl_per_token_logps(logits, ids, mask)
    assert torch.allclose(got.double(), want, atol=1e-5)
    avg = sequence_logps(logits, ids, mask, average=True)
    n = mask[:, 1:].sum(1).clamp(min=1)
    assert torch.allclose(avg.double(), want / n, atol=1e-5)


def test_sequence_logps_ignores_prompt_and_padding_content():
    logits, ids, mask = _batch()
    base = sequence_logps(logits, ids, mask)
    hostile = logits.clone()
    ids2 = ids.clone()
    # change every token that is neither a completion token nor the position predicting one
    pred = torch.zeros_like(mask)
    pred[:, :-1] = mask[:, 1:]
    ids2[(mask == 0) & (torch.roll(pred, 1, 1) == 0)] = 0
    hostile[pred == 0] = 1e4  # huge logits where nothing is scored must not matter
    assert torch.allclose(sequence_logps(hostile, ids, mask), base)


def test_sequence_logps_upcasts_bf16_before_log_softmax():
    logits, ids, mask = _batch(seed=3, V=4000)
    low = logits.to(torch.bfloat16)
    want = trl_per_token_logps(low.double(), ids, mask)  # exact maths on the same bf16 inputs
    got = sequence_logps(low, ids, mask)
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), want, atol=1e-4)
    naive = torch.log_softmax(low[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    naive = (naive.double() * mask[:, 1:]).sum(-1)
    assert (naive - want).abs().max() > 1e-3  # so the upcast is what makes the difference


def test_sequence_logps_gradient_flows_only_through_scored_positions():
    logits, ids, mask = _batch()
    logits.requires_grad_(True)
    sequence_logps(logits, ids, mask).sum().backward()
    scored = torch.zeros_like(mask)
    scored[:, :-1] = mask[:, 1:]
    assert logits.grad[scored == 0].abs().max() == 0
    assert logits.grad[scored == 1].abs().max() > 0


# ---------------------------------------------------------------------------------------------------------------
# KTO


@pytest.mark.parametrize("case", ["mixed", "all_desirable", "all_undesirable", "batch_of_one_d", "batch_of_one_u"])
@pytest.mark.parametrize("seed", range(5))
def test_kto_matches_trl(case, seed):
    g = torch.Generator().manual_seed(seed)
    B = 1 if case.startswith("batch_of_one") else 7
    policy = torch.randn(B, generator=g, dtype=torch.float64) * 5 - 20
    ref = policy + torch.randn(B, generator=g, dtype=torch.float64)
    policy_kl = torch.randn(B, generator=g, dtype=torch.float64) * 5 - 30
    ref_kl = policy_kl + torch.randn(B, generator=g, dtype=torch.float64) - 0.2 * seed
    labels = {"mixed": torch.rand(B, generator=g) < 0.5, "all_desirable": torch.ones(B, dtype=torch.bool),
              "all_undesirable": torch.zeros(B, dtype=torch.bool), "batch_of_one_d": torch.ones(1, dtype=torch.bool),
              "batch_of_one_u": torch.zeros(1, dtype=torch.bool)}[case]
    if case == "mixed":
        labels[0], labels[1] = True, False
    beta, w_d, w_u = [0.1, 0.5, 2.0][seed % 3], 1.0 + seed / 3, 1.33 - seed / 10
    want, want_kl = trl_kto(policy, ref, labels, policy_kl, ref_kl, beta, w_d, w_u)
    out = kto_loss(policy, ref, labels, kl_estimate(policy_kl, ref_kl), beta, w_d, w_u)
    assert abs(out.losses.mean().item() - want.item()) < 1e-6
    assert abs(out.z0.item() - want_kl.item()) < 1e-6
    assert torch.allclose(out.rewards.double(), beta * (policy - ref), atol=1e-6)


def test_kto_known_answers():
    # desirable, r = 1, z0 = 0, beta = 1: 1 - sigmoid(1)
    out = kto_loss(torch.tensor([-3.0]), torch.tensor([-4.0]), torch.tensor([True]), torch.tensor(0.0), beta=1.0)
    assert out.losses.item() == pytest.approx(1 - 1 / (1 + math.exp(-1)), abs=1e-7)
    # undesirable, r = -2, z0 = 0.5, beta = 0.1, lambda_U = 2: 2 * (1 - sigmoid(0.25))
    out = kto_loss(torch.tensor([-12.0]), torch.tensor([-10.0]), torch.tensor([False]), torch.tensor(0.5), beta=0.1,
                   undesirable_weight=2.0)
    assert out.losses.item() == pytest.approx(2 * (1 - 1 / (1 + math.exp(-0.25))), abs=1e-7)
    # a negative KL estimate is clamped to 0: same as z0 = 0
    a = kto_loss(torch.tensor([-1.0]), torch.tensor([-1.5]), torch.tensor([True]), torch.tensor(-3.0), beta=1.0)
    b = kto_loss(torch.tensor([-1.0]), torch.tensor([-1.5]), torch.tensor([True]), torch.tensor(0.0), beta=1.0)
    assert a.losses.item() == b.losses.item() and a.z0.item() == 0.0
    # at the start of training (policy == reference, z0 = 0) every example's loss is lambda / 2
    out = kto_loss(torch.tensor([-5.0, -7.0]), torch.tensor([-5.0, -7.0]), torch.tensor([True, False]),
                   torch.tensor(0.0), desirable_weight=1.0, undesirable_weight=1.5)
    assert out.losses.tolist() == pytest.approx([0.5, 0.75])


def test_kto_z0_is_detached_and_gradient_is_analytic():
    policy = torch.tensor([-3.0, -6.0], requires_grad=True)
    ref = torch.tensor([-3.5, -5.0])
    policy_kl = torch.tensor([-8.0, -9.0], requires_grad=True)
    z0 = kl_estimate(policy_kl, torch.tensor([-8.2, -9.4]))  # = 0.3
    out = kto_loss(policy, ref, torch.tensor([True, False]), z0, beta=0.5, desirable_weight=1.2)
    out.losses.sum().backward()
    assert policy_kl.grad is None  # no gradient through the reference point
    s_d = torch.sigmoid(torch.tensor(0.5 * (0.5 - 0.3)))
    s_u = torch.sigmoid(torch.tensor(0.5 * (0.3 + 1.0)))
    # dL_D/dr = -λ_D β σ(1-σ);  dL_U/dr = +λ_U β σ(1-σ)
    assert policy.grad[0].item() == pytest.approx(-1.2 * 0.5 * (s_d * (1 - s_d)).item(), abs=1e-7)
    assert policy.grad[1].item() == pytest.approx(0.5 * (s_u * (1 - s_u)).item(), abs=1e-7)


def test_kto_loss_pushes_classes_apart():
    # gradient descent on the loss alone raises desirable log-ratios and lowers undesirable ones
    policy = torch.tensor([-5.0, -5.0, -5.0, -5.0], requires_grad=True)
    ref = policy.detach().clone()
    labels = torch.tensor([True, False, True, False])
    opt = torch.optim.SGD([policy], lr=1.0)
    for _ in range(20):
        opt.zero_grad()
        kto_loss(policy, ref, labels, torch.tensor(0.0), beta=1.0).losses.mean().backward()
        opt.step()
    r = (policy - ref).detach()
    assert (r[labels] > 0.5).all() and (r[~labels] < -0.5).all()


def test_kto_weights_land_in_range():
    for n_d, n_u in [(1, 100), (30, 70), (50, 50), (57, 43), (70, 30), (999, 1), (4, 3), (133, 100)]:
        w_d, w_u = kto_weights(n_d, n_u)
        ratio = w_d * n_d / (w_u * n_u)
        assert 1 - 1e-9 <= ratio <= 4 / 3 + 1e-9, (n_d, n_u, ratio)
        assert min(w_d, w_u) == 1.0  # the majority class keeps weight 1
    assert kto_weights(50, 50) == (1.0, 1.0)
    assert kto_weights(10, 90) == pytest.approx((9.0, 1.0))
    assert kto_weights(80, 20) == pytest.approx((1.0, 3.0))
    assert kto_weights(0, 5) == (1.0, 1.0) and kto_weights(5, 0) == (1.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# DPO and SFT


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "hinge"])
@pytest.mark.parametrize("B", [1, 6])
def test_dpo_matches_trl(loss_type, B):
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        pc, pr = (torch.randn(B, generator=g, dtype=torch.float64) * 4 - 20 for _ in range(2))
        rc, rr = pc + torch.randn(B, generator=g, dtype=torch.float64), pr + torch.randn(B, generator=g,
                                                                                       dtype=torch.float64)
        lc, lr = (torch.randint(1, 40, (B,), generator=g).double() for _ in range(2))
        beta = [0.1, 0.5, 1.0, 2.0][seed]
        want = trl_dpo(pc, pr, rc, rr, beta, loss_type, lc, lr)
        if loss_type == "ipo":  # we take per-token means from the caller (sequence_logps(average=True))
            got = dpo_loss(pc / lc, pr / lr, rc / lc, rr / lr, beta, "ipo").losses.mean()
        else:
            got = dpo_loss(pc, pr, rc, rr, beta, loss_type).losses.mean()
        assert abs(got.item() - want.item()) < 1e-6


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 0.5])
def test_conservative_dpo_is_its_equation(eps):
    """Label smoothing ε: −(1 − ε) log σ(βh) − ε log σ(−βh), written here with math.log1p on plain floats;
    its minimum over h is at βh = log((1 − ε)/ε) (ε < 1/2), and at ε = 1/2 it cannot tell chosen from rejected."""
    g = torch.Generator().manual_seed(int(eps * 10))
    pc, pr = (torch.randn(8, generator=g, dtype=torch.float64) * 4 - 20 for _ in range(2))
    rc = pc + torch.randn(8, generator=g, dtype=torch.float64)
    rr = pr + 3 * torch.randn(8, generator=g, dtype=torch.float64)
    beta = 0.7
    got = dpo_loss(pc, pr, rc, rr, beta, "sigmoid", label_smoothing=eps).losses
    for i in range(8):
        h = float((pc[i] - rc[i]) - (pr[i] - rr[i]))
        softplus = lambda x: math.log1p(math.exp(-abs(x))) + max(x, 0.0)  # −log σ(−x), stable  # noqa: E731
        want = (1 - eps) * softplus(-beta * h) + eps * softplus(beta * h)
        assert got[i].item() == pytest.approx(want, abs=1e-12)
    if eps == 0.0:  # no smoothing: DPO itself
        assert torch.equal(got, -F.logsigmoid(beta * ((pc - rc) - (pr - rr))))
    elif eps < 0.5:  # the gradient in h vanishes where σ(βh) = 1 − ε
        h = torch.tensor([math.log((1 - eps) / eps) / beta], dtype=torch.float64, requires_grad=True)
        zero = torch.zeros(1, dtype=torch.float64)
        dpo_loss(h, zero, zero, zero, beta, "sigmoid", label_smoothing=eps).losses.sum().backward()
        assert abs(h.grad.item()) < 1e-12
    else:  # swapping chosen and rejected changes nothing
        swapped = dpo_loss(pr, pc, rr, rc, beta, "sigmoid", label_smoothing=eps).losses
        assert torch.allclose(got, swapped, atol=1e-12)


def test_dpo_known_answers():
    z = torch.tensor([-4.0])
    assert dpo_loss(z, z, z, z).losses.item() == pytest.approx(math.log(2))  # h = 0
    # h = 3, beta = 0.5
    pc, pr, rc, rr = torch.tensor([-1.0]), torch.tensor([-5.0]), torch.tensor([-2.0]), torch.tensor([-3.0])
    assert dpo_loss(pc, pr, rc, rr, 0.5, "hinge").losses.item() == 0.0  # 1 - 1.5 < 0
    assert dpo_loss(pc, pr, rc, rr, 0.5, "ipo").losses.item() == pytest.approx(4.0)  # (3 - 1)^2
    assert dpo_loss(pc, pr, rc, rr, 0.5, "sigmoid").losses.item() == pytest.approx(math.log(1 + math.exp(-1.5)))
    out = dpo_loss(pc, pr, rc, rr, 0.5, "sigmoid", label_smoothing=0.2)
    assert out.losses.item() == pytest.approx(0.8 * math.log(1 + math.exp(-1.5)) + 0.2 * math.log(1 + math.exp(1.5)))
    assert out.chosen_rewards.item() == pytest.approx(0.5) and out.rejected_rewards.item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="unknown DPO loss_type"):
        dpo_loss(pc, pr, rc, rr, loss_type="nope")


def test_sft_loss_is_token_mean_nll():
    logits, ids, mask = _batch()
    lp = sequence_logps(logits, ids, mask)
    n = mask[:, 1:].sum(1)
    want = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                           ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100).reshape(-1))
    assert sft_loss(lp, n).item() == pytest.approx(want.item(), abs=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# the speed path: linear_token_logps


@pytest.mark.parametrize("chunk", [1, 5, 37, 1000])
def test_linear_token_logps_equals_full_logits_values_and_gradients(chunk):
    g = torch.Generator().manual_seed(chunk)
    h = torch.randn(37, 8, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(50, 8, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.randint(0, 50, (37,), generator=g)
    up = torch.randn(37, dtype=torch.float64, generator=g)
    ref = token_logps(h @ w.T, t)
    gh, gw = torch.autograd.grad((ref * up).sum(), (h, w))
    out = linear_token_logps(h, w, t, chunk_rows=chunk)
    oh, ow = torch.autograd.grad((out * up).sum(), (h, w))
    assert out.dtype == torch.float64
    assert torch.allclose(out, ref, atol=1e-12) and torch.allclose(oh, gh, atol=1e-12) and torch.allclose(ow, gw, atol=1e-12)


def test_linear_token_logps_never_keeps_the_logits():
    # what autograd saves for the backward: the plain path keeps an [N, V] tensor, ours only [N, H], [V, H] and [N]
    N, H, V = 64, 8, 1000
    h = torch.randn(N, H, requires_grad=True)
    w = torch.randn(V, H, requires_grad=True)
    t = torch.randint(0, V, (N,))
    for fn, keeps_logits in ((lambda: token_logps(h @ w.T, t), True), (lambda: linear_token_logps(h, w, t, 16), False)):
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda x: saved.append(x.numel()) or x, lambda x: x):
            fn().sum().backward()
        assert (max(saved) >= N * V) == keeps_logits, saved


def test_linear_token_logps_bf16_is_close_to_float32():
    g = torch.Generator().manual_seed(0)
    h, w = torch.randn(20, 16, generator=g), torch.randn(300, 16, generator=g) * 0.1
    t = torch.randint(0, 300, (20,), generator=g)
    out = linear_token_logps(h.bfloat16(), w, t, chunk_rows=7)  # float32 weight, bf16 activations (autocast's mix)
    assert out.dtype == torch.float32
    assert torch.allclose(out, token_logps(h @ w.T, t), atol=0.05)


# ---------------------------------------------------------------------------------------------------------------
# GRPO


def trl_grpo(lp, old, ref, adv, mask, beta, eps, loss_type="grpo", max_completion_length=None):
    """TRL 1.16's GRPOTrainer._compute_loss on per-token log-probs [B, T] (importance_sampling_level "token"),
    restated: per-token clipped ratio, per-token k3, then GRPO's per-sequence token mean or Dr. GRPO's constant."""
    coef_1 = torch.exp(lp - old)
    coef_2 = torch.clamp(coef_1, 1 - eps, 1 + eps)
    per_token_loss = -torch.min(coef_1 * adv[:, None], coef_2 * adv[:, None])
    per_token_loss = per_token_loss + beta * (torch.exp(ref - lp) - (ref - lp) - 1)
    if loss_type == "grpo":
        return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    return (per_token_loss * mask).sum() / (per_token_loss.size(0) * max_completion_length)


def loop_grpo(policy, sampling, ref, adv, beta, eps, num_tokens=None, max_tokens=None):
    """The docstring's equation one sample at a time in plain floats: (losses, d loss_i / d policy_i)."""
    losses, grads = [], []
    for i in range(len(policy)):
        s = math.exp(policy[i] - sampling[i])
        c = min(max(s, 1 - eps), 1 + eps)
        unclipped = s * adv[i] <= c * adv[i]        # the min takes the term that moves with the policy
        pg, dpg = -min(s * adv[i], c * adv[i]), (-adv[i] * s if unclipped else 0.0)
        d = ref[i] - policy[i]
        kl, dkl = math.exp(d) - d - 1, 1 - math.exp(d)
        w = 1.0 if max_tokens is None else num_tokens[i] / max_tokens
        losses.append(w * (pg + beta * kl))
        grads.append(w * (dpg + beta * dkl))
    return losses, grads


def test_grpo_known_answers():
    t = torch.tensor
    # policy = sampler = reference: ratio 1, no KL, the loss is -A
    out = grpo_loss(t([-1.0, -2.0]), t([-1.0, -2.0]), t([-1.0, -2.0]), t([1.0, -0.5]), beta=0.3)
    assert out.losses.tolist() == pytest.approx([-1.0, 0.5]) and out.kl.tolist() == [0.0, 0.0]
    assert out.ratio.tolist() == [1.0, 1.0] and not out.clipped.any()
    # k3: policy's mean log-prob -1, the reference's -1.5: d = -0.5, kl = e^-0.5 + 0.5 - 1; A = 0 leaves beta * kl
    out = grpo_loss(t([-1.0]), t([-1.0]), t([-1.5]), t([0.0]), beta=0.2)
    assert out.kl.item() == pytest.approx(math.exp(-0.5) - 0.5, abs=1e-7)
    assert out.losses.item() == pytest.approx(0.2 * (math.exp(-0.5) - 0.5), abs=1e-7)
    # the clip: s = e^0.5 = 1.6487 > 1 + 0.2; A = 1 is clipped (-1.2), A = -1 is not (1.6487)
    policy = t([-0.5, -0.5, -1.5, -1.5], requires_grad=True)
    sampler = t([-1.0, -1.0, -1.0, -1.0])
    out = grpo_loss(policy, sampler, policy.detach(), t([1.0, -1.0, -1.0, 1.0]), beta=0.0, epsilon=0.2)
    e = math.exp(0.5)
    assert out.losses.tolist() == pytest.approx([-1.2, e, 0.8, -1 / e], abs=1e-6)
    assert out.clipped.tolist() == [True, False, True, False]
    out.losses.sum().backward()
    assert policy.grad.tolist() == pytest.approx([0.0, e, 0.0, -1 / e], abs=1e-6)   # -A s where not clipped
    # Dr. GRPO: each sequence weighs |y| / L
    out = grpo_loss(t([-1.0, -2.0]), t([-1.0, -2.0]), t([-1.0, -2.0]), t([1.0, -0.5]), num_tokens=t([10, 30]),
                    max_tokens=40)
    assert out.losses.tolist() == pytest.approx([-0.25, 0.375])


def test_grpo_pushes_the_higher_advantage_up_and_kl_holds_it_back():
    # at ratio 1 and policy == reference the gradient is -A / B: descent raises log-probs in advantage order
    policy = torch.tensor([-3.0, -3.0, -3.0], requires_grad=True)
    adv = torch.tensor([1.5, -1.0, 0.25])
    grpo_loss(policy, policy.detach(), policy.detach(), adv, beta=0.5).losses.mean().backward()
    assert policy.grad.tolist() == pytest.approx((-adv / 3).tolist())
    # many steps (the sampler kept equal to the policy, on-policy): the order holds, and the k3 KL keeps the
    # policy within reach of the reference (with beta = 0 it drifts on)
    ends = {}
    for beta in (0.0, 1.0):
        p = torch.tensor([-3.0, -3.0, -3.0], requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.5)
        for _ in range(50):
            opt.zero_grad()
            grpo_loss(p, p.detach(), torch.full((3,), -3.0), adv, beta=beta).losses.mean().backward()
            opt.step()
        ends[beta] = p.detach() + 3
        assert ends[beta][0] > ends[beta][2] > 0 > ends[beta][1]
    assert (ends[1.0].abs() < ends[0.0].abs()).all()


def test_grpo_kl_is_zero_at_the_reference_and_never_negative():
    g = torch.Generator().manual_seed(0)
    policy = (torch.randn(50, generator=g, dtype=torch.float64) - 2).requires_grad_()
    out = grpo_loss(policy, policy.detach(), policy.detach(), torch.zeros(50, dtype=torch.float64), beta=1.0)
    out.losses.sum().backward()
    assert out.kl.abs().max() == 0 and policy.grad.abs().max() == 0
    ref = policy.detach() + torch.randn(50, generator=g, dtype=torch.float64)
    assert (grpo_loss(policy, policy.detach(), ref, torch.zeros(50), beta=1.0).kl > 0).all()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("norm", ["sequence", "constant"])
def test_grpo_matches_a_plain_loop(seed, norm):
    g = torch.Generator().manual_seed(seed)
    B = [1, 2, 5, 9, 16, 3][seed]                       # batches of any size, a batch of one among them
    policy = (torch.randn(B, generator=g, dtype=torch.float64) * 0.5 - 1.5).requires_grad_()
    sampling = policy.detach() + torch.randn(B, generator=g, dtype=torch.float64) * 0.3   # some outside the clip
    ref = policy.detach() + torch.randn(B, generator=g, dtype=torch.float64) * 0.4
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    ntok = torch.randint(1, 50, (B,), generator=g)
    beta, eps = [0.0, 0.04, 0.1, 1.0, 0.3, 0.5][seed], [0.2, 0.1, 0.3, 0.2, 0.05, 0.2][seed]
    kw = dict(num_tokens=ntok, max_tokens=64) if norm == "constant" else {}
    out = grpo_loss(policy, sampling, ref, adv, beta=beta, epsilon=eps, **kw)
    out.losses.sum().backward()
    want, dwant = loop_grpo(policy.tolist(), sampling.tolist(), ref.tolist(), adv.tolist(), beta, eps,
                            ntok.tolist() if kw else None, kw.get("max_tokens"))
    assert out.losses.tolist() == pytest.approx(want, abs=1e-12)
    assert policy.grad.tolist() == pytest.approx(dwant, abs=1e-12)


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo"])
def test_grpo_equals_trls_per_token_loss_where_they_must(loss_type):
    g = torch.Generator().manual_seed(1)
    B, T, L = 5, 12, 16
    lp = (torch.randn(B, T, generator=g, dtype=torch.float64) - 2).requires_grad_()
    mask = torch.zeros(B, T, dtype=torch.float64)
    for b, n in enumerate([12, 1, 7, 3, 9]):
        mask[b, :n] = 1
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    mean = lambda x: (x * mask).sum(-1) / mask.sum(-1)   # noqa: E731  the per-token mean over completion tokens
    kw = dict(num_tokens=mask.sum(-1), max_tokens=L) if loss_type == "dr_grpo" else {}
    # 1. log-ratios constant within each sequence (to the sampler and to the reference): the same value
    shift, gap = torch.randn(B, 1, generator=g, dtype=torch.float64) * 0.3, torch.randn(B, 1, generator=g) * 0.5
    old, ref = lp.detach() - shift, lp.detach() + gap
    trl = trl_grpo(lp, old, ref, adv, mask, 0.1, 0.2, loss_type, L)
    ours = grpo_loss(mean(lp), mean(old), mean(ref), adv, beta=0.1, epsilon=0.2, **kw).losses.mean()
    assert ours.item() == pytest.approx(trl.item(), abs=1e-12)
    # 2. any per-token log-probs, on-policy (ratio 1), no KL: the same gradient for every token
    (g_trl,) = torch.autograd.grad(trl_grpo(lp, lp.detach(), lp.detach(), adv, mask, 0.0, 0.2, loss_type, L), lp)
    (g_ours,) = torch.autograd.grad(grpo_loss(mean(lp), mean(lp).detach(), mean(lp).detach(), adv, beta=0.0,
                                              **kw).losses.mean(), lp)
    assert torch.allclose(g_ours, g_trl, atol=1e-12)
    # 3. any per-token reference: our KL (k3 of the mean log-ratio) is at most the token mean of k3 (convexity)
    ref = lp.detach() + torch.randn(B, T, generator=g, dtype=torch.float64)
    d = ref - lp.detach()
    token_mean_k3 = mean(torch.exp(d) - d - 1)
    assert (grpo_loss(mean(lp), mean(lp), mean(ref), adv).kl <= token_mean_k3 + 1e-12).all()
