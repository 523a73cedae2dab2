"""The CAM family: Grad-CAM by hand and against Captum, every CAM against pytorch-grad-cam (the reference), by hand
on a tiny model, and shared-model safety."""
import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import cnnviz
from cnnviz.errors import CnnvizError
from cnnviz.methods.attribution import METHODS, attribute
from cnnviz.methods.attribution import cams as C

from ...conftest import SAMPLES
from .conftest import X, hook_count, tiny_model


def test_grad_cam_by_hand(tiny):
    # class 0: grads of the conv maps are 0.25 * mask, averaged over 4 pixels -> alpha = (0.125, 0.125)
    #   cam = relu(0.125 * x + 0.125 * 2x) = relu(0.375 x)
    c0 = C.grad_cam(tiny, X, 0, layer="0")
    assert torch.allclose(c0.raw, torch.tensor([[0.375, 0.0], [1.125, 0.0]]))
    assert torch.allclose(c0.map, c0.raw)  # layer resolution = input resolution: upsampling is the identity
    # class 1: alpha = (0, -0.5 * 2 / 4 ... ) = (0, -0.125) -> cam = relu(-0.125 * 2x) = relu(-0.25 x)
    c1 = C.grad_cam(tiny, X, 1, layer="0")
    assert torch.allclose(c1.raw, torch.tensor([[0.0, 0.5], [0.0, 1.0]]))
    assert C.default_cam_layer(tiny) == "0"


def test_cam_from_formula():
    acts = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # 1, 2 maps, 1x2
    grads = torch.tensor([[[[2.0, 0.0]], [[-1.0, -1.0]]]])  # alphas 1 and -1
    # relu(1*[1, 2] - 1*[3, -1]) = relu([-2, 3]) = [0, 3]
    assert torch.equal(C.cam_from(acts, grads), torch.tensor([[[0.0, 3.0]]]))
    assert torch.equal(C.gradient_cam("gradcam", acts, grads), torch.tensor([[[-2.0, 3.0]]]))  # before the ReLU


def test_gradient_cam_weightings_by_hand():
    # one image, one 1x2 map A = [1, 3] with gradients g = [2, -1]
    a, g = torch.tensor([[[[1.0, 3.0]]]]), torch.tensor([[[[2.0, -1.0]]]])
    # XGrad-CAM: w = (2*1 - 1*3) / (1 + 3) = -1/4 -> [-0.25, -0.75]; Layer-CAM: relu(g) * A = [2, 0]
    assert torch.allclose(C.gradient_cam("xgradcam", a, g), torch.tensor([[[-0.25, -0.75]]]))
    assert torch.equal(C.gradient_cam("layercam", a, g), torch.tensor([[[2.0, 0.0]]]))
    # Grad-CAM++: alpha = g^2 / (2 g^2 + sum(A) g^3) = 4 / (8 + 4 * 8) = 0.1 at the positive gradient
    # (the negative one is cut by relu(g)): w = 2 * 0.1 = 0.2 -> [0.2, 0.6]
    assert torch.allclose(C.gradient_cam("gradcampp", a, g), torch.tensor([[[0.2, 0.6]]]), atol=1e-6)
    with pytest.raises(CnnvizError, match="gradient CAM"):
        C.gradient_cam("scorecam", a, g)


def test_grad_cam_is_the_cam_of_kind_gradcam(small_vgg):
    x = small_vgg.preprocess(cnnviz.load_image(SAMPLES / "fashion-bag.png"))
    ours, general = C.grad_cam(small_vgg, x, None, "features.10"), C.cam(small_vgg, x, None, "gradcam", "features.10")
    assert torch.equal(ours.map, general.map) and torch.equal(ours.raw, general.raw) and ours.method == "gradcam"
    assert ours.info["layer"] == "features.10" and ours.info["layer_size"] == (14, 14)
    near = C.grad_cam(small_vgg, x, ours.target, "features.10", upsample="nearest")
    assert torch.equal(near.raw, ours.raw) and torch.equal(near.map[::2, ::2], ours.raw)  # 14 -> 28: each cell twice


