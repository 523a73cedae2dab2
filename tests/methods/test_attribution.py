"""Attribution methods: hand-worked answers on a tiny model, second methods (Captum), shared-model safety."""
import gc
import tracemalloc

import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError
from cnnviz.methods.attribution import (
    METHODS,
    Attribution,
    AttributionError,
    LayerGradients,
    attribute,
    cam_from,
    deconvnet,
    deeplift,
    default_cam_layer,
    default_params,
    grad_cam,
    gradient_shap,
    guided_backprop,
    integrated_gradients,
    is_signed,
    occlusion,
    occlusion_positions,
    rank_correlation,
    resolve_target,
    saliency,
    signed_map,
    smoothgrad,
)

from ..conftest import SAMPLES, run_in_threads


def tiny_model() -> ModelHandle:
    """conv 1x1 (weights 1 and 2, no bias) -> ReLU -> global mean -> linear [[1, 1], [0, -1]].

    With x = [[1, -2], [3, -4]] the ReLU keeps the two positive pixels (mask [[1, 0], [1, 0]]) and
        y0 = 0.75 * sum(relu(x)) = 3,   y1 = -0.5 * sum(relu(x)) = -2.
    """
    conv = nn.Conv2d(1, 2, 1, bias=False)
    fc = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
        fc.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, -1.0]]))
    module = nn.Sequential(conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return ModelHandle("tiny", module, torch.device("cpu"), ["pos", "neg"], (1, 2, 2), (0.0,), (1.0,), "tiny")


X = torch.tensor([[[[1.0, -2.0], [3.0, -4.0]]]])


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


def test_tiny_model_logits_as_worked_out(tiny):
    assert torch.allclose(tiny.logits(X), torch.tensor([[3.0, -2.0]]))
    assert resolve_target(tiny, X, None) == 0
    assert resolve_target(tiny, X, "neg") == 1 and resolve_target(tiny, X, "NEG") == 1


def test_saliency_by_hand(tiny):
    # d y0 / d x = (1*1 + 1*2) / 4 * mask = 0.75 * mask;  d y1 / d x = (0*1 - 1*2) / 4 * mask = -0.5 * mask
    s0 = saliency(tiny, X, 0)
    assert torch.allclose(s0.map, torch.tensor([[0.75, 0.0], [0.75, 0.0]]))
    s1 = saliency(tiny, X, "neg")
    assert torch.allclose(s1.raw, torch.tensor([[[-0.5, 0.0], [-0.5, 0.0]]]))
    assert torch.allclose(s1.map, torch.tensor([[0.5, 0.0], [0.5, 0.0]]))


def test_grad_cam_by_hand(tiny):
    # class 0: grads of the conv maps are 0.25 * mask, averaged over 4 pixels -> alpha = (0.125, 0.125)
    #   cam = relu(0.125 * x + 0.125 * 2x) = relu(0.375 x)
    c0 = grad_cam(tiny, X, 0, layer="0")
    assert torch.allclose(c0.raw, torch.tensor([[0.375, 0.0], [1.125, 0.0]]))
    assert torch.allclose(c0.map, c0.raw)  # layer resolution = input resolution: upsampling is the identity
    # class 1: alpha = (0, -0.5 * 2 / 4 ... ) = (0, -0.125) -> cam = relu(-0.125 * 2x) = relu(-0.25 x)
    c1 = grad_cam(tiny, X, 1, layer="0")
    assert torch.allclose(c1.raw, torch.tensor([[0.0, 0.5], [0.0, 1.0]]))
    assert default_cam_layer(tiny) == "0"


def test_cam_from_formula():
    acts = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # 1, 2 maps, 1x2
    grads = torch.tensor([[[[2.0, 0.0]], [[-1.0, -1.0]]]])  # alphas 1 and -1
    # relu(1*[1, 2] - 1*[3, -1]) = relu([-2, 3]) = [0, 3]
    assert torch.equal(cam_from(acts, grads), torch.tensor([[[0.0, 3.0]]]))


def test_guided_backprop_by_hand(tiny):
    # class 0: all gradients reaching the ReLU are positive, so guided = plain gradient
    assert torch.allclose(guided_backprop(tiny, X, 0).raw, saliency(tiny, X, 0).raw)
    # class 1: the gradient at the ReLU output is (0, -0.25): guided backprop drops it -> zero
    assert torch.count_nonzero(guided_backprop(tiny, X, 1).raw) == 0


def test_occlusion_by_hand(tiny):
    # hiding pixel ij (fill 0) lowers y0 by 0.75 * relu(x_ij)
    occ = occlusion(tiny, X, 0, patch=1, stride=1)
    assert torch.allclose(occ.map, torch.tensor([[0.75, 0.0], [2.25, 0.0]]))
    assert occ.info["positions"] == 4
    # a 2x2 patch covers everything once: every pixel gets y0(x) - y0(0) = 3
    assert torch.allclose(occlusion(tiny, X, 0, patch=2, stride=1).map, torch.full((2, 2), 3.0))


def test_smoothgrad_without_noise_is_saliency(tiny):
    assert torch.allclose(smoothgrad(tiny, X, 0, samples=3, noise=0.0).map, saliency(tiny, X, 0).map)


def test_grad_cam_equals_captum_layer_gradcam(lenet, resnet18_untrained):
    from captum.attr import LayerGradCam

    for m, img, layer in [(lenet, SAMPLES / "digit-3.png", "features.3"),
                          (lenet, SAMPLES / "digit-8.png", "features.0"),
                          (resnet18_untrained, SAMPLES / "photo-cat.jpg", "layer4.1.conv2")]:
        x = m.preprocess(cnnviz.load_image(img))
        ours = grad_cam(m, x, None, layer=layer)
        mod = dict(m.module.named_modules())[layer]
        module = m.module
        theirs = LayerGradCam(module, mod).attribute(x, target=ours.target, relu_attributions=True)
        assert torch.allclose(ours.raw, theirs[0, 0], rtol=1e-4, atol=1e-6 * float(theirs.detach().abs().max()) + 1e-9), layer


def test_occlusion_equals_captum(lenet):
    from captum.attr import Occlusion

    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-5.png"))
    ours = occlusion(lenet, x, 5, patch=4, stride=4, batch_size=10)  # (28 - 4) / 4 + 1 = 7 positions a side
    module = lenet.module
    theirs = Occlusion(module).attribute(x, sliding_window_shapes=(1, 4, 4), strides=(1, 4, 4), target=5, baselines=0.0)
    assert ours.info["positions"] == 49
    assert torch.allclose(ours.map, theirs[0, 0], atol=1e-4)


def test_guided_backprop_equals_captum(lenet):
    from captum.attr import GuidedBackprop

    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-2.png"))
    ours = guided_backprop(lenet, x, 2)
    module = lenet.module
    theirs = GuidedBackprop(module).attribute(x.clone(), target=2)
    assert torch.allclose(ours.raw, theirs[0], atol=1e-6)



@pytest.mark.parametrize("name,img", [("lenet5-mnist", "digit-2.png"), ("small-vgg-fashion", "fashion-bag.png")])
def test_deconvnet_deeplift_gradientshap_equal_captum(name, img):
    import copy

    import numpy as np
    from captum.attr import Deconvolution, DeepLift, GradientShap

    m = cnnviz.load_model(name)
    x = m.preprocess(cnnviz.load_image(SAMPLES / img))
    own = copy.deepcopy(m.module)  # Captum hooks the model it is given: a private copy here
    black = ((torch.zeros_like(x) - m.mean[0]) / m.std[0])
    ours = deconvnet(m, x, 2)
    assert torch.allclose(ours.raw, Deconvolution(own).attribute(x.clone(), target=2)[0], atol=1e-6)
    ours = deeplift(m, x, 2)
    theirs = DeepLift(own).attribute(x.clone(), black, target=2)[0]
    assert torch.allclose(ours.raw, theirs, atol=1e-6) and torch.allclose(ours.map, theirs.sum(0), atol=1e-6)
    ours = gradient_shap(m, x, 2, samples=8, noise=0.1, seed=3)
    torch.manual_seed(3)
    np.random.seed(3)  # Captum draws baselines and path points from NumPy, noise from torch
    theirs = GradientShap(own).attribute(x.clone(), torch.cat([black, torch.zeros_like(x)]), n_samples=8,
                                         stdevs=0.1, target=2)[0]
    assert torch.allclose(ours.raw, theirs, atol=1e-6)
    assert torch.equal(gradient_shap(m, x, 2, samples=8, seed=3).raw, ours.raw)  # reproducible
    assert not torch.equal(gradient_shap(m, x, 2, samples=8, seed=4).raw, ours.raw)
    assert _hook_count(m.module) == 0


def test_signed_methods_are_drawn_signed(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-4.png"))
    ig = integrated_gradients(lenet, x, 4, steps=8)
    assert torch.equal(signed_map(ig), ig.raw.sum(0)) and float(signed_map(ig).min()) < 0 <= float(ig.map.min())
    dl = deeplift(lenet, x, 4)
    assert torch.equal(signed_map(dl), dl.map) and float(dl.map.min()) < 0 < float(dl.map.max())
    assert [k for k in METHODS if is_signed(k)] == ["ig", "occlusion", "deeplift", "gradientshap"]
    assert not is_signed("gradcam") and torch.equal(signed_map(s := saliency(lenet, x, 4)), s.map)

def test_integrated_gradients_completeness(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-4.png"))
    ig = integrated_gradients(lenet, x, 4, steps=64)
    black = ((torch.zeros_like(x) - lenet.mean[0]) / lenet.std[0])
    diff = float(lenet.logits(x)[0, 4] - lenet.logits(black)[0, 4])
    assert abs(float(ig.raw.sum()) - diff) < 0.05 * abs(diff)


@pytest.mark.parametrize("digit", range(10))
def test_lenet_predicts_bundled_digits_and_explains_them(lenet, digit):
    img = cnnviz.load_image(SAMPLES / f"digit-{digit}.png")
    assert lenet.predict(img, k=1)[0][0] == str(digit)
    a = attribute(lenet, img, "gradcam")
    assert a.target == digit and a.map.shape == (28, 28)


def test_every_method_runs_and_is_on_the_device(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    for key in METHODS:
        a = attribute(lenet, img, key, **({"steps": 8} if key == "ig" else {}))
        assert isinstance(a, Attribution) and a.map.shape == (28, 28) and a.map.device.type == lenet.device.type
        assert torch.isfinite(a.map).all() and 0 <= float(a.heat().min()) and float(a.heat().max()) <= 1


def test_bad_targets_and_params_say_the_fix(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    with pytest.raises(ValueError, match="m.classes"):
        resolve_target(lenet, x, "cat")
    with pytest.raises(ValueError, match="0..9"):
        resolve_target(lenet, x, 10)
    with pytest.raises(ValueError, match="patch"):
        occlusion(lenet, x, 7, patch=40)
    with pytest.raises(KeyError, match="conv_layer_names"):
        grad_cam(lenet, x, 7, layer="nope")
    with pytest.raises(ValueError, match="unknown method"):
        attribute(lenet, x, "lime")
    with pytest.raises(AttributionError) as e:  # what a page catches and shows
        occlusion(lenet, x, 7, patch=40)
    assert isinstance(e.value, CnnvizError) and "1 <= patch <= 28" in str(e.value)


def test_default_params_and_occlusion_positions(lenet, resnet18_untrained):
    # LeNet (28 px): patch 28 // 7 = 4, stride 28 // 14 = 2; ResNet-18 (224 px): 32 and 16
    assert default_params(lenet, "occlusion") == {"patch": 4, "stride": 2}
    assert default_params(resnet18_untrained, "occlusion") == {"patch": 32, "stride": 16}
    assert default_params(lenet, "gradcam") == {"layer": "features.3"} == default_params(lenet, "guided_gradcam")
    assert default_params(lenet, "saliency") == {} and default_params(lenet, "ig") == {"steps": 16}
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-4.png"))
    for patch, stride in [(4, 2), (5, 3), (28, 1), (3, 10)]:
        # (28 - 4) // 2 + 1 = 13 a side, 13 * 13 = 169 positions; the method's own count agrees
        assert occlusion_positions((28, 28), patch, stride) == occlusion(lenet, x, 4, patch, stride).info["positions"]
    assert occlusion_positions((28, 28), 4, 2) == 169 and occlusion_positions((10, 20), 4, 4) == 2 * 5


def test_sanity_check_untrained_map_differs(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    twin = lenet.untrained()
    a, b = grad_cam(lenet, img, 7), grad_cam(twin, img, 7)
    assert rank_correlation(a.map, a.map) == pytest.approx(1.0)
    assert rank_correlation(a.map, b.map) < 0.9
    assert rank_correlation(torch.tensor([1.0, 2, 3]), torch.tensor([3.0, 2, 1])) == pytest.approx(-1.0)
    # ties get their average rank: ranks (1, 1, 1, 3) and (1, 1, 3, 1), centred on 1.5 -> -1 / 3
    assert rank_correlation(torch.tensor([0.0, 0, 0, 1]), torch.tensor([0.0, 0, 1, 0])) == pytest.approx(-1 / 3)
    from scipy.stats import spearmanr

    u, v = torch.tensor([0.0, 0, 2, 2, 5, 1]), torch.tensor([1.0, 0, 0, 3, 3, 3])
    assert rank_correlation(u, v) == pytest.approx(spearmanr(u.numpy(), v.numpy()).statistic)


def _hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in module.modules())


def test_hooks_released_and_memory_bounded_over_100_repeats(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    runs = {
        "gradcam": lambda: grad_cam(lenet, x, None),
        "guided": lambda: guided_backprop(lenet, x, 7),
        "saliency": lambda: saliency(lenet, x, 7),
        "activations": lambda: lenet.activations(x),
    }
    for name, fn in runs.items():
        for _ in range(5):  # warm caches (traced extractor, autograd) before measuring
            fn()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        objs = len(gc.get_objects())
        for _ in range(100):
            fn()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert _hook_count(lenet.module) == 0, name
        assert grown < 200_000, f"{name}: {grown} bytes kept after 100 runs"
        assert len(gc.get_objects()) - objs < 500, name


def test_hooks_released_after_an_exception(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    with pytest.raises(RuntimeError, match="boom"):
        with LayerGradients(lenet, "features.3"):
            raise RuntimeError("boom")
    assert _hook_count(lenet.module) == 0
    assert lenet.lock.acquire(blocking=False)  # the lock was released too
    lenet.lock.release()
    assert grad_cam(lenet, x, 7).target == 7


def test_threads_match_serial_results(small_vgg):
    imgs = [cnnviz.load_image(SAMPLES / p) for p in ("fashion-bag.png", "fashion-coat.png", "fashion-sneaker.png", "fashion-dress.png")]
    xs = [small_vgg.preprocess(i) for i in imgs]
    jobs = [(k, j) for k in ("gradcam", "saliency", "guided") for j in range(len(xs))]

    def run(key, j):
        if key == "gradcam":
            return grad_cam(small_vgg, xs[j], None).map
        if key == "saliency":
            return saliency(small_vgg, xs[j], 0).map
        return guided_backprop(small_vgg, xs[j], 1).map

    serial = {job: run(*job) for job in jobs}
    results = {}

    def worker(i):
        for job in jobs[i::8] + jobs[(i + 3) % len(jobs)::5]:
            results.setdefault(job, []).append(run(*job))

    errors = run_in_threads(worker, 8)
    assert not errors, errors
    assert set(results) == set(jobs)
    for job, outs in results.items():
        for o in outs:
            assert torch.allclose(o, serial[job], atol=1e-6), job
    assert _hook_count(small_vgg.module) == 0
