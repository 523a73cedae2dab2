"""The architecture registry: every model's architecture is in it, builds are seeded, and GoogLeNet's quirks."""
import pytest
import torch

from cnnviz.core import zoo
from cnnviz.core.architectures import REGISTRY, UnknownModelError, architecture


def test_every_model_of_the_zoo_and_the_bundle_has_its_architecture():
    assert set(zoo.ZOO) | {s["architecture"] for s in zoo.BUNDLED.values()} <= set(REGISTRY)
    with pytest.raises(UnknownModelError, match="unknown architecture 'lenet-7'. Known architectures: alexnet, "):
        architecture("lenet-7")


def test_builds_are_seeded_and_sized_by_hand():
    a, b = architecture("lenet5").build(10), architecture("lenet5").build(10)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    # conv 6@5x5 (156) + conv 16@6x5x5 (2,416) + fc 400->120 (48,120) + 120->84 (10,164) + 84->10 (850)
    assert sum(p.numel() for p in a.parameters()) == 61_706
    three = architecture("lenet5").build(3)
    assert three.classifier[-1].out_features == 3
    with torch.device("meta"):
        resnet = architecture("resnet18").build(7, for_weights=False)
    assert resnet.fc.out_features == 7 and resnet.fc.in_features == 512


def test_googlenet_quirks():
    gn = architecture("googlenet")
    with torch.device("meta"):
        for_file = gn.build()
        bare = gn.build(for_weights=False)
    # the ImageNet file carries two auxiliary heads and expects the input re-normalised inside the network
    assert for_file.aux1 is not None and for_file.transform_input is True
    assert bare.transform_input is False
    state = {k: v for k, v in for_file.state_dict().items() if not k.startswith("aux")}
    gn.fit_state(for_file, state)  # your own file, saved without the heads: the module drops them before loading
    assert for_file.aux1 is None and for_file.aux2 is None and for_file.aux_logits is False
    assert set(for_file.state_dict()) == set(state)
    with torch.device("meta"):
        untrained = gn.finish(gn.build(), trained=False)
    assert untrained.aux1 is None and untrained.transform_input is False  # random weights: no ImageNet transform
    with torch.device("meta"):
        served = gn.finish(gn.build(), trained=True)
    assert served.aux1 is None and served.transform_input is True
