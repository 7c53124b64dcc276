"""X-models from torchvision's AlexNet / VGG-16 weights: biases dropped, with a note."""
from __future__ import annotations

import pytest
import torch

from priors.models import XAlexNet, XVGG16, load_torchvision_weights
from priors.training.xdnn import check_homogeneity, to_xdnn

torchvision = pytest.importorskip("torchvision")


def _check(tv, xmodel, size):
    tv = tv.eval()
    with torch.no_grad():  # trained-like biases (torchvision's VGG initializes them to 0)
        for name, p in tv.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.1)
    with pytest.warns(UserWarning, match="biases dropped.*accuracy changes until it is "
                                         "fine-tuned"):
        dropped = load_torchvision_weights(xmodel, tv.state_dict())
    assert len(dropped) == sum(1 for k in tv.state_dict() if k.endswith(".bias")) > 0
    with pytest.warns(UserWarning, match="to_xdnn: .* biases dropped"):
        reference = to_xdnn(tv)  # torchvision's own network without its biases
    x = torch.rand(2, 3, size, size)
    xmodel = xmodel.eval()
    with torch.no_grad():
        torch.testing.assert_close(xmodel(x), reference(x), rtol=1e-5, atol=1e-6)
        assert float((tv(x) - xmodel(x)).abs().max()) > 0  # the function did change
    assert check_homogeneity(xmodel, x)


def test_xalexnet_loads_a_torchvision_alexnet_state_dict():
    torch.manual_seed(0)
    _check(torchvision.models.alexnet(weights=None, num_classes=10), XAlexNet(num_classes=10),
           64)
    with pytest.raises(ValueError, match="does not fit this XAlexNet"):
        load_torchvision_weights(XAlexNet(num_classes=10, width=0.5),
                                 torchvision.models.alexnet(weights=None, num_classes=10)
                                 .state_dict())


@pytest.mark.slow
def test_xvgg16_loads_a_torchvision_vgg16_state_dict():
    torch.manual_seed(0)
    _check(torchvision.models.vgg16(weights=None, num_classes=10), XVGG16(num_classes=10), 32)
