"""Feature ranking and masking: known orders, and the vectorized masks equal a naive loop."""
import numpy as np
import pytest
import torch

from priors.evaluation.masking import (feature_scores, gaussian_blur, geometric_fractions,
                                       iter_masked, mask_fraction, masked_grid, rank_features,
                                       ranks_from_order)


def naive_mask(x, attr, fraction, fill, keep, mode, pixel_level):
    """Per-example, per-feature reference implementation written with Python loops."""
    out = x.clone()
    fill = torch.as_tensor(fill, dtype=x.dtype).expand_as(x) if not torch.is_tensor(fill) \
        or fill.shape != x.shape else fill
    for b in range(x.shape[0]):
        a = attr[b].sum(0) if pixel_level else attr[b]
        scores = a.flatten()
        if mode == "negative":
            scores = -scores
        elif mode == "absolute":
            scores = scores.abs()
        n = scores.numel()
        count = int(round(fraction * n))
        if mode != "absolute":
            count = min(count, int((scores >= 0).sum()))
        # Distinct scores in these tests: plain descending order is the ranking.
        top = sorted(range(n), key=lambda i: -float(scores[i]))[:count]
        chosen = torch.zeros(n, dtype=torch.bool)
        chosen[top] = True
        if not keep:
            chosen = ~chosen
        if pixel_level:
            chosen = chosen.view(1, *x.shape[2:]).expand_as(x[b])
        else:
            chosen = chosen.view(x.shape[1:])
        out[b] = torch.where(chosen, x[b], fill[b])
    return out


@pytest.mark.parametrize("mode", ["positive", "negative", "absolute"])
@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("images", [False, True])
def test_vectorized_masks_equal_a_naive_loop(mode, keep, images):
    gen = torch.Generator().manual_seed(0)
    shape = (5, 3, 4, 4) if images else (6, 7)
    x = torch.randn(shape, generator=gen)
    attr = torch.randn(shape, generator=gen)
    fill = gaussian_blur(x, 1.0) if images else torch.randn(shape[1:], generator=gen)
    fractions = geometric_fractions(0.05, 1.0, 6)
    order, eligible = rank_features(attr, mode, pixel_level=images)
    limit = None if mode == "absolute" else eligible
    grid = masked_grid(x, order, fractions, fill, keep, limit)
    assert grid.shape == (len(fractions), *shape)
    for k, frac in enumerate(fractions):
        expected = naive_mask(x, attr, frac, fill if images else fill.expand_as(x), keep, mode,
                              images)
        assert torch.equal(grid[k], expected), (k, frac)
        assert torch.equal(mask_fraction(x, order, frac, fill, keep, limit), expected)


def test_chunks_respect_the_memory_bound_and_match_the_whole_grid():
    x, attr = torch.randn(10, 2, 3, 3), torch.randn(10, 2, 3, 3)
    fill = gaussian_blur(x, 1.0)
    order, _ = rank_features(attr, "absolute")
    fractions = [0.1, 0.5, 1.0]
    whole = masked_grid(x, order, fractions, fill, keep=False)
    per_example = len(fractions) * x[0].numel()
    seen = []
    for rows, masked in iter_masked(x, order, fractions, fill, keep=False,
                                    max_elements=3 * per_example):
        assert masked.numel() <= 3 * per_example
        assert torch.equal(masked, whole[:, rows])
        seen += list(range(rows.start, rows.stop))
    assert seen == list(range(10))


def test_known_rankings_ties_and_pixel_scores():
    attr = torch.tensor([[0.5, -2.0, 1.0, 0.0]])
    order, eligible = rank_features(attr, "positive", tie_seed=None)
    assert order.tolist() == [[2, 0, 3, 1]] and eligible.tolist() == [3]
    order, eligible = rank_features(attr, "negative", tie_seed=None)
    assert order.tolist() == [[1, 3, 0, 2]] and eligible.tolist() == [2]
    order, _ = rank_features(attr, "absolute", tie_seed=None)
    assert order.tolist() == [[1, 2, 0, 3]]
    assert torch.equal(ranks_from_order(order), torch.tensor([[2, 0, 1, 3]]))
    # Ties: a seeded random order (not the index order), the same on every call.
    flat = torch.zeros(2, 50)
    a, _ = rank_features(flat, "absolute", tie_seed=3)
    b, _ = rank_features(flat, "absolute", tie_seed=3)
    assert torch.equal(a, b) and not torch.equal(a[0], torch.arange(50))
    # Images: one score per pixel, the attribution summed over channels (signs can cancel).
    img = torch.zeros(1, 2, 2, 2)
    img[0, 0, 0, 0], img[0, 1, 0, 0] = 3.0, -3.0   # pixel (0, 0): sum 0
    img[0, 0, 1, 1] = 1.0                           # pixel (1, 1): sum 1
    scores = feature_scores(img, "absolute")
    assert scores.tolist() == [[0.0, 0.0, 0.0, 1.0]]
    assert rank_features(img, "absolute")[0][0, 0] == 3


def test_fraction_ends_and_limits():
    x = torch.arange(1.0, 7.0).view(2, 3)
    order = torch.tensor([[0, 1, 2], [2, 1, 0]])
    assert torch.equal(mask_fraction(x, order, 0.0, -1.0), torch.full_like(x, -1.0))
    assert torch.equal(mask_fraction(x, order, 1.0, -1.0), x)
    assert torch.equal(mask_fraction(x, order, 1.0, -1.0, keep=False), torch.full_like(x, -1.0))
    kept = mask_fraction(x, order, 1.0, 0.0, limit=torch.tensor([1, 2]))
    assert kept.tolist() == [[1.0, 0.0, 0.0], [0.0, 5.0, 6.0]]


def test_blur_and_bad_inputs():
    const = torch.full((2, 3, 9, 9), 0.7)
    assert torch.allclose(gaussian_blur(const, 2.0), const, atol=1e-6)
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 4, 4] = 1.0
    blurred = gaussian_blur(img, 1.0)
    assert blurred[0, 0, 4, 4] < 0.5 and blurred[0, 0, 4, 5] > 0  # spread to the neighbours
    with pytest.raises(ValueError, match="B, C, H, W"):
        gaussian_blur(torch.zeros(3, 4), 1.0)
    x, order = torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="order must be"):
        masked_grid(x, order[:, :2], [0.5], 0.0)
    with pytest.raises(ValueError, match="fill of shape"):
        masked_grid(x, order, [0.5], torch.zeros(4))
    with pytest.raises(ValueError, match="fractions"):
        masked_grid(x, order, [1.5], 0.0)
    with pytest.raises(ValueError, match="mode"):
        rank_features(x, "largest")
    with pytest.raises(ValueError, match="0 < start"):
        geometric_fractions(0.0, 1.0, 4)
    assert np.allclose(geometric_fractions(), np.geomspace(0.01, 1, 16))
