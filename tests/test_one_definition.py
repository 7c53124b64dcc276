"""One definition each (issue 19): the attribution target, the pixel score shared by
keep/remove, ROAR and the sanity maps, the reference-sampler factory, the integer check, the
blur, the dotted-path importer; and IG's quadrature key ``rule``."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import TensorDataset

from priors import Prior
from priors.attributions import get_method, integrated_gradients
from priors.core.checks import check_integer
from priors.core.targets import attribution_target, is_single_output
from priors.evaluation.masking import feature_scores, rank_features
from priors.evaluation.roar_data import compute_scores, replace_ranked
from priors.evaluation.similarity import normalize_maps
from priors.lightning.references import training_references

PACKAGE = Path(__file__).resolve().parents[1] / "priors"


def _definitions(name: str) -> list:
    """Modules defining a function ``name`` at module level (``Prior.attribution_target`` is a
    method delegating to the one function)."""
    return [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
            for node in ast.parse(p.read_text()).body
            if isinstance(node, ast.FunctionDef) and node.name == name]


@pytest.mark.parametrize("name", ["attribution_target", "is_single_output", "pixel_attribution",
                                  "rank_scores", "training_references", "gaussian_blur",
                                  "import_dotted", "check_integer"])
def test_each_concept_is_defined_once(name):
    assert len(_definitions(name)) == 1, _definitions(name)


def test_the_single_logit_test_and_sampler_construction_live_in_one_place():
    single = re.compile(r"out\w*\.shape\[1\] (==|>) 1")  # model outputs, not tables
    hits = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if single.search(p.read_text())]
    assert hits == ["core/targets.py"], hits
    built = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ReferenceSampler"]
    assert built == ["lightning/references.py"], built


def test_attribution_target_rule():
    logits = torch.tensor([[0.1, 2.0], [3.0, -1.0]])
    y = torch.tensor([0, 0])
    assert attribution_target(logits, y, "pred").tolist() == [1, 0]
    assert attribution_target(logits, y, "label").tolist() == [0, 0]
    assert attribution_target(logits, None, "label").tolist() == [1, 0]  # no label: predicted
    assert attribution_target(logits, y, "pred", uses_target=False) is None
    for single in (torch.zeros(2), torch.zeros(2, 1)):
        assert is_single_output(single) and attribution_target(single, torch.ones(2), "label") is None
    with pytest.raises(ValueError, match="'label' or 'pred'"):
        attribution_target(logits, y, "true")
    # The prior asks the same rule.
    prior = Prior("grad", "l1", 1.0, target="label")
    assert prior.attribution_target(logits, y).tolist() == [0, 0]


class _Linear(nn.Module):
    """f(x) = <w, x> on 2-channel 2x2 images: the gradient is w for every input."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w, requires_grad=False)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


def test_roar_keep_remove_and_sanity_share_the_pixel_score():
    # Pixel (0, 0): channels +3 and -3 cancel (sum 0); pixel (1, 1): +1. Removing pixel (0, 0)
    # changes nothing to first order, so it must not rank first.
    w = torch.zeros(2, 2, 2)
    w[0, 0, 0], w[1, 0, 0], w[0, 1, 1] = 3.0, -3.0, 1.0
    model = _Linear(w)
    x = torch.ones(3, 2, 2, 2)
    scores = compute_scores(model, "grad", x, torch.zeros(3), task_target="pred", references=x,
                            seed=0, hparams={})
    torch.testing.assert_close(scores, torch.tensor([[0.0, 0.0, 0.0, 1.0]] * 3))
    torch.testing.assert_close(scores, feature_scores(w.expand(3, -1, -1, -1)))
    assert rank_features(w.expand(3, -1, -1, -1))[0][:, 0].tolist() == [3, 3, 3]
    out = replace_ranked(x, scores, 0.25, "roar", torch.zeros(2), torch.Generator().manual_seed(0))
    changed = (out != x).any(1).flatten(1)
    assert changed.tolist() == [[False, False, False, True]] * 3
    maps = normalize_maps(w.expand(1, -1, -1, -1))
    torch.testing.assert_close(maps.flatten(), torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))


class _Scaling(pl.LightningModule):
    """A module whose batches are normalized after the device transfer (x * 10)."""

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        return x * 10, y


def test_references_go_through_the_training_batch_hooks():
    data = TensorDataset(torch.arange(12.0).view(6, 2), torch.zeros(6))
    drawn = training_references(data, seed=3, pl_module=_Scaling())(5)
    raw = training_references(data, seed=3)(5)  # no module: the dataset's inputs
    torch.testing.assert_close(drawn, raw * 10)
    assert set(raw[:, 0].tolist()) <= set(data.tensors[0][:, 0].tolist())


def test_integral_floats_are_integers_everywhere():
    assert Prior("eg", "l1", 1.0, k=2.0).hparams["k"] == 2
    assert Prior("grad", "l1", 1.0, warmup_steps=3.0).warmup_steps == 3
    assert get_method("ig").check_hparams({"n_steps": 8.0}) == {"n_steps": 8}
    from priors.data.arguments import check_int
    assert check_int("n_train", 100.0, 1) == 100 and isinstance(check_int("n", 4.0, 1), int)
    for bad in (2.5, True, "2", float("inf")):
        with pytest.raises(TypeError, match="must be an integer"):
            check_integer(bad, "k")
        with pytest.raises(ValueError, match="must be an integer"):  # either error class
            check_integer(bad, "k")
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        check_integer(0.0, "k", minimum=1)


def test_ig_quadrature_rule_is_named_rule():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    prior = Prior("ig", "gini", 0.1, rule="riemann_trapezoid", n_steps=4)
    assert prior.hparams["rule"] == "riemann_trapezoid"
    ours = prior.spec(model, x, None, **prior.hparams)
    torch.testing.assert_close(ours, integrated_gradients(model, x, n_steps=4,
                                                          rule="riemann_trapezoid"))
    assert not torch.allclose(ours, integrated_gradients(model, x, n_steps=4))  # rule matters
    with pytest.raises(ValueError, match="now called rule; pass rule='riemann_trapezoid'"):
        get_method("ig").check_hparams({"method": "riemann_trapezoid"})
    with pytest.raises(TypeError, match="now called rule="):
        integrated_gradients(model, x, method="riemann_trapezoid")
