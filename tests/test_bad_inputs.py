"""Issue 12, first section: each input that used to pass silently (or fail with a raw error)
now fails with an error naming the problem, or gives the right result."""
from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from priors import NonHomogeneousError, Prior, PriorModule, find_non_homogeneous
from priors.attributions import ReferenceSampler, get_method
from priors.callbacks import AttributionPrior, PriorCostMonitor
from priors.models import MLP
from priors.module import task_loss
from priors.penalties import gini_penalty
from priors.xdnn import assert_homogeneous, check_homogeneity
from threads import single_thread


@pytest.fixture(autouse=True, scope="module")
def one_thread_per_module():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def digits():
    """The first 192 of scikit-learn's 8x8 digits in [0, 1]: 3 batches of 64."""
    X, y = load_digits(return_X_y=True)
    return TensorDataset(torch.tensor(X[:192] / 16.0, dtype=torch.float32), torch.tensor(y[:192]))


def fit(module, data, callbacks=(), epochs=1, batch_size=64, **kwargs):
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False,
                         callbacks=list(callbacks), enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False,
                         log_every_n_steps=1, num_sanity_val_steps=0, **kwargs)
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
    trainer.fit(module, loader)
    return trainer


class Classifier(pl.LightningModule):
    """A user's module knowing nothing of priors: ``head(encoder(x))`` or ``net(x)``."""

    def __init__(self, split=False, inplace=False, one_arg=False, direct=False):
        super().__init__()
        torch.manual_seed(0)
        if split:
            self.encoder = nn.Sequential(nn.Linear(64, 32, bias=False), nn.ReLU())
            self.head = nn.Linear(32, 10, bias=False)
        else:
            self.net = nn.Sequential(nn.Linear(64, 32, bias=False), nn.ReLU(),
                                     nn.Linear(32, 10, bias=False))
        self.split, self.inplace, self.direct = split, inplace, direct
        if one_arg:
            self.training_step = self.one_arg_step

    def forward(self, x):
        if self.inplace:
            x.mul_(2.0)  # the user's forward scales its input in place
        return self.head(self.encoder(x)) if self.split else self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch[0], batch[1]
        logits = self.head(self.encoder(x)) if self.split and not self.direct else self(x)
        return F.cross_entropy(logits, y)

    def one_arg_step(self, batch):
        x, y = batch
        x.mul_(0.5)  # modifies its batch in place
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


# --- 1. X-DNN allow-list ---------------------------------------------------------------------------
@pytest.mark.parametrize("layer", [nn.AlphaDropout(0.2), nn.FeatureAlphaDropout(0.2),
                                   nn.GLU(), nn.ConstantPad1d(1, 0.5), nn.RNNCell(4, 4, bias=False),
                                   nn.Softsign()])
def test_layers_off_the_allow_list_are_refused_by_name(layer):
    model = nn.Sequential(nn.Linear(4, 4, bias=False), layer)
    problems = find_non_homogeneous(model)
    assert problems and problems[0][0] == "1"
    assert type(layer).__name__ in problems[0][1]


class Double(nn.Module):
    def forward(self, x):
        return 2 * x


class VouchedDouble(Double):
    __homogeneous__ = True


def test_unknown_leaves_need_vouching_and_zero_padding_passes():
    model = nn.Sequential(nn.Linear(4, 4, bias=False), Double(), nn.ConstantPad1d(1, 0.0))
    (name, reason), = find_non_homogeneous(model)
    assert name == "1" and "not a known homogeneous layer" in reason and "trusted=" in reason
    assert find_non_homogeneous(model, trusted=[Double]) == []
    assert find_non_homogeneous(model, trusted=["test_bad_inputs.Double"]) == []
    assert find_non_homogeneous(nn.Sequential(VouchedDouble())) == []
    with pytest.raises(NonHomogeneousError, match="not a known homogeneous layer"):
        Prior("xg", "gini").verify(model, torch.randn(3, 4))
    prior = Prior("xg", "gini", trusted_layers=[Double])
    prior.verify(model, torch.randn(3, 4))  # vouched for, and numerically homogeneous


