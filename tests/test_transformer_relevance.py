"""Relevance propagation through a ViT (Chefer et al. CVPR 2021): rules and conservation."""
from __future__ import annotations

import pytest
import torch

from priors.attributions.transformer import propagate_relevance, rules
from priors.models import ViT


def _random_vit(seed=0, **sizes):
    torch.manual_seed(seed)
    kw = dict(image_size=28, patch_size=7, in_channels=1, num_classes=10, depth=3, heads=2,
              dim=16)
    kw.update(sizes)
    model = ViT(**kw).double().eval()
    with torch.no_grad():  # O(1) weights everywhere, so every layer mixes relevance
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def _totals(relevance):
    parts = relevance if isinstance(relevance, tuple) else (relevance,)
    return sum(p.flatten(1).sum(1) for p in parts)


def test_linear_alpha1_beta0_known_answer():
    # y_1 = 1*1 + (-2)*1: positive products (x_j w_1j)^+ = [1, 0]; y_2 = 1*(-1) + (-2)*(-3):
    # positive products [0, 6]. R_out = [0.5, 2] -> R_in = [0.5, 2].
    x = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 1.0], [-1.0, -3.0]], dtype=torch.float64)
    r = rules.linear_alpha1_beta0(x, w, torch.tensor([[0.5, 2.0]], dtype=torch.float64), eps=0)
    torch.testing.assert_close(r, torch.tensor([[0.5, 2.0]], dtype=torch.float64))
    # Mixed: y = 2*1 + 1*3 with both products positive: relevance 1 split 2:3.
    r = rules.linear_alpha1_beta0(torch.tensor([[2.0, 1.0]]), torch.tensor([[1.0, 3.0]]),
                                  torch.tensor([[1.0]]), eps=0)
    torch.testing.assert_close(r, torch.tensor([[0.4, 0.6]]))


def test_add_rule_is_normalized_and_conserves():
    u = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    v = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    rel = torch.tensor([[0.8, 0.2]], dtype=torch.float64)
    ru, rv = rules.add(u, v, rel, eps=0)
    # Generic rule: R^u = u R / (u + v) = [0.6, -0.2] (sum 0.4), R^v = [0.2, 0.4] (sum 0.6);
    # normalized: each scaled so that the totals are 0.4 / (0.4 + 0.6) and 0.6 / 1 of 1.
    torch.testing.assert_close(ru, torch.tensor([[0.6, -0.2]], dtype=torch.float64))
    torch.testing.assert_close(rv, torch.tensor([[0.2, 0.4]], dtype=torch.float64))
    ru, rv = rules.add(u, -u + 1e-3, rel, eps=1e-12)  # near-cancelling sum: still conserved
    torch.testing.assert_close(ru.sum() + rv.sum(), rel.sum().double())


def test_relevance_is_conserved_layer_by_layer_in_float64():
    model = _random_vit()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    _, trace = model.forward_trace(x)
    rel = propagate_relevance(model, trace, torch.tensor([0, 3, 5, 9]), record=True, pixels=True)
    names = [name for name, _ in rel.layers]
    # Every layer of every block is recorded, down to the pixels.
    assert names[0] == "logits" and names[-1] == "patch_embed" and len(names) == 3 + 3 * 10 + 1
    tolerance = 1e-6  # eps = 1e-9 stabilizers in ~10 divisions per block
    for name, r in rel.layers:
        torch.testing.assert_close(_totals(r), torch.ones(4, dtype=torch.float64), rtol=0,
                                   atol=tolerance, msg=lambda m: f"layer {name}: {m}")
    # The attention relevance is a real share of the total, not a rounding error.
    assert all(float(a.detach().flatten(1).sum(1).abs().min()) > 1e-3 for a in rel.attention)


def test_relevance_is_per_example_and_target_specific():
    model = _random_vit(seed=1, patch_size=4)
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    _, trace = model.forward_trace(x)
    target = torch.tensor([2, 7, 2])
    batch = propagate_relevance(model, trace, target)
    for i in range(3):
        _, single = model.forward_trace(x[i:i + 1])
        one = propagate_relevance(model, single, target[i:i + 1])
        for a, b in zip(batch.attention, one.attention):
            torch.testing.assert_close(a[i:i + 1], b, rtol=1e-9, atol=1e-12)
    other = propagate_relevance(model, trace, torch.tensor([5, 5, 5]))
    assert not torch.allclose(other.attention[0], batch.attention[0])


def test_until_stops_early_and_checks_its_argument():
    model = _random_vit()
    _, trace = model.forward_trace(torch.rand(2, 1, 28, 28, dtype=torch.float64))
    full = propagate_relevance(model, trace, torch.tensor([1, 2]))
    last = propagate_relevance(model, trace, torch.tensor([1, 2]), until=2)
    torch.testing.assert_close(last.attention[2], full.attention[2])
    assert last.attention[0] is None
    with pytest.raises(ValueError, match="until"):
        propagate_relevance(model, trace, torch.tensor([1, 2]), until=3)
