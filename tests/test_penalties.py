"""Penalties on attributions against direct (hand or O(n^2)) computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from priors.penalties import (PENALTIES, get_penalty, gini, gini_penalty, l1_penalty,
                              masked_l2_penalty, total_variation_penalty)


def gini_direct(v: np.ndarray) -> float:
    """0.5 * mean_{i,j} |v_i - v_j| / mean_i v_i, straight from the definition."""
    return 0.5 * np.abs(v[:, None] - v[None, :]).mean() / v.mean()


VECTORS = {
    "random": np.random.default_rng(0).random(17),
    "heavy_tail": np.random.default_rng(1).pareto(1.5, 40),
    "with_zeros": np.array([0.0, 0.0, 3.0, 1.0, 0.5]),
    "ties": np.array([2.0, 2.0, 1.0, 1.0, 5.0, 0.1]),
    "two": np.array([1.0, 3.0]),
}


@pytest.mark.parametrize("name", VECTORS)
def test_gini_matches_definition(name):
    v = VECTORS[name]
    got = float(gini(torch.tensor(v)))
    assert got == pytest.approx(gini_direct(v), rel=1e-10, abs=1e-12)
    assert 0.0 <= got <= 1.0 - 1.0 / len(v) + 1e-12


@pytest.mark.parametrize("n", [2, 5, 64])
def test_gini_extremes(n):
    one_hot = torch.zeros(n, dtype=torch.float64)
    one_hot[n // 2] = 3.0
    assert float(gini(one_hot)) == pytest.approx(1.0 - 1.0 / n, rel=1e-12)
    assert float(gini(torch.full((n,), 0.7, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-12)


def test_gini_is_scale_invariant_and_flattens():
    v = torch.rand(3, 4, dtype=torch.float64) + 0.1
    assert float(gini(v)) == pytest.approx(gini_direct(v.flatten().numpy()), rel=1e-10)
    assert float(gini(7.5 * v)) == pytest.approx(float(gini(v)), rel=1e-10)


def test_gini_penalty_is_minus_gini_of_batch_mean_abs():
    torch.manual_seed(0)
    attr = torch.randn(8, 2, 3, dtype=torch.float64)  # (batch, features...)
    mean_abs = attr.abs().mean(0).flatten().numpy()
    assert float(gini_penalty(attr)) == pytest.approx(-gini_direct(mean_abs), rel=1e-10)
    # Signs cancel nothing: -a gives the same penalty, and a one-feature batch the minimum.
    assert float(gini_penalty(-attr)) == pytest.approx(float(gini_penalty(attr)), rel=1e-12)
    sparse = torch.zeros(4, 6, dtype=torch.float64)
    sparse[:, 2] = torch.tensor([1.0, -2.0, 3.0, -0.5], dtype=torch.float64)
    assert float(gini_penalty(sparse)) == pytest.approx(-(1 - 1 / 6), rel=1e-12)


def test_l1_by_hand():
    attr = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -4.0]])
    # Per example sums of |a|: 3.5 and 7.0; mean over batch 5.25.
    assert float(l1_penalty(attr)) == pytest.approx(5.25)
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    # (1 + 0.5) and 4 -> mean 2.75.
    assert float(l1_penalty(attr, mask)) == pytest.approx(2.75)


def test_masked_l2_by_hand_with_broadcast_mask():
    attr = torch.tensor([
        [[[1.0, 2.0], [3.0, 4.0]], [[-1.0, 0.0], [2.0, -2.0]]],   # example 0: 2 channels, 2x2
        [[[0.5, 0.0], [0.0, 1.0]], [[1.0, 1.0], [-3.0, 0.0]]],   # example 1
    ])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]], [[[0.0, 1.0], [1.0, 0.0]]]])  # (B, 1, H, W)
    # Example 0 keeps pixels (0,0), (1,1): 1 + 16 + 1 + 4 = 22.
    # Example 1 keeps pixels (0,1), (1,0): 0 + 0 + 1 + 9 = 10. Mean over batch: 16.
    assert float(masked_l2_penalty(attr, mask)) == pytest.approx(16.0)


def test_masked_l2_errors():
    attr = torch.ones(2, 3)
    with pytest.raises(ValueError, match="needs an annotation mask"):
        masked_l2_penalty(attr, None)
    with pytest.raises(ValueError, match="does not broadcast"):
        masked_l2_penalty(attr, torch.ones(2, 4))


def test_total_variation_3x3_by_hand():
    m = torch.tensor([[1.0, 2.0, 4.0],
                      [0.0, 2.0, 1.0],
                      [3.0, 3.0, 0.0]])
    # Vertical |m[h+1,w] - m[h,w]|: |0-1| + |2-2| + |1-4| = 4 ; |3-0| + |3-2| + |0-1| = 5.
    # Horizontal |m[h,w+1] - m[h,w]|: |2-1| + |4-2| = 3 ; |2-0| + |1-2| = 3 ; |3-3| + |0-3| = 3.
    expected = 4 + 5 + 3 + 3 + 3
    assert float(total_variation_penalty(m[None])) == pytest.approx(expected)
    # (B, C, H, W): channels are summed in absolute value first, the batch is averaged.
    two_channels = torch.stack([0.25 * m, -0.75 * m])[None]  # |.| sums back to m
    batch = torch.cat([two_channels, torch.zeros_like(two_channels)])
    assert float(total_variation_penalty(batch)) == pytest.approx(expected / 2)


def test_total_variation_rejects_tabular():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        total_variation_penalty(torch.ones(4, 5))


def test_registry():
    assert set(PENALTIES) == {"gini", "l1", "tv", "masked_l2", "rationale_alignment"}
    assert get_penalty("tv") is total_variation_penalty
    assert get_penalty(l1_penalty) is l1_penalty
    with pytest.raises(ValueError) as err:
        get_penalty("l2")
    for name in PENALTIES:
        assert name in str(err.value)
