"""ViT attribution methods: batching, grids, rollout by hand, class specificity, CUDA, priors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from priors import Prior
from priors.attributions import available_methods, get_method
from priors.models import ViT

# Every ViT-only method of the registry gets the tests below.
METHODS = tuple(available_methods(requires_vit=True))


def _vit(seed=0, dtype=torch.float64, **sizes):
    torch.manual_seed(seed)
    kw = dict(image_size=28, patch_size=4, in_channels=1, num_classes=10, depth=2, heads=2,
              dim=16)
    kw.update(sizes)
    model = ViT(**kw).to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def test_methods_are_registered_and_differentiable():
    # The six methods of Chefer et al. (CVPR 2021, ICCV 2021) and their baselines are registered.
    assert set(METHODS) >= {"transformer_attribution", "gradient_weighted_attention",
                            "partial_lrp", "attention_gradcam", "rollout", "raw_attention"}
    assert set(METHODS) <= set(available_methods(differentiable=True))
    assert not get_method("rollout").uses_target
    assert get_method("transformer_attribution").uses_target
    with pytest.raises(ValueError, match="priors.models.ViT"):
        get_method("rollout")(torch.nn.Linear(4, 2), torch.rand(2, 4))


@pytest.mark.parametrize("name", METHODS)
def test_a_batch_equals_single_image_calls(name):
    model = _vit()
    x = torch.rand(8, 1, 28, 28, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 3, 9, 9, 4, 0])
    batch = get_method(name)(model, x, target)
    assert batch.shape == x.shape and not batch.requires_grad
    singles = torch.cat([get_method(name)(model, x[i:i + 1], int(target[i])) for i in range(8)])
    torch.testing.assert_close(batch, singles, rtol=1e-9, atol=1e-12)
    assert float(batch.std()) > 0


@pytest.mark.parametrize("patch, grid", [(4, 7), (7, 4), (2, 14)])
@pytest.mark.parametrize("name", METHODS)
def test_any_patch_grid(name, patch, grid):
    model = _vit(patch_size=patch, dtype=torch.float32)
    assert model.grid == (grid, grid)
    x = torch.rand(3, 1, 28, 28)
    attr = get_method(name)(model, x, torch.tensor([1, 2, 3]))
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    # One value per grid cell: the map averaged over patches varies across the grid (Grad-CAM
    # may be all zero on a random model: its weighted attention can be negative everywhere).
    cells = F.avg_pool2d(attr, patch)
    assert cells.shape[-2:] == (grid, grid)
    assert float(cells.std()) > 0 or (name == "attention_gradcam" and (attr >= 0).all())


def test_rollout_equals_a_hand_computed_product():
    model = _vit(image_size=6, patch_size=1, depth=2, heads=3, dim=6)
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    sd = model.state_dict()
    # Attention of each block from the formulas (softmax(q k^T / sqrt(d_head)) per head).
    h = x.flatten(2).transpose(1, 2) * sd["patch_embed.proj.weight"].view(1, 1, 6)
    h = h + sd["patch_embed.proj.bias"]
    h = torch.cat([sd["cls_token"].expand(2, 1, 6), h], 1) + sd["pos_embed"]
    means = []
    for block in model.blocks:
        n1 = block.norm1(h)
        q, k, v = (n1 @ block.attn.qkv.weight.T + block.attn.qkv.bias).split(6, -1)
        heads = [torch.softmax(q[..., j:j + 2] @ k[..., j:j + 2].transpose(1, 2) / 2 ** 0.5, -1)
                 for j in (0, 2, 4)]
        means.append(sum(heads) / 3)
        h = block(h)
    eye = torch.eye(37, dtype=torch.float64)
    # Abnar & Zuidema: A_hat = 0.5 A + 0.5 I (rows of A sum to 1), rollout A_hat_2 @ A_hat_1.
    expected = (0.5 * means[1] + 0.5 * eye) @ (0.5 * means[0] + 0.5 * eye)
    # 6x6 grid = the image: the upsampling is the identity. start_layer=0: every block.
    out = get_method("rollout")(model, x, start_layer=0)
    torch.testing.assert_close(out[:, 0], expected[:, 0, 1:].reshape(2, 6, 6), rtol=1e-10,
                               atol=1e-12)
    # The default start_layer=1 (Chefer et al.'s evaluation setting) leaves block 0 out.
    last = get_method("rollout")(model, x)
    torch.testing.assert_close(last[:, 0], (0.5 * means[1] + 0.5 * eye)[:, 0, 1:].reshape(2, 6, 6),
                               rtol=1e-10, atol=1e-12)
    raw = get_method("raw_attention")(model, x)
    torch.testing.assert_close(raw[:, 0], means[1][:, 0, 1:].reshape(2, 6, 6))


def _digit_pairs(n, idx, images, labels, gen):
    a = idx[torch.randint(len(idx), (n,), generator=gen)]
    b = idx[torch.randint(len(idx), (n,), generator=gen)]
    return torch.cat([images[a], images[b]], 2).unsqueeze(1), labels[a], labels[b]


@pytest.fixture(scope="module")
def pair_model():
    """A tiny ViT trained (~15 s on one thread) to detect both digits of two sklearn digits side by
    side (8x16 images, 4x4 patches: a 2x4 grid), multi-label."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    digits = load_digits()
    images = torch.tensor(digits.images / 16.0, dtype=torch.float32)
    labels = torch.tensor(digits.target)
    gen = torch.Generator().manual_seed(0)
    x, ya, yb = _digit_pairs(4000, torch.arange(1400), images, labels, gen)
    y = F.one_hot(ya, 10).float().maximum(F.one_hot(yb, 10).float())
    torch.manual_seed(0)
    model = ViT((8, 16), 4, 1, 10, depth=2, heads=2, dim=32, mlp_ratio=2.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(8):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            loss = F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.set_num_threads(threads)
    xs, a, b = _digit_pairs(300, torch.arange(1400, 1797), images, labels, gen)
    keep = a != b
    return model.eval(), xs[keep], a[keep], b[keep]


def _left_share(maps):
    return maps[..., :8].flatten(1).sum(1) / maps.flatten(1).sum(1)


@pytest.mark.parametrize("name", ["transformer_attribution", "gradient_weighted_attention"])
def test_class_specific_maps_find_each_targets_digit(pair_model, name):
    model, x, left, right = pair_model
    with torch.no_grad():  # the model learned the task: both digits among its top-2 mostly
        top2 = model(x).topk(2, 1).indices
    assert float(((top2 == left[:, None]).any(1) & (top2 == right[:, None]).any(1))
                 .float().mean()) > 0.6
    share_left = _left_share(get_method(name)(model, x, left))
    share_right = _left_share(get_method(name)(model, x, right))
    # Seed 0 measured: transformer attribution 0.73 vs 0.23 and 97% of pairs ordered;
    # the gradient-weighted rule 0.73 vs 0.25 and 99.6%.
    assert float(share_left.mean()) > 0.6 and float(share_right.mean()) < 0.4
    assert float((share_left > share_right).float().mean()) > 0.85


def test_rollout_and_raw_attention_are_class_agnostic(pair_model):
    model, x, left, right = pair_model
    for name in ("rollout", "raw_attention"):
        torch.testing.assert_close(get_method(name)(model, x), get_method(name)(model, x))
    # Same map for both targets, so the test above would fail for them.
    assert not get_method("rollout").uses_target


@pytest.mark.parametrize("name", ["gradient_weighted_attention", "transformer_attribution"])
def test_create_graph_gives_parameter_gradients_and_a_prior(name):
    model = _vit()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([1, 2, 3, 4])
    mask = torch.zeros_like(x)
    mask[..., :8, :8] = 1
    prior = Prior(name, "masked_l2", weight=2.0)
    loss = prior(model, x, y, mask)
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    assert loss.requires_grad and float(loss.detach()) > 0
    nonzero = [n for (n, _), g in zip(model.named_parameters(), grads)
               if g is not None and float(g.abs().sum()) > 0]
    assert "blocks.0.attn.qkv.weight" in nonzero and "patch_embed.proj.weight" in nonzero
    assert float(Prior(name, "tv", weight=1.0)(model, x, y).detach()) > 0


def test_gradient_weighted_prior_passes_gradcheck():
    """The double backward is the derivative of the map (finite differences, float64)."""
    model = _vit(image_size=8, patch_size=4, depth=2, heads=2, dim=4)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    qkv = model.blocks[0].attn.qkv
    original = qkv.weight

    def penalty(w):  # the squared map as a function of one weight matrix
        del qkv.weight
        qkv.weight = w
        try:
            return get_method("gradient_weighted_attention")(
                model, x, torch.tensor([1, 2]), create_graph=True).pow(2).sum()
        finally:
            qkv.weight = original

    w0 = original.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(penalty, (w0,), eps=1e-6, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA device; this machine has none (runs where one exists)")
@pytest.mark.parametrize("name", METHODS)
def test_same_maps_on_cuda(name):
    model = _vit(dtype=torch.float64)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    target = torch.tensor([0, 3, 5, 9])
    cpu = get_method(name)(model, x, target)
    gpu = get_method(name)(model.cuda(), x.cuda(), target.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-7, atol=1e-10)
    prior = Prior(name, "tv", weight=1.0)
    loss = prior(model, x.cuda(), target.cuda())
    loss.backward()
    assert model.head.weight.grad.device.type == "cuda"
