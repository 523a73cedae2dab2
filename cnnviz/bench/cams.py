"""The CAM family against pytorch-grad-cam on ResNet-18 at 224, and the per-image faithfulness table on LeNet."""
from __future__ import annotations

import copy
import warnings
from functools import partial

from cnnviz.bench import Options, Result, entry, paired_medians
from cnnviz.core.images import load_image
from cnnviz.core.model import load_model
from cnnviz.core.paths import SAMPLES_DIR
from cnnviz.methods import faithfulness as fa
from cnnviz.methods.attribution import attribute, default_params
from cnnviz.methods.attribution import cams as C

TEN = ["saliency", "smoothgrad", "ig", "gradcam", "guided_gradcam", "occlusion", "deconvnet", "deeplift",
       "gradientshap", "gradcampp"]
LAYER = "layer4.1.conv2"


@entry("cams")
def cams_vs_pytorch_grad_cam(opts: Options) -> list[Result]:
    """Each CAM of one 224x224 photo on ResNet-18 (random weights, seed fixed), last conv layer, upsampled
    to the input: ours (capture engine, batched Score-/Ablation-CAM, batch 32, Score-CAM on channels-last
    batches) against pytorch-grad-cam's ``__call__`` (hooks on a private copy, its default batch sizes:
    Score-CAM 16, Ablation-CAM 32), interleaved in the same run. Ratio = theirs / ours (above 1: ours is
    faster).

    NumPy's BLAS is held to one thread for both (pytorch-grad-cam's Eigen-CAM takes a NumPy SVD): OpenBLAS's
    threads keep spinning after a call, and on a 2-core machine they took the cores from whatever ran next.
    Measured: our 50 ms Eigen-CAM took 110-160 ms right after pytorch-grad-cam's call and theirs slowed
    itself from 74 to 130-190 ms over six calls; with one BLAS thread, 36-52 ms and 46-62 ms."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return _cams_vs_pytorch_grad_cam(opts)


def _cams_vs_pytorch_grad_cam(opts: Options) -> list[Result]:
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    refs = {"gradcam": pgc.GradCAM, "gradcampp": pgc.GradCAMPlusPlus, "xgradcam": pgc.XGradCAM,
            "layercam": pgc.LayerCAM, "hirescam": pgc.HiResCAM, "scorecam": pgc.ScoreCAM,
            "ablationcam": pgc.AblationCAM, "eigencam": pgc.EigenCAM}
    m = load_model("resnet18", untrained=True, device=opts.device)
    x = m.preprocess(load_image(SAMPLES_DIR / "photo-cat.jpg"))
    theirs_model = copy.deepcopy(m.module)
    for p in theirs_model.parameters():
        p.requires_grad_(True)
    target = C.cam(m, x, None, "gradcam", LAYER).target
    kinds = ["gradcam", "gradcampp", "eigencam"] if opts.quick else list(C.CAM_KINDS)  # quick: no K-pass CAMs
    out = []
    for kind in kinds:
        ref = refs[kind](theirs_model, [theirs_model.get_submodule(LAYER)])
        heavy = kind in ("scorecam", "ablationcam")

        def theirs(ref=ref):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ref(x, [ClassifierOutputTarget(target)])

        ours, base = paired_medians([partial(C.cam, m, x, target, kind, LAYER), theirs], opts.device,
                                    repeat=1 if opts.quick else (3 if heavy else 5), warmup=0 if heavy else 1)
        ref.activations_and_grads.release()
        out.append(Result(f"{kind} ResNet-18 224", ours, baseline="pytorch-grad-cam, same layer and class",
                          baseline_value=base, ratio=base / ours, target="ratio >= 1"))
    return out


@entry("cams")
def faithfulness_table_lenet(opts: Options) -> list[Result]:
    """The per-image leaderboard (10 methods' maps, then deletion + insertion curves of 17 points and the
    confidence change for each and for 3 random maps, blurred baseline) for one digit on LeNet. Baseline, in
    the same run: computing the 10 maps alone. Ratio = table / maps (the scoring's own cost)."""
    m = load_model("lenet5-mnist", device=opts.device)
    x = m.preprocess(load_image(SAMPLES_DIR / "digit-7.png"))

    def maps():
        return [attribute(m, x, k, 7, **default_params(m, k)) for k in TEN]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table, alone = paired_medians([lambda: fa.leaderboard(m, x, TEN, 7), maps], opts.device,
                                      repeat=3 if opts.quick else 7, warmup=1)
    return [Result("faithfulness table, 10 methods, LeNet", table, unit="s", baseline="the 10 maps alone",
                   baseline_value=alone, ratio=table / alone, target="< 2 s on CPU")]
