"""Property-based tests (hypothesis): penalties' invariants and every registered attribution
method's output contract, over generated inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from priors.attributions import available_methods, get_method
from priors.penalties import gini, masked_l2_penalty, total_variation_penalty

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
finite = st.floats(-10, 10, allow_nan=False, width=32)
nonneg = st.floats(0, 1e3, allow_nan=False, width=32)


def _vec(values) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values), dtype=torch.float64)


# --- Gini coefficient ------------------------------------------------------------------------------
@FAST
@given(arrays(np.float64, st.integers(1, 40), elements=nonneg))
def test_gini_in_unit_interval(values):
    v = _vec(values)
    g = float(gini(v))
    assert 0.0 <= g < 1.0 and g <= 1.0 - 1.0 / v.numel() + 1e-12


@FAST
@given(arrays(np.float64, st.integers(2, 40), elements=nonneg),
       st.floats(1e-3, 1e3), st.randoms(use_true_random=False))
def test_gini_invariant_to_scaling_and_permutation(values, scale, rnd):
    v = _vec(values)
    assume(float(v.sum()) > 1e-3)  # away from the eps that keeps 0 / 0 finite
    perm = list(range(v.numel()))
    rnd.shuffle(perm)
    g = gini(v)
    # eps = 1e-12 in the denominator: relative effect <= 1e-12 / (n * sum) <= ~1e-6 here
    torch.testing.assert_close(gini(scale * v), g, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(gini(v[perm]), g, rtol=1e-12, atol=1e-12)


@FAST
@given(st.integers(1, 50), nonneg)
def test_gini_zero_for_equal_values(n, value):
    assert abs(float(gini(torch.full((n,), value, dtype=torch.float64)))) < 1e-12


# --- total variation, masked L2 --------------------------------------------------------------------
maps = arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6),
                                    st.integers(1, 6)), elements=finite)


@FAST
@given(maps)
def test_total_variation_nonnegative(a):
    assert float(total_variation_penalty(torch.from_numpy(a))) >= 0.0


@FAST
@given(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
       finite)
def test_total_variation_zero_for_constant_maps(shape, value):
    assert float(total_variation_penalty(torch.full(shape, value))) == 0.0


@FAST
@given(arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 10)), elements=finite))
def test_masked_l2_zero_for_an_empty_mask(a):
    attr = torch.from_numpy(a)
    assert float(masked_l2_penalty(attr, torch.zeros_like(attr))) == 0.0


# --- every registered attribution method ------------------------------------------------------------
# Small settings so that the sampled methods stay fast; only names the method declares are used.
SMALL = {"n_steps": 8, "n_samples": 3, "k": 2}


def _needs_image(spec) -> bool:
    # A method may declare (in the registry) that it needs convolutional feature maps.
    return any(getattr(spec, flag, False) for flag in ("requires_conv", "needs_conv", "image_only"))


def _model(spec, features: int) -> nn.Module:
    torch.manual_seed(0)
    if _needs_image(spec):
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3, bias=False))
    return nn.Sequential(nn.Linear(features, 8, bias=False), nn.ReLU(),
                         nn.Linear(8, 3, bias=False))


# ViTs: test_transformer_*; text methods: test_text_attributions.py
@pytest.mark.parametrize("name", available_methods(requires_vit=False, requires_embeddings=False))
@FAST
@given(data=st.data())
def test_every_method_returns_finite_attributions_shaped_like_its_input(name, data):
    spec = get_method(name)
    batch = data.draw(st.integers(1, 4), label="batch")
    features = data.draw(st.integers(2, 6), label="features")
    shape = (batch, 1, features, features) if _needs_image(spec) else (batch, features)
    x = torch.from_numpy(data.draw(arrays(np.float32, shape, elements=finite), label="x"))
    target = torch.from_numpy(data.draw(arrays(np.int64, (batch,), elements=st.integers(0, 2)),
                                        label="target"))
    references = torch.randn(5, *shape[1:])
    hparams = {k: v for k, v in SMALL.items() if k in spec.hparams}
    attr = spec(_model(spec, features), x, target, references=references, **hparams)
    assert attr.shape == x.shape
    assert torch.isfinite(attr).all()
