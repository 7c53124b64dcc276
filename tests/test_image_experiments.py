"""Image experiments: configs, end-to-end runs on real image files, bf16 autocast,
channels_last and the torch.compile guard with the priors' double backward."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from torch.utils.data import DataLoader, TensorDataset

from image_folder import make_image_folder
from priors import Prior, PriorModule, check_homogeneity
from priors.models import XAlexNet
from priors.penalties import total_variation_penalty
from priors.pipeline import run
from priors.app import TRAIN_CONF

CONF = str(TRAIN_CONF)


def _compose(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=list(overrides))


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("imagenet"), n_train=4, n_val=2)


def test_imagenet_xalexnet_recipe():
    cfg = _compose("experiment=imagenet_xalexnet")
    assert cfg.model._target_ == "priors.models.XAlexNet" and cfg.prior.method == "none"
    assert cfg.data._target_ == "priors.data.ImageNetDataModule"
    assert cfg.data.root.endswith("data/imagenet") and cfg.data.batch_size == 256
    opt = cfg.optimizer
    assert (opt._target_, opt.lr, opt.momentum, opt.weight_decay) == (
        "torch.optim.SGD", 0.01, 0.9, 1e-4)
    sched = cfg.scheduler
    assert (sched._target_, sched.step_size, sched.gamma) == (
        "torch.optim.lr_scheduler.StepLR", 30, 0.1)
    assert cfg.trainer.max_epochs == 100 and cfg.trainer.precision == "bf16-mixed"
    assert cfg.module.channels_last and not cfg.module.compile
    smooth = _compose("experiment=imagenet_xalexnet_smooth")
    assert (smooth.prior.method, smooth.prior.penalty) == ("xg", "tv")
    assert smooth.model._target_ == "priors.models.XAlexNet"  # unlike prior=xg's X-MLP
    assert smooth.optimizer == cfg.optimizer and smooth.scheduler == cfg.scheduler


@pytest.mark.parametrize("prior", ["none", "xg_smooth", "eg_smooth"])
def test_imagenet_xalexnet_runs_end_to_end(prior, image_root, tmp_path):
    """Tiny images and widths, 2 steps, with the experiment's bf16 autocast and channels_last."""
    cfg = _compose(
        "experiment=imagenet_xalexnet", f"prior={prior}", f"data.root={image_root}",
        "data.image_size=64", "data.resize_size=72", "data.num_workers=0", "data.batch_size=6",
        "model.width=0.25", "model.hidden=32", "trainer.max_steps=2", "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false", "logger=none", f"paths.output_dir={tmp_path}",
    )
    metrics = run(cfg)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok"
    assert result["config"]["optimizer"]["_target_"] == "torch.optim.SGD"
    for key in ("test/acc", "test/loss", "val/acc", "train/loss"):
        assert math.isfinite(metrics[key]), key
    if prior != "none":
        assert metrics["train/prior"] > 0  # the TV penalty of a non-constant attribution map


def test_compose_decoy_digits_variants():
    plain = _compose("experiment=decoy_digits", "prior=none")
    assert plain.data._target_ == "priors.data.DecoyDigitsDataModule" and plain.data.decoy
    assert plain.model.bias and list(plain.model.hidden) == [50, 30]
    clean = _compose("experiment=decoy_digits", "data.decoy=false")
    assert not clean.data.decoy
    for method in ("rrr", "eg", "xg"):
        cfg = _compose("experiment=decoy_digits", f"prior={method}")
        assert cfg.prior.penalty == "masked_l2"
        assert cfg.prior.weight > 0
        assert list(cfg.model.hidden) == [50, 30]
        assert cfg.model.bias is (method != "xg")  # X-Gradient needs the bias-free X-MLP
        assert cfg.optimized_metric == "val/acc_best"
    assert _compose("experiment=decoy_digits", "prior=rrr", "prior.weight=3").prior.weight == 3


