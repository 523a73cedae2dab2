"""cnnviz.methods.kernels.learned: a model's filters, their order, and one filter slid over an image as the network
does (checked against the network's own activations)."""
import pytest
import torch
from PIL import Image

from cnnviz.errors import CnnvizError, LayerError
from cnnviz.methods.kernels import (
    KernelError,
    apply_kernel,
    apply_learned_filter,
    classic_kernel,
    cluster_filters,
    conv_groups,
    filter_order,
    first_conv_layer,
    gaussian,
    learned_filters,
    sort_by_norm,
)
from cnnviz.methods.kernels import filter_response as kn_filter_response
from tests.conftest import SAMPLES


def test_sort_and_cluster():
    sob, gau = classic_kernel("sobel_x"), gaussian(3, 1.0)
    scales = [3.0, 1.0, 2.0]
    w = torch.stack([s * sob for s in scales] + [s * gau for s in (0.5, 5.0)]).unsqueeze(1)
    # norms: 3, 1, 2 x sqrt(12) = 10.4, 3.5, 6.9 for the Sobels; 0.5, 5 x |g| = 0.18, 1.77 (|g| = 0.354)
    assert float(gau.norm()) == pytest.approx(0.354, abs=1e-3)
    assert sort_by_norm(w).tolist() == [0, 2, 1, 4, 3]
    order, labels = cluster_filters(w, 2)
    assert labels.tolist() == [0, 0, 0, 1, 1]  # Sobels (3 filters) form the larger cluster
    assert order.tolist() == [0, 2, 1, 4, 3]  # by cluster, strongest first within it


def test_learned_filters_of_lenet(lenet):
    name = first_conv_layer(lenet)
    w = learned_filters(lenet, name)
    assert w.shape == (6, 1, 5, 5)
    assert w.data_ptr() == dict(lenet.module.named_modules())[name].weight.data_ptr()
    with pytest.raises(TypeError, match="conv_layer_names"):
        learned_filters(lenet, lenet.layer_names()[1])
    with pytest.raises(KeyError, match="conv_layer_names"):
        learned_filters(lenet, "nope")


def test_apply_learned_filter_matches_the_network(lenet):
    # LeNet's first conv has stride 1 and padding 2 ('same' for 5x5), so the map must equal its activation
    img = Image.open(SAMPLES / "digit-3.png")
    name = first_conv_layer(lenet)
    act = lenet.activations(img, [name])[name][0]
    for f in (0, 5):
        assert torch.allclose(apply_learned_filter(lenet, name, f, img), act[f], atol=1e-5)
    with pytest.raises(IndexError, match="0..5"):
        apply_learned_filter(lenet, name, 6, img)


def test_filter_response_equals_apply_kernel_on_normalised_input(lenet):
    # a classic template through the network's view must equal apply_kernel on the normalised
    # input with zero padding (a second path to the same numbers)
    img = Image.open(SAMPLES / "digit-7.png")
    sob = classic_kernel("sobel_x")
    x = lenet.preprocess(img)[0]
    expected = apply_kernel(x, sob, padding="zeros")[0]
    assert torch.allclose(kn_filter_response(lenet, sob[None], img), expected, atol=1e-5)
    with pytest.raises(ValueError, match="first conv layer"):
        kn_filter_response(lenet, sob.expand(3, 3, 3), img)


def test_filter_order_is_the_chosen_method():
    sob, gau = classic_kernel("sobel_x"), gaussian(3, 1.0)
    w = torch.stack([1.0 * sob, 3.0 * sob, 0.5 * gau, 5.0 * gau]).unsqueeze(1)
    assert filter_order(w, "index") == ([0, 1, 2, 3], None)
    assert filter_order(w, "norm") == (sort_by_norm(w).tolist(), None) == ([1, 0, 3, 2], None)
    order, labels = filter_order(w, "cluster", 2)
    assert labels == [0, 0, 1, 1] and order == [1, 0, 3, 2]  # equal-size clusters: the first found stays 0
    with pytest.raises(KernelError, match="index, norm, cluster"):
        filter_order(w, "random")



def test_conv_groups_reads_the_layer():
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8))
    assert conv_groups(net, "0") == 1 and conv_groups(net, "1") == 8
    assert learned_filters(net, "1").shape == (8, 1, 3, 3)  # depthwise: one input channel per filter


def test_domain_errors_are_cnnviz_errors(lenet):
    with pytest.raises(LayerError):
        learned_filters(lenet, "nope")
    with pytest.raises(CnnvizError):
        learned_filters(lenet, lenet.layer_names()[1])
    with pytest.raises(KernelError, match="no Conv2d"):
        first_conv_layer(torch.nn.Sequential(torch.nn.Linear(2, 2)))