def test_numeric_check_runs_in_the_mode_the_prior_runs_in():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8, bias=False), nn.ReLU(), nn.AlphaDropout(0.5),
                          nn.Linear(8, 1, bias=False)).train()
    x = torch.randn(16, 6)
    assert check_homogeneity(model, x, mode="eval")  # identity at evaluation
    assert not check_homogeneity(model, x)  # affine in training mode: caught
    with pytest.raises(NonHomogeneousError, match="training mode"):
        assert_homogeneous(model, x, trusted=[nn.AlphaDropout])
    assert model.training
    dropout = nn.Sequential(nn.Linear(6, 8, bias=False), nn.ReLU(), nn.Dropout(0.5),
                            nn.Linear(8, 1, bias=False)).train()
    state = torch.get_rng_state()
    assert check_homogeneity(dropout, x)  # same mask for x and a x: homogeneous
    assert torch.equal(torch.get_rng_state(), state)  # and no trace in the global RNG


# --- 2. the captured output feeds another module ----------------------------------------------------
def test_callback_refuses_an_encoder_output_and_accepts_the_named_model(digits):
    with pytest.raises(RuntimeError, match=r"'encoder'.*feeds to 'head'.*not the logits"):
        fit(Classifier(split=True), digits, [AttributionPrior("xg", "gini", weight=0.1)])
    # The same network called as self(x): the LightningModule is the model, which is right.
    fit(Classifier(split=True, direct=True), digits, [AttributionPrior("xg", "gini", weight=0.1)],
        max_steps=1)


# --- 3. the annotation mask of (x, y, mask) batches ---------------------------------------------------
def test_callback_keeps_the_annotation_mask(digits):
    x, y = digits.tensors
    mask = torch.zeros_like(x)
    mask[:, :8] = 1.0  # the top row of pixels is irrelevant
    data = TensorDataset(x[:64], y[:64], mask[:64])
    for penalty in ("masked_l2", "l1"):
        module = Classifier()
        before = copy.deepcopy(module.net)
        cb = AttributionPrior("grad", penalty, weight=1.0, model="net")
        fit(module, data, [cb], max_steps=1)
        expected = Prior("grad", penalty).compute(before, x[:64], y[:64], mask[:64]).penalty
        torch.testing.assert_close(cb.last["prior"], expected.detach())
        unmasked = Prior("grad", "l1").compute(before, x[:64], y[:64]).penalty
        assert penalty == "masked_l2" or cb.last["prior"] < 0.5 * unmasked


# --- 4. PriorCostMonitor replays on a copy; one-argument training_step ---------------------------
class InPlaceStep(Classifier):
    def training_step(self, batch, batch_idx):
        x, y = batch
        x.mul_(0.5)  # changes the batch the real step sees if a replay ran on it
        return F.cross_entropy(self(x), y)


@pytest.mark.parametrize("module_cls, kwargs", [(InPlaceStep, {}), (Classifier, {"one_arg": True})])
def test_monitor_replays_on_a_copy_and_accepts_one_argument_steps(digits, module_cls, kwargs):
    def run(callbacks):
        module = module_cls(**kwargs)
        data = TensorDataset(*(t.clone() for t in digits.tensors))
        fit(module, data, [AttributionPrior("xg", "gini", weight=0.1), *callbacks])
        return module

    plain = run([])
    watched = run([PriorCostMonitor(every_n_steps=1, warmup_steps=0)])
    for a, b in zip(plain.parameters(), watched.parameters()):
        assert torch.equal(a, b)


# --- 5. in-place operation on the input inside the forward ---------------------------------------
def test_inplace_op_on_the_input_is_explained(digits):
    with pytest.raises(RuntimeError, match="modified a tensor in place"):
        fit(Classifier(inplace=True), digits, [AttributionPrior("xg", "gini")])
    module = PriorModule(_InplaceNet(), Prior("grad", "l1"), task="multiclass", num_classes=10)
    with pytest.raises(RuntimeError, match="out of place"):
        fit(module, digits)


class _InplaceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 10)

    def forward(self, x):
        x[:, 0] = 0.0
        return self.lin(x)


# --- 6. EG references through the batch transforms; BatchNorm statistics untouched ---------------
class ScaledInputs(PriorModule):
    """Its batches are transformed on the device: x -> 10 x."""

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        return 10.0 * x, y


