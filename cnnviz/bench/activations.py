"""Activation maps and attribution: all-layer recording vs a bare forward pass; Grad-CAM vs pytorch-grad-cam."""
from __future__ import annotations

import copy
from functools import partial

import torch

from cnnviz.bench import Options, Result, entry, paired_medians
from cnnviz.core.capture import tune_cpu_allocator, with_hooks
from cnnviz.core.model import load_model
from cnnviz.methods.attribution import default_cam_layer, grad_cam


@entry("activations")
def all_layer_activations(opts: Options) -> list[Result]:
    """Every leaf layer's output for one image vs one bare forward pass (inference mode), same model and input."""
    tuned = tune_cpu_allocator() if opts.device.type == "cpu" else False
    out = []
    repeat = 3 if opts.quick else 31
    for name in ("lenet5-mnist", "resnet18"):
        m = load_model(name, device=opts.device, untrained=(name == "resnet18"))
        c, h, w = m.input_size
        side = min(h, 64) if opts.quick else h  # quick (smoke test): a small input
        x = torch.randn(1, c, side, side if opts.quick else w, device=opts.device)
        names = m.layer_names()

        def bare(m=m, x=x):
            with torch.inference_mode():
                m.module(x)

        def hooks(m=m, x=x, names=names):  # the engine's fallback path (hooks on its private twin of the module)
            with torch.inference_mode():
                with_hooks(m.module, x, names, (), ())

        t_bare, t_ours, t_hooks = paired_medians([bare, partial(m.activations, x), hooks], opts.device, repeat,
                                                 warmup=1 if opts.quick else 2)
        n = len(m.activations(x))
        out.append(Result(f"all-layer activations {name} {side}x{side} ({n} outputs)", t_ours, baseline="bare forward",
                          baseline_value=t_bare, ratio=t_ours / t_bare, target="<= 1.3x",
                          note=f"traced extractor; forward hooks (fallback path) {t_hooks / t_bare:.2f}x"
                               + ("; glibc keeps freed blocks (tune_cpu_allocator)" if tuned else "")))
    return out


@entry("activations")
def gradcam_vs_pytorch_grad_cam(opts: Options) -> list[Result]:
    """Grad-CAM of ResNet-18's last conv for one 224x224 image: ours vs pytorch-grad-cam's GradCAM."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    m = load_model("resnet18", device=opts.device, untrained=True)
    side = 64 if opts.quick else m.input_size[1]  # quick (smoke test): a small input
    x = torch.randn(1, 3, side, side, device=opts.device)
    layer = default_cam_layer(m)
    target = int(m.logits(x)[0].argmax())
    # pytorch-grad-cam needs a model whose weights require grad (as torchvision returns it); ours is frozen
    theirs_model = copy.deepcopy(m.module)
    for p in theirs_model.parameters():
        p.requires_grad_(True)
    repeat = 3 if opts.quick else 15
    with GradCAM(model=theirs_model, target_layers=[theirs_model.get_submodule(layer)]) as cam:
        t_ours, t_theirs = paired_medians([lambda: grad_cam(m, x, target, layer),
                                           lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])],
                                          opts.device, repeat, warmup=1 if opts.quick else 2)
    return [Result(f"Grad-CAM ResNet-18 {side}x{side}, one image", t_ours, baseline="pytorch-grad-cam GradCAM",
                   baseline_value=t_theirs, ratio=t_theirs / t_ours, target="theirs/ours >= 1",
                   note="torchcam reports GradCAM on ResNet-18 at ~41 ms on CPU (its README, other hardware)")]
