"""Positive / negative patch perturbation (Chefer et al. CVPR 2021): known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from priors.evaluation.perturbation import patch_scores, perturbation_test, remove_patches


def _patch0_model(x):
    """Class 1 iff the top-left 4x4 patch is bright: the only informative patch."""
    m = x[:, 0, :4, :4].mean((1, 2))
    return torch.stack([0.5 - m, m - 0.5], 1)


def _data():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 8, 8, generator=gen) * 0.2 + 0.1
    y = torch.arange(40) % 2
    x[y == 1, :, :4, :4] = 0.9
    return x, y


def test_patch_scores_and_removal_known_answers():
    attr = torch.zeros(1, 2, 8, 8)
    attr[0, 0, 4:, :4] = 2.0  # bottom-left patch, channel 0
    attr[0, 1, :4, 4:] = 1.0  # top-right patch, channel 1
    scores = patch_scores(attr, 4)
    torch.testing.assert_close(scores, torch.tensor([[0.0, 1.0, 2.0, 0.0]]))
    x = torch.ones(1, 2, 8, 8)
    most = remove_patches(x, scores, 0.5, 4, most_relevant=True)
    assert most[0, :, 4:, :4].eq(0).all() and most[0, :, :4, 4:].eq(0).all()
    assert most[0, :, :4, :4].eq(1).all() and most[0, :, 4:, 4:].eq(1).all()
    least = remove_patches(x, scores, 0.25, 4, most_relevant=False, baseline=-1.0)
    # Ties (patches 0 and 3 score 0) are broken by patch index: patch 0 goes first.
    assert least[0, :, :4, :4].eq(-1).all() and least.eq(-1).sum() == 2 * 16
    with pytest.raises(ValueError, match="must divide"):
        patch_scores(attr, 3)


def test_true_attribution_has_low_positive_and_high_negative_area():
    x, y = _data()
    true = torch.zeros_like(x)
    true[..., :4, :4] = 1.0
    good = perturbation_test(_patch0_model, x, y, true, patch_size=4)
    # 4 patches, fractions 0..0.9 remove round(4 f) patches: the informative one goes at 0.2
    # (positive) or at 0.9 (negative); without it every image is called class 0 (accuracy 0.5).
    np.testing.assert_allclose(good.positive, [1, 1] + [0.5] * 8)
    np.testing.assert_allclose(good.negative, [1] * 9 + [0.5])
    # As published: trapezoid area over 0..0.9 including the clean accuracy at 0, x 100.
    assert good.positive_auc == pytest.approx(100 * (0.1 + 0.075 + 0.35))
    assert good.negative_auc == pytest.approx(100 * (0.8 + 0.075))
    assert good.clean_accuracy == 1.0
    # The mean accuracy along the curve, under its own name.
    assert good.positive_mean_accuracy == pytest.approx((0.1 + 0.075 + 0.35) / 0.9)
    assert good.negative_mean_accuracy == pytest.approx((0.8 + 0.075) / 0.9)
    bad = perturbation_test(_patch0_model, x, y, -true, patch_size=4)
    assert bad.positive_auc > good.positive_auc + 27 and bad.negative_auc < good.negative_auc - 27
    # A grid without 0 still includes the clean accuracy.
    short = perturbation_test(_patch0_model, x, y, true, patch_size=4,
                              fractions=[0.1 * i for i in range(1, 10)])
    assert short.fractions[0] == 0 and short.positive_auc == pytest.approx(good.positive_auc)


def test_named_method_on_a_vit_and_bad_arguments():
    from priors.models import ViT
    torch.manual_seed(0)
    model = ViT(8, 4, 1, 2, depth=1, heads=1, dim=8).eval()
    x, y = _data()
    res = perturbation_test(model, x, y, "transformer_attribution", patch_size=4, batch_size=16)
    assert res.positive.shape == (10,) and 0 <= res.positive_auc <= 90
    assert 0 <= res.positive_mean_accuracy <= 1
    with pytest.raises(ValueError, match="shaped like"):
        perturbation_test(model, x, y, torch.zeros(40, 1, 4, 4), patch_size=4)
    with pytest.raises(ValueError, match="fractions"):
        perturbation_test(model, x, y, "rollout", patch_size=4, fractions=[0.5, 0.1])