def test_eg_references_go_through_the_batch_transforms(digits):
    seen = []
    model = MLP(64, hidden=(16,), out_features=10)
    module = ScaledInputs(model, Prior("eg", "gini", weight=0.1), task="multiclass",
                          num_classes=10)
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    fit(module, digits, max_steps=1)
    task_x, eg_points = seen[0], seen[1]
    assert task_x.max() > 5  # the transformed inputs
    # EG's points lie between transformed references and inputs: in the same range.
    assert eg_points.max() > 5 and eg_points.max() <= 10.0 + 1e-6
    refs = module.references(8)
    assert refs.max() > 5


def test_prior_forwards_leave_batchnorm_statistics_alone(digits):
    x, y = digits.tensors[0][:64], digits.tensors[1][:64]
    for method in ("eg", "ig", "smoothgrad"):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
        reference = copy.deepcopy(net)
        reference(x)  # the task's own forward only
        prior = Prior(method, "l1", weight=0.1)
        prior.compute(net.train(), x, y, references=digits.tensors[0])
        for (name, a), b in zip(net.state_dict().items(), reference.state_dict().values()):
            assert torch.equal(a, b), (method, name)


# --- 7. bad batches and bad settings ------------------------------------------------------------------
def _module(task="binary", features=8, classes=None):
    return PriorModule(MLP(features, hidden=(4,), out_features=classes or 1),
                       Prior("grad", "l1", weight=0.1), task=task, num_classes=classes)


@pytest.mark.parametrize("task, x, y, error, message", [
    ("binary", torch.zeros(0, 8), torch.zeros(0), ValueError, "empty batch"),
    ("multiclass", torch.zeros(0, 8), torch.zeros(0, dtype=torch.long), ValueError, "empty batch"),
    ("binary", torch.randn(4, 8), torch.tensor([0., 1., 2., 1.]), ValueError, "must be 0 or 1"),
    ("binary", torch.randn(4, 8), torch.tensor([0., float("nan"), 1., 1.]), ValueError, "NaN"),
    ("multiclass", torch.randn(4, 8), torch.tensor([0., 1.5, 2., 1.]), ValueError, "truncate"),
    ("multiclass", torch.randn(4, 8), torch.tensor([0, 1, 3, 1]), ValueError, r"\[0, 2\]"),
    ("binary", torch.randint(0, 5, (4, 8)), torch.tensor([0., 1., 0., 1.]), TypeError,
     "floating point"),
    ("binary", torch.randn(4, 7), torch.tensor([0., 1., 0., 1.]), ValueError,
     "7 features per example.*expects 8"),
])
def test_bad_batches_fail_naming_the_problem(task, x, y, error, message):
    module = _module(task, classes=3 if task == "multiclass" else None)
    with pytest.raises(error, match=message):
        module.training_step((x, y), 0)


def test_feature_count_check_follows_flatten_and_convolutions():
    from priors.checks import check_input_size

    mlp = MLP(784, hidden=(8,))  # Flatten, then Linear(784, ...)
    check_input_size(mlp, torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="783 features per example"):
        check_input_size(mlp, torch.zeros(2, 783))
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    check_input_size(cnn, torch.zeros(2, 3, 9, 9))
    with pytest.raises(ValueError, match="1 channels per example.*expects 3"):
        check_input_size(cnn, torch.zeros(2, 1, 9, 9))
    check_input_size(nn.Sequential(Double(), nn.Linear(4, 2)), torch.zeros(2, 5))  # unknown: no check


def test_float_class_labels_with_integral_values_still_work():
    loss = task_loss(torch.randn(4, 3), torch.tensor([0., 1., 2., 1.]), "multiclass", 3)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("kwargs, message", [
    ({"weight": float("inf")}, "finite, nonnegative"),
    ({"weight": float("nan")}, "finite, nonnegative"),
    ({"weight": -1.0}, "finite, nonnegative"),
    ({"method": "eg", "k": 2.5}, "k must be an integer"),
    ({"method": "ig", "n_steps": 7.5}, "n_steps must be an integer"),
    ({"warmup_steps": 1.5}, "warmup_steps"),
    ({"penalty_options": {"flor": 1.0}}, "no option flor"),
])
def test_bad_prior_settings(kwargs, message):
    kwargs = {"method": "xg", "penalty": "gini", **kwargs}
    with pytest.raises(ValueError, match=message):
        Prior(**kwargs)
    if "k" in kwargs:
        with pytest.raises(ValueError, match="k must be an integer"):
            get_method("eg").fn(lambda z: z.sum(1), torch.randn(2, 3), torch.randn(5, 3), k=2.5)