class _GradCheck(pl.Callback):
    """Records, before each optimizer step, whether all gradients are finite and their norm."""

    def __init__(self):
        self.finite, self.norms = [], []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        self.finite.append(all(bool(torch.isfinite(g).all()) for g in grads))
        self.norms.append(float(torch.stack([g.norm() for g in grads]).norm()))


def _image_batches(n=8, size=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=gen)
    y = torch.arange(n) % 3
    return TensorDataset(x, y)


def _fit(prior, precision, channels_last=False, steps=2):
    torch.manual_seed(0)
    model = XAlexNet(num_classes=3, width=0.25, hidden=32, dropout=0.0)
    module = PriorModule(model, prior, task="multiclass", num_classes=3,
                         channels_last=channels_last)
    data = _image_batches()
    module.references = data.tensors[0]
    check = _GradCheck()
    trainer = pl.Trainer(accelerator="cpu", max_steps=steps, precision=precision, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[check])
    trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=4))
    return check, module


@pytest.mark.parametrize("method", ["xg", "eg"])
def test_bf16_autocast_double_backward_gives_finite_gradients(method):
    check, module = _fit(Prior(method, "tv", weight=1.0), "bf16-mixed", channels_last=True)
    assert check.finite == [True, True] and all(n > 0 for n in check.norms)
    assert all(torch.isfinite(p).all() for p in module.parameters())
    # The prior's gradient reaches the weights under autocast: same run without the prior differs.
    plain, _ = _fit(None, "bf16-mixed", channels_last=True)
    assert abs(plain.norms[0] - check.norms[0]) > 1e-3 * plain.norms[0]


def test_homogeneity_check_of_an_x_dnn_in_bf16():
    """The X-Gradient prior's check passes under bf16 autocast and with bf16 weights: its
    default power-of-two scales are exact in bf16, where a scale of 7 shows rounding errors."""
    torch.manual_seed(0)
    model = XAlexNet(num_classes=3, width=0.25, hidden=32).eval()
    x = torch.rand(4, 3, 64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert check_homogeneity(model, x)
    model, x = model.to(torch.bfloat16), x.to(torch.bfloat16)
    assert check_homogeneity(model, x)
    assert not check_homogeneity(model, x, scales=(7.0,))


def test_channels_last_gives_the_same_prior_and_gradients():
    torch.manual_seed(0)
    model = XAlexNet(num_classes=3, width=0.25, hidden=32, dropout=0.0).double()
    x, y = torch.rand(4, 3, 64, 64, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    results = []
    for channels_last in (False, True):
        module = PriorModule(model, Prior("xg", "tv", weight=1.0), task="multiclass",
                             num_classes=3, channels_last=channels_last)
        if channels_last:
            assert module.model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
        module.zero_grad()
        xin = module._memory_format(x)
        assert xin.is_contiguous(memory_format=torch.channels_last) is channels_last
        out = module.prior.compute(module.model, xin, y)
        out.weighted.backward()
        results.append((out.penalty.detach(), [p.grad.clone() for p in module.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b)


def test_compile_with_a_prior_is_refused_clearly():
    model = XAlexNet(num_classes=3, width=0.25, hidden=32)
    with pytest.raises(ValueError, match="double backward"):
        PriorModule(model, Prior("xg", "tv"), task="multiclass", num_classes=3, compile=True)


def test_tv_penalty_hand_computed():
    # Channel-summed |A| of one image: m = [[1, 3], [0, 2]] (channels 1 + 2 with signs).
    a = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]], [[0.0, 2.0], [0.0, 0.0]]]])
    # vertical |0-1| + |2-3| = 2, horizontal |3-1| + |2-0| = 4 -> 6; second image all zero.
    batch = torch.cat([a, torch.zeros_like(a)])
    assert float(total_variation_penalty(a)) == pytest.approx(6.0)
    assert float(total_variation_penalty(batch)) == pytest.approx(3.0)  # mean over the batch
