"""MCLRec's three-step meta update against a hand-written reference on a tiny model (no dropout, so
every forward is deterministic): (1) an Adam step of the encoder on L_rec + λ Lcl1 + β (Lcl2 + R),
(2) an Adam step of the augmenters on Lcl2 + R computed with the encoder *after* step 1, (3) the
step-1 objective again with the updated augmenters. The model's loss parts at τ != 1 are checked
against literal formulas too."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from graphcl.models.seq import MCLRec
from graphcl.models.seq.mclrec import MCLREC_DEFAULTS

from _seq_helpers import cyclic_sequences

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = {**MCLREC_DEFAULTS, "hidden_size": 8, "inner_size": 16, "num_layers": 1, "num_heads": 2,
       "max_len": 8, "batch_size": 12, "hidden_dropout": 0.0, "attn_dropout": 0.0,
       "lmd": 0.3, "beta": 0.5, "tau": 0.7, "reg_weight": 0.2}
LR = 0.05


def _tiny():
    torch.manual_seed(0)
    data = cyclic_sequences(num_users=20, num_items=12, min_len=4, max_len=8)
    model = MCLRec(data, CFG).double()
    batch = next(model.batches(torch.Generator().manual_seed(3)))
    return model, batch


def _nt_xent_loop(a, b, tau):
    """−mean over the 2B anchors of log(e^{s(x, x⁺)/τ} / Σ_{k ≠ x} e^{s(x, k)/τ}), dot scores."""
    z = torch.cat([a, b])
    n = z.size(0)
    total = 0.0
    for x in range(n):
        pos = (x + n // 2) % n
        den = sum(torch.exp(z[x] @ z[k] / tau) for k in range(n) if k != x)
        total = total - torch.log(torch.exp(z[x] @ z[pos] / tau) / den)
    return total / n


def _margin_loop(a, b, tau):
    """mean_x [p_x − min(p_x, n_x)]+ + mean_{x, neg} [max(p_x, n_x) − neg]+ on dot scores / τ."""
    z = torch.cat([a, b])
    n = z.size(0)
    first, second, count = 0.0, 0.0, 0
    for x in range(n):
        pos = (x + n // 2) % n
        p = z[x] @ z[pos] / tau
        negs = [z[x] @ z[k] / tau for k in range(n) if k not in (x, pos)]
        top = max(negs)
        lo, hi = torch.minimum(p, top), torch.maximum(p, top)
        first = first + F.relu(p - lo)
        second = second + sum(F.relu(hi - v) for v in negs)
        count += len(negs)
    return first / n + second / count


def _views(model, batch, encoder_grad=True):
    """h, h1, h2 encoded one input at a time (the model encodes them as one concatenated batch)."""
    ctx = torch.enable_grad() if encoder_grad else torch.no_grad()
    with ctx:
        return [model.encode(batch[s], batch[n]) for s, n in (("seq", "len"), ("seq1", "len1"),
                                                              ("seq2", "len2"))]


def _contrast(model, h1, h2, tau, reg_weight):
    z1, z2 = model.aug1(h1), model.aug2(h2)
    pairs = ((h1, z2), (h2, z1), (z1, z2))
    cl2 = sum(_nt_xent_loop(a, b, 1.0) for a, b in pairs)           # Lcl2: dot, τ 1
    reg = reg_weight * sum(_margin_loop(a, b, tau) for a, b in pairs)
    return cl2, reg


def _objective(model, batch):
    """L_rec + λ Lcl1 + β (Lcl2 + R), every term written out."""
    h, h1, h2 = _views(model, batch)
    logits = h @ model.item_embeddings[1:].T                          # row 0 is the padding id
    rec = -torch.log_softmax(logits, 1)[torch.arange(h.size(0)), batch["target"] - 1].mean()
    cl2, reg = _contrast(model, h1, h2, CFG["tau"], CFG["reg_weight"])
    cl1 = _nt_xent_loop(h1, h2, CFG["tau"])
    return rec + CFG["lmd"] * cl1 + CFG["beta"] * (cl2 + reg), (rec, cl1, cl2, reg)


def _split(model):
    aug = [p for n, p in model.named_parameters() if n.startswith(("aug1.", "aug2."))]
    enc = [p for n, p in model.named_parameters() if not n.startswith(("aug1.", "aug2."))]
    return enc, aug


def _step(params, loss, opt):
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    for p in params:
        p.grad = None


def _reference(model, batch, stale_encoder=False):
    """One meta update written out; ``stale_encoder``: step 2 (wrongly) with the pre-step-1 encoder."""
    ref = copy.deepcopy(model)
    before = copy.deepcopy(model)
    enc, aug = _split(ref)
    opt_e, opt_a = torch.optim.Adam(enc, lr=LR), torch.optim.Adam(aug, lr=LR)
    _step(enc, _objective(ref, batch)[0], opt_e)                         # step 1
    source = before if stale_encoder else ref
    _, h1, h2 = _views(source, batch, encoder_grad=False)                # step 2: encoder fixed
    cl2, reg = _contrast(ref, h1, h2, CFG["tau"], CFG["reg_weight"])
    _step(aug, cl2 + reg, opt_a)
    _step(enc, _objective(ref, batch)[0], opt_e)                         # step 3
    return ref


def test_loss_parts_at_tau_below_one_follow_the_literal_formulas():
    model, batch = _tiny()
    model.train()
    out = model.loss(batch)
    want_total, (rec, cl1, cl2, reg) = _objective(model, batch)
    torch.testing.assert_close(out["cl1"], cl1)
    torch.testing.assert_close(out["cl2"], cl2)
    torch.testing.assert_close(out["reg"], reg)
    torch.testing.assert_close(out["loss"], want_total)
    # τ matters: the margin term at τ 1 is another number
    _, h1, h2 = _views(model, batch, encoder_grad=False)
    assert abs(float(_contrast(model, h1, h2, 1.0, CFG["reg_weight"])[1].detach() - reg.detach())) > 1e-3


def test_three_step_update_matches_the_hand_written_reference():
    model, batch = _tiny()
    model.train()
    ref = _reference(model, batch)
    stale = _reference(model, batch, stale_encoder=True)
    opts = model.configure_optimizers(LR, 0.0)
    model.train_step(batch, opts)
    got = dict(model.named_parameters())
    for name, p in ref.named_parameters():
        torch.testing.assert_close(got[name], p, rtol=1e-9, atol=1e-10, msg=name)
    # the reference can tell: a step 2 on the stale encoder moves the augmenters elsewhere
    stale_params = dict(stale.named_parameters())
    gap = max(float((got[n] - stale_params[n]).abs().max()) for n in got if n.startswith("aug"))
    assert gap > 1e-4, gap
