"""Sanity checks (Adebayo et al. 2018): similarities, layer randomization, the digits finding."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from skimage.feature import hog
from skimage.metrics import structural_similarity

from priors.evaluation.randomize import parameter_layers, randomized_models
from priors.evaluation.roar import compose_train_config
from priors.evaluation.sanity import run_sanity
from priors.evaluation.similarity import hog_pearson, similarities, spearman, ssim
from priors.models.small_cnn import SmallCNN
from priors.pipeline import run



def _normalized(a: torch.Tensor) -> np.ndarray:
    m = a.sum(1).abs().double().numpy()  # |pixel attribution| (masking.pixel_attribution)
    return m / m.reshape(len(m), -1).max(1).reshape(-1, 1, 1)


def test_similarities_agree_with_scipy_and_scikit_image():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(4, 3, 20, 20, generator=gen)
    b = a + torch.randn(4, 3, 20, 20, generator=gen)  # correlated, not equal
    fa, fb = a.flatten(1).numpy(), b.flatten(1).numpy()
    np.testing.assert_allclose(spearman(a, b), [stats.spearmanr(u, v).statistic
                                                for u, v in zip(fa, fb)], atol=1e-12)
    np.testing.assert_allclose(spearman(a, b, absolute=True),
                               [stats.spearmanr(abs(u), abs(v)).statistic for u, v in zip(fa, fb)],
                               atol=1e-12)
    np.testing.assert_allclose(spearman(a, -a), -1.0)
    np.testing.assert_allclose(spearman(a, -a, absolute=True), 1.0)
    na, nb = _normalized(a), _normalized(b)
    ref = [structural_similarity(u, v, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0)
           for u, v in zip(na, nb)]
    np.testing.assert_allclose(ssim(a, b), ref, atol=1e-6)
    np.testing.assert_allclose(ssim(a, a), 1.0, atol=1e-6)
    hog_ref = [stats.pearsonr(hog(u, pixels_per_cell=(4, 4), cells_per_block=(2, 2)),
                              hog(v, pixels_per_cell=(4, 4), cells_per_block=(2, 2))).statistic
               for u, v in zip(na, nb)]
    np.testing.assert_allclose(hog_pearson(a, b), hog_ref, atol=1e-10)
    assert 0.1 < np.mean(hog_ref) < 0.99  # the test compares non-trivial values
    tab = similarities(a.flatten(1), b.flatten(1))
    assert np.isnan(tab["ssim"]).all() and np.isnan(tab["hog"]).all()
    with pytest.raises(ValueError, match="equal shapes"):
        spearman(a, b[:2])


def test_cascading_and_independent_randomization_reset_the_right_layers():
    model = SmallCNN(image_size=8, bias=True)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    names = [n for n, _ in parameter_layers(model)]
    assert names == ["features.0", "features.3", "classifier.1", "classifier.3"]

    def changed(m):
        return [n for n in names if not torch.equal(m.get_submodule(n).weight,
                                                    trained[n + ".weight"])]

    cascading = [(layer, changed(m)) for layer, m in randomized_models(model, "cascading")]
    assert [c for _, c in cascading] == [names[-i:][::1] for i in range(1, 5)]
    assert [layer for layer, _ in cascading] == names[::-1]
    independent = [changed(m) for _, m in randomized_models(model, "independent")]
    assert independent == [[n] for n in names[::-1]]
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory) -> Path:
    """SmallCNN (with biases) trained on scikit-learn's digits at 16x16, weights saved."""
    out = tmp_path_factory.mktemp("digits_cnn")
    run(compose_train_config(["experiment=roar_digits", "model.bias=true", "logger=none",
                              "threads=1", "trainer.max_epochs=10", f"paths.output_dir={out}"]))
    return out


def test_cascading_randomization_separates_gradient_from_guided_backprop(digits_cnn):
    frame = run_sanity(digits_cnn, methods=["grad", "guided_backprop"], n_examples=32,
                       overrides=["logger=none", "trainer.max_epochs=2"])
    casc = frame[(frame.randomization == "cascading") & (frame.metric == "spearman")]
    grad = casc[casc.method == "grad"].set_index("step")["mean"]
    gb = casc[casc.method == "guided_backprop"].set_index("step")["mean"]
    print(casc.pivot(index="method", columns="layer", values="mean"))
    # Adebayo et al.: the gradient depends on the weights; Guided Backprop barely on the top ones.
    assert grad.iloc[-1] < 0.3
    assert gb.loc[1] > 0.3 and gb.loc[2] > 0.3
    assert gb.loc[1] > grad.loc[1] + 0.3
    indep = frame[(frame.randomization == "independent") & (frame.metric == "spearman")]
    assert len(indep) == 2 * 5  # 2 methods x (original + 4 layers)
    labels = frame[frame.randomization == "labels"]
    assert set(labels.method) == {"grad", "guided_backprop"}
    assert labels["mean"].notna().all() and labels["random_label_test_acc"].iloc[0] < 0.5
    out = digits_cnn / "sanity"
    for name in ("sanity.csv", "sanity_cascading.png", "sanity_independent.png",
                 "sanity_maps_cascading.png", "sanity_maps_independent.png",
                 "sanity_maps_labels.png"):
        assert (out / name).is_file(), name
