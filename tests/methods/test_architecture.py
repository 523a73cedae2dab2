"""The layer table: hand-worked LeNet-5 figures, torchvision's own MAC counts, one forward pass."""
import importlib
from itertools import pairwise

import pytest
import torch

from cnnviz.core import zoo as zoo
from cnnviz.core.model import ModelHandle
from cnnviz.methods.architecture import CASE_STUDIES, compact, layer_table, receptive_fields_or_none, totals


def _meta_handle(name: str) -> ModelHandle:
    """The untrained zoo architecture on the meta device: shapes and counts without computing."""
    with torch.device("meta"):
        module = zoo.finish_zoo_module(name, zoo.build_zoo_module(name, for_weights=False)).eval()
    return ModelHandle(name, module, torch.device("meta"), [], (3, 224, 224), (0.0,) * 3, (1.0,) * 3, name)


def test_lenet_table_by_hand(lenet):
    rows = layer_table(lenet)
    conv = [r for r in rows if r.type in ("Conv2d", "Linear")]
    # conv1 6@5x5 pad 2 on 28x28: 28·28·6 outputs x 25 MACs; conv2 16@5x5 on 6x14x14: 10·10·16 x 150
    assert [(r.output_shape, r.params, r.macs) for r in conv] == [
        ((6, 28, 28), 156, 117_600), ((16, 10, 10), 2_416, 240_000),
        ((120,), 48_120, 48_000), ((84,), 10_164, 10_080), ((10,), 850, 840)]
    assert rows[0].kernel == (5, 5) and rows[0].stride == (1, 1) and rows[0].padding == (2, 2)
    t = totals(rows, lenet)
    assert (t.params, t.macs, t.unused_params) == (61_706, 416_520, 0)
    assert [r.type for r in compact(rows)] == ["Conv2d", "MaxPool2d", "Conv2d", "MaxPool2d", "Flatten",
                                                "Linear", "Linear", "Linear"]


def test_lenet_receptive_fields_in_table(lenet):
    fields, why = receptive_fields_or_none(lenet)
    if fields is None:
        pytest.skip(why)
    rows = {r.name: r for r in layer_table(lenet, fields)}
    # 5x5 conv: 5; 2x2 pool: 6 (jump 2); 5x5 conv: 6 + 4·2 = 14; pool: 14 + 2 = 16
    assert [rows[n].rf for n in ("features.0", "features.2", "features.3", "features.5")] == [
        (5, 5),
        (6, 6),
        (14, 14),
        (16, 16),
    ]
    assert rows["classifier.1"].rf is None  # a fully connected unit sees the whole image


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_macs_and_params_match_torchvision(name):
    """torchvision publishes GMACs ('_ops') and parameter counts for each model: ours must agree."""
    h = _meta_handle(name)
    t = totals(layer_table(h), h)
    meta = zoo.zoo_weights(name).meta
    assert t.macs / 1e9 == pytest.approx(meta["_ops"], abs=0.0015)
    assert t.params == t.model_params == meta["num_params"]


def test_multi_branch_models_have_repeated_calls_named(resnet18_untrained):
    rows = layer_table(resnet18_untrained)
    names = [r.name for r in rows]
    assert "layer1.0.relu" in names and "layer1.0.relu#2" in names
    assert len(names) == len(set(names))
    assert rows[-1].output_shape == (1000,)
    down = next(r for r in rows if r.name == "layer2.0.downsample.0")
    assert down.kernel == (1, 1) and down.stride == (2, 2) and down.output_shape == (128, 28, 28)


def test_googlenet_branches_concatenate():
    rows = {r.name: r for r in layer_table(_meta_handle("googlenet"))}
    outs = [
        rows[n].output_shape
        for n in (
            "inception3a.branch1.conv",
            "inception3a.branch2.1.conv",
            "inception3a.branch3.1.conv",
            "inception3a.branch4.1.conv",
        )
    ]
    assert outs == [(64, 28, 28), (128, 28, 28), (32, 28, 28), (32, 28, 28)]
    # the four branches are concatenated: 64+128+32+32 = 256 channels enter inception3b (1x1 conv to 128, no bias)
    assert rows["inception3b.branch1.conv"].params == 256 * 128


def test_layer_table_runs_one_forward_pass(monkeypatch):
    # the module that defines ModelHandle (cnnviz.core.handle) is where its methods look up capture
    model_module = importlib.import_module(ModelHandle.__module__)

    h = _meta_handle("resnet50")  # a fresh handle: nothing cached yet
    calls = []
    real = model_module.capture

    def counting(*args, **kwargs):  # every forward pass of ModelHandle.layers goes through the capture engine
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model_module, "capture", counting)
    rows = layer_table(h)
    layer_table(h)
    assert len(calls) == 1 and len(rows) > 150