def test_grad_cam_equals_captum_layer_gradcam(lenet, resnet18_untrained):
    from captum.attr import LayerGradCam

    for m, img, layer in [(lenet, SAMPLES / "digit-3.png", "features.3"),
                          (lenet, SAMPLES / "digit-8.png", "features.0"),
                          (resnet18_untrained, SAMPLES / "photo-cat.jpg", "layer4.1.conv2")]:
        x = m.preprocess(cnnviz.load_image(img))
        ours = C.grad_cam(m, x, None, layer=layer)
        mod = dict(m.module.named_modules())[layer]
        theirs = LayerGradCam(m.module, mod).attribute(x, target=ours.target, relu_attributions=True)
        tol = 1e-6 * float(theirs.detach().abs().max()) + 1e-9
        assert torch.allclose(ours.raw, theirs[0, 0], rtol=1e-4, atol=tol), layer


def test_hooks_released_after_an_exception(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    with pytest.raises(RuntimeError, match="boom"):
        with C.LayerGradients(lenet, "features.3"):
            raise RuntimeError("boom")
    assert hook_count(lenet.module) == 0
    assert lenet.lock.acquire(blocking=False)  # the lock was released too
    lenet.lock.release()
    assert C.grad_cam(lenet, x, 7).target == 7


def test_cam_reports_progress_per_layer(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    seen = []
    C.cam(lenet, x, 7, "layercam", layers=["features.0", "features.3"], progress=lambda f, text: seen.append(f))
    assert seen == [0.5, 1.0]


def _reference(kind: str):
    import pytorch_grad_cam as pgc

    return {"gradcam": pgc.GradCAM, "gradcampp": pgc.GradCAMPlusPlus, "xgradcam": pgc.XGradCAM,
            "layercam": pgc.LayerCAM, "hirescam": pgc.HiResCAM, "scorecam": pgc.ScoreCAM,
            "ablationcam": pgc.AblationCAM, "eigencam": pgc.EigenCAM}[kind]


def _private(m) -> torch.nn.Module:
    """pytorch-grad-cam hooks and swaps layers, and needs parameters that take gradients: a private copy."""
    mod = copy.deepcopy(m.module)
    for p in mod.parameters():
        p.requires_grad_(True)
    return mod


def theirs_at_layer(m, x, kind: str, layer: str, target: int) -> np.ndarray:
    """pytorch-grad-cam's CAM at the layer's resolution (its get_cam_image, before its upsampling), ReLU'd."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    mod = _private(m)
    tl = mod.get_submodule(layer)
    ref = _reference(kind)(mod, [tl])
    ref.batch_size = 64
    targets = [ClassifierOutputTarget(target)]
    out = ref.activations_and_grads(x.clone())
    if ref.uses_gradients:
        sum(t(o) for t, o in zip(targets, out, strict=True)).backward()  # one image, one target
    acts = ref.activations_and_grads.activations[0].numpy()
    grads = ref.activations_and_grads.gradients[0].numpy() if ref.uses_gradients else None
    if kind == "eigencam":  # an SVD's sign is arbitrary: pytorch-grad-cam's projection, bright where the layer fires
        from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

        cam = get_2d_projection(acts)
        cam = cam * np.sign(pearson(cam[0], acts[0].mean(0)))
    else:
        cam = ref.get_cam_image(x, tl, targets, acts, grads, False)
    ref.activations_and_grads.release()
    return np.maximum(cam, 0)[0]


def pearson(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel())[0, 1])


@pytest.mark.parametrize("kind", C.CAM_KINDS)
def test_each_cam_matches_pytorch_grad_cam_on_small_vgg(small_vgg, kind):
    x = small_vgg.preprocess(cnnviz.load_image(SAMPLES / "fashion-coat.png"))
    ours = C.cam(small_vgg, x, None, kind, "features.14")
    theirs = theirs_at_layer(small_vgg, x, kind, "features.14", ours.target)
    assert ours.raw.shape == theirs.shape == (7, 7)
    assert pearson(ours.raw.cpu(), theirs) >= 0.99, kind
    assert np.allclose(ours.raw.cpu().numpy(), theirs, rtol=1e-3, atol=1e-4 * float(np.abs(theirs).max()))


def test_each_cam_matches_pytorch_grad_cam_on_resnet18(resnet18_untrained):
    m = resnet18_untrained
    x = F.interpolate(m.preprocess(cnnviz.load_image(SAMPLES / "photo-cat.jpg")), size=(64, 64), mode="bilinear")
    for kind in C.CAM_KINDS:
        ours = C.cam(m, x, None, kind, "layer3.1.conv2")
        theirs = theirs_at_layer(m, x, kind, "layer3.1.conv2", ours.target)
        assert ours.raw.shape == theirs.shape == (4, 4)
        assert pearson(ours.raw.cpu(), theirs) >= 0.99, kind


def test_eigen_cam_projection_is_pytorch_grad_cams_up_to_the_svd_sign(small_vgg):
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    x = small_vgg.preprocess(cnnviz.load_image(SAMPLES / "fashion-bag.png"))
    a, _ = C.layer_output(small_vgg, x, "features.14")
    ours, theirs = C.eigen_projection(a)[0].cpu(), get_2d_projection(a.cpu().numpy())[0]
    assert abs(pearson(ours, theirs)) > 0.9999
    assert pearson(ours, a[0].mean(0).cpu()) > 0  # the sign that is bright where the layer fires


@pytest.mark.parametrize("sample", ["fashion-coat.png", "fashion-bag.png", "fashion-sneaker.png",
                                    "fashion-ankle-boot.png", "photo-cat.jpg", "photo-astronaut.jpg",
                                    "photo-coffee.jpg", "fashion-dress.png", "fashion-shirt.png"])
def test_eigen_cam_is_never_inverted(small_vgg, sample):
    """The issue's wrong map: the largest-magnitude sign rule showed some images' background. Every sample's
    map now correlates positively with the layer's mean activation, at every layer."""
    x = small_vgg.preprocess(cnnviz.load_image(SAMPLES / sample))
    for layer in ("features.3", "features.7", "features.10", "features.14"):
        a, _ = C.layer_output(small_vgg, x, layer)
        assert pearson(C.eigen_projection(a)[0].cpu(), a[0].mean(0).cpu()) > 0, (sample, layer)


def test_eigen_projection_by_hand():
    # one map [0, 4, 4, 4]: centred [-3, 1, 1, 1]; the largest magnitude (-3) sits where the layer is quiet
    torch.testing.assert_close(C.eigen_projection(torch.tensor([[[[0., 4., 4., 4.]]]])),
                               torch.tensor([[[-3., 1., 1., 1.]]]))


def test_aug_smooth_and_several_layers_match_pytorch_grad_cam(small_vgg):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = small_vgg.preprocess(cnnviz.load_image(SAMPLES / "fashion-sneaker.png"))
    mod = _private(small_vgg)
    for kind, layers, smooth in [("gradcampp", ["features.14"], True), ("layercam", ["features.7", "features.14"],
                                                                        False)]:
        ours = C.cam(small_vgg, x, None, kind, layers=layers, aug_smooth=smooth)
        ref = _reference(kind)(mod, [mod.get_submodule(n) for n in layers])
        theirs = ref(x.clone(), [ClassifierOutputTarget(ours.target)], aug_smooth=smooth)[0]
        ref.activations_and_grads.release()
        assert ours.map.shape == theirs.shape == (28, 28)
        assert pearson(ours.map.cpu(), theirs) >= 0.99, kind
        assert float(ours.map.max()) <= 1 + 1e-6 and ours.info["layers"] == layers


def test_ablation_and_score_cam_by_hand():
    # tiny: conv 1x1 (weights 1, 2) -> ReLU -> mean -> linear [[1, 1], [0, -1]], x = [[1, -2], [3, -4]].
    # y0 = mean(relu(x)) + mean(relu(2x)) = 1 + 2 = 3. Ablating ReLU channel 0 (to 0, the layer's minimum is 0)
    # leaves 2, channel 1 leaves 1: weights (3 - 2) / 3 and (3 - 1) / 3 -> cam = 1/3 relu(x) + 2/3 relu(2x)
    tiny = tiny_model()
    ab = C.cam(tiny, X, 0, "ablationcam", "1")
    assert torch.allclose(ab.raw, torch.tensor([[5 / 3, 0.0], [5.0, 0.0]]), atol=1e-6)
    # Score-CAM: channel maps scaled to 0..1 are the same mask m = relu(x) / 3 for both channels, so both
    # masked inputs score the same and the softmax weights are 1/2 each: cam = (relu(x) + relu(2x)) / 2
    sc = C.cam(tiny, X, 0, "scorecam", "1")
    assert torch.allclose(sc.raw, torch.tensor([[1.5, 0.0], [4.5, 0.0]]), atol=1e-6)
    # HiResCAM = sum_k g_k A_k: g = 0.25 on every kept pixel for both maps -> 0.25 (relu(x) + relu(2x))
    assert torch.allclose(C.cam(tiny, X, 0, "hirescam", "1").raw, torch.tensor([[0.75, 0.0], [2.25, 0.0]]))


def test_cams_leave_the_shared_model_alone_and_are_registered(small_vgg):
    x = small_vgg.preprocess(cnnviz.load_image(SAMPLES / "fashion-dress.png"))
    before = {k: v.clone() for k, v in small_vgg.module.state_dict().items()}
    for kind in C.CAM_KINDS:
        a = attribute(small_vgg, x, kind, 3, layer="features.14")
        assert a.method == kind and a.target == 3 and a.map.shape == (28, 28) and METHODS[kind].uses_layer
        assert a.map.device.type == small_vgg.device.type and float(a.map.min()) >= 0
    assert hook_count(small_vgg.module) == 0 and not small_vgg.module.training
    assert all(torch.equal(v, small_vgg.module.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in small_vgg.module.parameters())


def test_bad_requests_say_the_fix(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    with pytest.raises(CnnvizError, match="choose one of"):
        C.cam(lenet, x, 7, "fullgrad")
    with pytest.raises(CnnvizError, match="conv_layer_names"):
        C.cam(lenet, x, 7, "scorecam", "features.99")
    with pytest.raises(KeyError, match="conv_layer_names"):
        C.grad_cam(lenet, x, 7, layer="nope")
    with pytest.raises(CnnvizError, match="bilinear"):
        C.grad_cam(lenet, x, 7, upsample="lanczos")


def _fashion_test_images(m, n: int) -> torch.Tensor:
    from cnnviz.core.datasets import load_dataset

    ds = load_dataset("fashion-mnist", "test")
    pixels = torch.from_numpy(np.array(ds.images[:n], copy=True)).float().div(255).unsqueeze(1)
    return m.normalize(pixels.to(m.device))


def test_eigen_cam_equals_pytorch_grad_cams_eigencam_on_five_bundled_test_images(small_vgg):
    """pytorch-grad-cam's EigenCAM itself (its __call__, at the layer's 7x7 resolution), its arbitrary SVD
    sign turned to the one that is bright where the layer fires: r >= 0.98 on each of 5 bundled test images."""
    import pytorch_grad_cam as pgc

    mod = _private(small_vgg)
    ref = pgc.EigenCAM(mod, [mod.get_submodule("features.14")])
    xs = _fashion_test_images(small_vgg, 5)
    for i in range(5):
        x = xs[i:i + 1]
        ours = C.cam(small_vgg, x, None, "eigencam", "features.14")
        out = ref.activations_and_grads(x.clone())
        acts = ref.activations_and_grads.activations[0].numpy()
        theirs = ref.get_cam_image(x, None, None, acts, None, False)[0]  # the 2-D projection, not yet ReLU'd
        theirs = np.maximum(theirs * np.sign(pearson(theirs, acts[0].mean(0))), 0)
        del out
        assert pearson(ours.raw.cpu(), theirs) >= 0.98, i
    ref.activations_and_grads.release()


def test_eigen_cam_correlates_positively_with_the_mean_activation_on_100_test_images(small_vgg):
    a, _ = C.layer_output(small_vgg, _fashion_test_images(small_vgg, 100), "features.14")
    maps = C.eigen_projection(a)
    r = [pearson(maps[i].cpu(), a[i].mean(0).cpu()) for i in range(100)]
    assert min(r) > 0, (int(np.argmin(r)), min(r))