class DictItems(Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"image": self.x[i], "label": 0}


def test_reference_sampler_reads_dict_items():
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match=r"keys \['image', 'label'\].*input_index='<key"):
        ReferenceSampler(DictItems(x))(4)
    refs = ReferenceSampler(DictItems(x), input_index="image", seed=0)(4)
    assert refs.shape == (4, 3) and all(any(torch.equal(r, row) for row in x) for r in refs)
    with pytest.raises(ValueError, match="input_index=5"):
        ReferenceSampler(TensorDataset(x, x), input_index=5).__class__._input_of(
            ReferenceSampler(TensorDataset(x, x), input_index=5), (x[0], x[0]))


# --- 8. non-finite loss or penalty during training -------------------------------------------------
class NaNAt(nn.Module):
    """An MLP whose output is NaN on the batch whose first input is marked."""

    def __init__(self):
        super().__init__()
        self.net = MLP(64, hidden=(16,), out_features=10)

    def forward(self, x):
        out = self.net(x)
        return torch.where((x[:, :1] < -0.5), torch.full_like(out, float("nan")), out)


def _nan_data(digits):
    x, y = digits.tensors[0].clone(), digits.tensors[1]
    x[64:128, 0] = -1.0  # the second batch poisons its outputs
    return TensorDataset(x, y)


def test_nonfinite_loss_stops_with_step_method_and_penalty(digits):
    module = PriorModule(NaNAt(), Prior("grad", "l1", weight=0.1), task="multiclass",
                         num_classes=10)
    with pytest.raises(FloatingPointError, match=r"training step 1 \(attribution method 'grad', "
                                                 r"penalty 'l1': loss=nan, task loss=nan, "
                                                 r"l1 penalty=0\)"):
        fit(module, _nan_data(digits))


def test_nonfinite_loss_can_be_skipped_and_counted(digits):
    module = PriorModule(NaNAt(), Prior("grad", "l1", weight=0.1), task="multiclass",
                         num_classes=10, on_nonfinite="skip")
    trainer = fit(module, _nan_data(digits), epochs=2)
    # Lightning still counts the skipped batches' (empty) optimizer steps.
    assert module.skipped_batches == 2 and trainer.global_step == 6
    assert float(trainer.callback_metrics["train/skipped_batches"]) == 2
    assert all(torch.isfinite(p).all() for p in module.parameters())
    with pytest.raises(ValueError, match="on_nonfinite"):
        PriorModule(NaNAt(), on_nonfinite="ignore")


# --- 9. the Gini penalty's gradient at tiny attributions ------------------------------------------
def test_gini_floor_bounds_the_gradient_and_warmup_ramps_the_weight():
    torch.manual_seed(0)
    base = torch.rand(16, 50)

    def grad_norm(scale, **options):
        a = (scale * base).requires_grad_(True)
        gini_penalty(a, **options).backward()
        return float(a.grad.norm())

    # Scale-invariant: the gradient grows as 1 / scale without a floor...
    assert grad_norm(1e-6) > 1e5 * grad_norm(1.0)
    assert grad_norm(1e-9) > 500 * grad_norm(1e-6)
    # ...and stays bounded with a floor (below the gradient at the floor's scale without it),
    # while attributions far above the floor keep their Gini value.
    assert grad_norm(1e-6, floor=1e-3) < grad_norm(1e-3)
    assert grad_norm(1e-9, floor=1e-3) < 1.01 * grad_norm(1e-6, floor=1e-3)
    assert abs(float(gini_penalty(base, floor=1e-3)) - float(gini_penalty(base))) < 0.01
    with pytest.raises(ValueError, match="floor"):
        gini_penalty(base, floor=-1.0)
    prior = Prior("xg", "gini", weight=0.4, warmup_steps=4, penalty_options={"floor": 1e-3})
    assert [prior.weight_at(s) for s in range(6)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    model = MLP(50, hidden=(8,), bias=False)
    out = prior.compute(model, base, step=1)
    torch.testing.assert_close(out.weighted, 0.2 * out.penalty)