def test_case_studies_cover_the_zoo():
    for arch in ("lenet5", "alexnet", "vgg16", "googlenet", "resnet18", "resnet50"):
        assert arch in CASE_STUDIES and CASE_STUDIES[arch].introduced


def test_depth_profile_follows_the_main_path(resnet18_untrained):
    from cnnviz.methods.architecture import depth_profile, main_path

    assert main_path(resnet18_untrained.module)[:6] == ["conv1", "bn1", "relu", "maxpool", "layer1.0", "layer1.1"]
    fields, why = receptive_fields_or_none(resnet18_untrained)
    if fields is None:
        pytest.skip(why)
    prof = {p.name: p for p in depth_profile(resnet18_untrained, layer_table(resnet18_untrained, fields), fields)}
    # block outputs, not branches: layer2.0 ends at 128x28x28; conv1 7x7 s2 then 3x3/2 pool: RF 7 then 11
    assert prof["layer2.0"].output_shape == (128, 28, 28)
    assert prof["conv1"].rf == 7 and prof["maxpool"].rf == 11
    assert "layer2.0.downsample.0" not in prof


def test_by_type_sums_lenet_by_hand(lenet):
    from cnnviz.methods.architecture import by_type

    groups = {g["type"]: g for g in by_type(layer_table(lenet))}
    # convs 156 + 2,416 params and 117,600 + 240,000 MACs; linears 48,120 + 10,164 + 850 and 48,000 + 10,080 + 840
    assert (groups["Conv2d"]["layers"], groups["Conv2d"]["params"], groups["Conv2d"]["MACs"]) == (2, 2_572, 357_600)
    assert (groups["Linear"]["layers"], groups["Linear"]["params"], groups["Linear"]["MACs"]) == (3, 59_134, 58_920)
    assert groups["Linear"]["share of params"] == f"{59_134 / 61_706:.1%}" == "95.8%"
    assert groups["Conv2d"]["share of MACs"] == f"{357_600 / 416_520:.1%}"
    assert [g["type"] for g in by_type(layer_table(lenet))][0] == "Conv2d"  # most MACs first


def test_table_records_and_depth_steps(lenet):
    from cnnviz.methods.architecture import depth_steps, table_records

    rows = layer_table(lenet)
    rec = table_records(rows, receptive_field=False)
    assert "receptive field" not in rec[0] and rec[0]["output"] == "6×28×28" and rec[0]["kernel"] == "5"
    assert "receptive field" in table_records(rows)[0]
    steps = depth_steps(lenet, rows, None)
    assert steps[0].name == "input" and steps[0].output_shape == (1, 28, 28) and steps[0].rf is None
    assert [p.output_shape for p in steps[1:]] == [r.output_shape for r in rows if r.spatial][: len(steps) - 1]


def test_model_card_rows_of_bundled_lenet(lenet):
    from cnnviz.methods.architecture import model_card_rows

    card = model_card_rows(lenet)
    assert card["Parameters"] == f"{sum(p.numel() for p in lenet.module.parameters()):,}" == "61,706"
    assert card["Input"] == "1×28×28 (grayscale)"
    assert card["Classes"] == "10: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"
    assert card["Test accuracy"].startswith(f"{lenet.card['test_accuracy']:.2%} on ")
    assert card["Weights"] == "bundled, trained by cnnviz" and card["Reproduce"].startswith("`python -m cnnviz.train")
    untrained = model_card_rows(lenet.untrained())
    assert untrained["Weights"] == "random (untrained)" and untrained["Test accuracy"] == "— (untrained or unknown)"


def test_outline_keeps_each_change_of_shape_then_the_classifier(lenet, resnet18_untrained):
    from cnnviz.methods.architecture import depth_steps, outline

    rows = layer_table(lenet)
    vols = outline(depth_steps(lenet, rows, None), rows)
    assert [n for n, _ in vols] == ["input", "features.0", "features.2", "features.3", "features.5", "classifier.1",
                                    "classifier.3", "classifier.5"]
    assert vols[-1][1] == (10, 1, 1)
    fields, _ = receptive_fields_or_none(resnet18_untrained)
    rows = layer_table(resnet18_untrained, fields)
    shapes = [s for _, s in outline(depth_steps(resnet18_untrained, rows, fields), rows)]
    assert all(a != b for a, b in pairwise(shapes))  # a block that keeps the shape adds no box
    assert shapes[-1] == (1000, 1, 1)
