"""The shared pieces: the class explained, the model input, the black reference, batched passes, the heat."""
import pytest
import torch

import cnnviz
from cnnviz.errors import CnnvizError
from cnnviz.methods.attribution.base import (
    Attribution,
    AttributionError,
    batched_logits,
    black_input,
    class_score,
    input_gradients,
    model_input,
    resolve_target,
)

from ...conftest import SAMPLES
from .conftest import X


def test_tiny_model_logits_as_worked_out(tiny):
    assert torch.allclose(tiny.logits(X), torch.tensor([[3.0, -2.0]]))
    assert resolve_target(tiny, X, None) == 0
    assert resolve_target(tiny, X, "neg") == 1 and resolve_target(tiny, X, "NEG") == 1


def test_bad_targets_say_the_fix(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    with pytest.raises(ValueError, match="m.classes"):
        resolve_target(lenet, x, "cat")
    with pytest.raises(ValueError, match="0..9"):
        resolve_target(lenet, x, 10)
    with pytest.raises(AttributionError, match="one image") as e:
        model_input(lenet, x.expand(2, -1, -1, -1))
    assert isinstance(e.value, CnnvizError)


def test_class_score_input_gradients_and_batched_logits_by_hand(tiny):
    # the target logit summed over the batch: 2 + 4
    assert float(class_score(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)) == 6.0
    # d y0 / d x = 0.75 * mask for every copy of the batch (chunks of 2, 2 and 1 give the same)
    g = input_gradients(tiny, X.expand(5, -1, -1, -1), 0, batch_size=2)
    assert torch.allclose(g, torch.tensor([[0.75, 0.0], [0.75, 0.0]]).expand(5, 1, 2, 2))
    # 2X doubles both logits: [6, -4]; run in chunks of 1
    z = batched_logits(tiny, torch.cat([X, 2 * X]), batch_size=1)
    assert torch.allclose(z, torch.tensor([[3.0, -2.0], [6.0, -4.0]]))


def test_black_input_is_zero_pixels_through_the_models_normalisation(lenet):
    x = model_input(lenet, cnnviz.load_image(SAMPLES / "digit-7.png"))
    # MNIST: (0 - 0.1307) / 0.3081 everywhere
    assert torch.allclose(black_input(lenet, x), torch.full_like(x, -0.1307 / 0.3081), atol=1e-6)
    assert torch.allclose(lenet.to_pixels(black_input(lenet, x)), torch.zeros_like(x), atol=1e-6)


def test_heat_keeps_the_positive_part_scaled_to_one():
    a = Attribution("occlusion", 0, torch.tensor([[4.0, -4.0], [2.0, 0.0]]))
    assert torch.equal(a.heat(), torch.tensor([[1.0, 0.0], [0.5, 0.0]]))
    assert torch.equal(Attribution("saliency", 0, torch.zeros(2, 2)).heat(), torch.zeros(2, 2))
