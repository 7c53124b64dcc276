"""torchvision CNNs as they come: Grad-CAM's default layer, priors on a ResNet-18 with BatchNorm
(through PriorModule and through the AttributionPrior callback), untouched running stats."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from priors import Prior, PriorModule
from priors.attributions import get_method
from priors.callbacks import AttributionPrior
from threads import single_thread

torchvision = pytest.importorskip("torchvision")


@pytest.fixture(autouse=True, scope="module")
def one_thread_per_module():
    with single_thread():
        yield


def _captum_cam(model, layer, x, target):
    cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")


def _tiny_convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=4)


@pytest.mark.parametrize("name, layer", [("resnet18", "layer4"), ("efficientnet_b0", "features"),
                                         ("convnext", "features")])
def test_grad_cam_default_layer_equals_captum_layer_grad_cam(name, layer):
    torch.manual_seed(0)
    model = (_tiny_convnext() if name == "convnext"
             else getattr(torchvision.models, name)(weights=None, num_classes=4))
    model = model.double().eval()
    x, target = torch.rand(2, 3, 64, 64, dtype=torch.float64), torch.tensor([1, 3])
    ours = get_method("grad_cam")(model, x, target)
    theirs = _captum_cam(model, model.get_submodule(layer), x, target)
    assert float(theirs.abs().max()) > 0
    torch.testing.assert_close(ours, theirs.expand_as(x), rtol=1e-9, atol=1e-12)


def _images(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g)
    return TensorDataset(x, torch.randint(0, 3, (n,), generator=g))


def _bn_stats(model):
    return {k: v.clone() for k, v in model.state_dict().items()
            if "running_" in k or "num_batches" in k}


def _fit(module, data, callbacks=(), steps=1):
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False,
                         callbacks=list(callbacks), enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    trainer.fit(module, DataLoader(data, batch_size=8))
    return trainer


def _resnet(seed=0):
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None, num_classes=3)


def _assert_prior_moved_weights_not_bn_stats(trained, plain):
    # One step: the task forward sets the running stats in both runs (same start weights); the
    # prior's extra forwards (EG's interpolations, IG's path, noisy copies) must not.
    stats, reference = _bn_stats(trained), _bn_stats(plain)
    assert stats.keys() == reference.keys() and len(stats) == 3 * 20
    for key in stats:
        torch.testing.assert_close(stats[key], reference[key], rtol=0, atol=0, msg=key)
    moved = max(float((a - b).abs().max()) for a, b in zip(trained.parameters(),
                                                           plain.parameters()))
    assert moved > 1e-6  # the penalty's gradient changed the update


@pytest.mark.parametrize("method, kw", [("eg", dict(k=2)), ("ig", dict(n_steps=4)),
                                        ("grad", {}), ("smoothgrad", dict(n_samples=2))])
def test_priors_train_a_resnet18_through_prior_module(method, kw):
    data = _images()
    plain = PriorModule(_resnet(), None, task="multiclass", num_classes=3, lr=1e-2)
    _fit(plain, data)
    module = PriorModule(_resnet(), Prior(method, "l1", weight=10.0, **kw), task="multiclass",
                         num_classes=3, lr=1e-2)
    _fit(module, data)
    _assert_prior_moved_weights_not_bn_stats(module.model, plain.model)


class UserResNet(pl.LightningModule):
    """A user's own module: torchvision's ResNet-18 and a plain cross-entropy step."""

    def __init__(self):
        super().__init__()
        self.net = _resnet()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-2)


def test_eg_prior_through_the_callback_leaves_batchnorm_stats_alone():
    data = _images()
    plain = UserResNet()
    _fit(plain, data)
    user = UserResNet()
    prior = AttributionPrior("eg", "l1", weight=10.0, k=2, references=data.tensors[0])
    _fit(user, data, [prior])
    assert float(prior.last["prior"]) > 0
    _assert_prior_moved_weights_not_bn_stats(user.net, plain.net)


class DictOutputNet(nn.Module):
    """Returns a ModelOutput-like dict: logits plus an auxiliary tensor."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        features = self.body(x)
        return {"features": features, "logits": self.head(features)}


def test_a_model_returning_a_dict_trains_with_a_prior():
    torch.manual_seed(0)
    model = DictOutputNet()
    start = [p.detach().clone() for p in model.parameters()]
    module = PriorModule(model, Prior("grad", "l1", weight=1.0), task="multiclass",
                         num_classes=3, lr=1e-2)
    trainer = _fit(module, _images(), steps=2)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert any(float((a - b).abs().max()) > 0 for a, b in zip(model.parameters(), start))
    x = _images().tensors[0][:4]
    torch.testing.assert_close(module(x), model(x)["logits"])
    # output= picks another key; an ambiguous dict is refused with its keys named.
    picked = PriorModule(model, None, task="multiclass", num_classes=3, output="features")
    assert picked(x).shape == (4, 16)
    with pytest.raises(ValueError, match=r"keys \['a', 'b'\] and no 'logits'.*output="):
        get_method("grad")(lambda z: {"a": z.sum((2, 3)), "b": z.mean((2, 3))}, x, 0)
