"""Page text of /detection: the introduction, captions and "what to notice" notes of its views.

Streamlit-free and computation-free: :mod:`cnnviz.methods.detection` returns the numbers,
:mod:`cnnviz.ui.views.detection` puts these words beside them.

Examples::

    >>> speedup(2.0, 0.5)
    '4.0x'
"""
from __future__ import annotations

INTRO = (
    "A classifier says *what* is in an image; a detector says what is *where*: a box and a class for every "
    "object. The canvases below are bundled digits (or garments) pasted at random places and sizes. "
    "**R-CNN** (Girshick et al., 2014) proposes regions with selective search, warps each one to the CNN's input "
    "and classifies it, then moves the boxes with a regression and removes duplicates with non-maximum "
    "suppression. **Fast R-CNN** (2015) runs the convolutions once on the whole image and cuts every proposal out "
    "of that one feature map with RoI pooling. **Faster R-CNN** (Ren et al., 2015) learns the proposals too: a "
    "region proposal network scores anchors at every position of the feature map. R-CNN and Fast R-CNN here are "
    "built from the bundled LeNet-5; Faster R-CNN is the bundled `digit-detector`, trained by this project with "
    "torchvision's `FasterRCNN`. The notes quote R-CNN's 53 s per image (CPU, 2014): the last view measures "
    "what each step saves."
)

STAGES = ("proposals", "classified", "regressed", "after NMS")
STAGE_TITLES = {
    "proposals": "1. Selective-search proposals",
    "classified": "2. Warped, classified by LeNet-5: background dropped",
    "regressed": "3. Boxes moved by the regression",
    "after NMS": "4. Non-maximum suppression",
}
DATASET_TITLES = {"mnist": "digits (MNIST)", "fashion-mnist": "garments (Fashion-MNIST)"}
DIGITS_ONLY = ("LeNet-5 reads digits, so R-CNN, Fast R-CNN and the detector run on a canvas of digits with the same "
               "seed, size and count.")
BACKGROUND_RULE = (
    "**Background rule:** LeNet-5 has no background class and is confident on half digits, so, as R-CNN trains "
    "linear SVMs on its CNN features, a logistic regression on LeNet-5's 16×5×5 features of the crop learns "
    "*object or background* (positives: the true boxes and proposals with IoU ≥ 0.7; negatives: IoU < 0.3, on 16 "
    "training canvases of MNIST's training digits). A proposal's score is P(object) × LeNet-5's largest softmax "
    "probability; under 0.5 it is background."
)

CANVAS_NOTE = (
    "- Each object's green box is tight around its ink: that is the truth every later step is scored against "
    "(IoU ≥ 0.5 with the right class counts as found).\n"
    "- Sizes vary from 20 to 44 px: a detector must find small and large objects, and LeNet-5 only ever saw 20 px "
    "digits."
)
PROPOSALS_NOTE = (
    "- Selective search groups pixels bottom up (segments of ink, then the most similar neighbours merged again "
    "and again) and proposes the box of every group: a hundred or so boxes cover nearly every object.\n"
    "- Sliding windows need thousands of boxes of fixed shapes and still miss thin digits such as 1s: every box "
    "costs a CNN pass in R-CNN."
)
RCNN_NOTE = (
    "- Step through: most proposals are background; the regression pulls a box onto its digit; NMS keeps the best "
    "box of each overlapping group.\n"
    "- Every proposal was warped and run through the *whole* CNN: the cost grows with the number of proposals."
)
NMS_NOTE = (
    "- Greedy: take the best scoring box, drop every box that overlaps it by more than the threshold, repeat.\n"
    "- A low threshold can remove a neighbouring object; a high one leaves duplicates of the same digit."
)
FAST_NOTE = (
    "- The convolutions ran once for the whole canvas; each proposal is only a rectangle of cells on that map, "
    "max-pooled into the 5×5 grid LeNet-5's dense layers expect.\n"
    "- LeNet-5's dense layers were never trained on pooled RoIs (Fast R-CNN fine-tunes them), so the shared "
    "features cost some accuracy here: compare the counts with R-CNN's."
)
FASTER_NOTE = (
    "- The proposals now come from the network itself: 9 anchors at every cell of the feature map, each with an "
    "objectness score; the best ones, moved and de-duplicated, go to the detection head.\n"
    "- No selective search, no warping: one pass of one network gives the boxes."
)
TIMING_NOTE = (
    "- R-CNN spends its time on proposals and on one CNN pass per proposal; Fast R-CNN shares the convolutions, "
    "so its proposals dominate; Faster R-CNN replaces them with the network's own.\n"
    "- The 2014 paper's R-CNN took 53 s per image on a CPU (AlexNet on 2,000 proposals); LeNet-5 on a 128 px "
    "canvas is thousands of times cheaper, but the ratios tell the same story."
)
NO_DETECTOR = ("The bundled digit-detector is not on this machine ({problem}). Train it with "
               "`python -m cnnviz.train digit-detector`; the R-CNN and Fast R-CNN views work without it.")


def speedup(slow: float, fast: float) -> str:
    """``slow / fast`` as ``"4.0x"`` (``"–"`` when either is missing)."""
    return f"{slow / fast:.1f}x" if slow and fast else "–"


def proposals_title(n_ss: int, r_ss: float, n_sw: int, r_sw: float) -> tuple[str, str]:
    return (f"Selective search: {n_ss} boxes, recall {r_ss:.0%} at IoU 0.5",
            f"Sliding windows: {n_sw} boxes, recall {r_sw:.0%} at IoU 0.5")


def stage_title(stage: str, n: int, found: int | None = None, objects: int | None = None) -> str:
    tail = f" — {found} of {objects} objects found with the right label" if found is not None else ""
    return f"{STAGE_TITLES.get(stage, stage)}: {n} boxes{tail}"


def regression_caption(before: float, after: float, pairs: int) -> str:
    return (f"Box regression (ridge, from LeNet-5's 16×5×5 features to (dx, dy, dw, dh)) fitted on {pairs} proposals "
            f"with IoU ≥ 0.6: their mean IoU with the truth went from {before:.2f} to {after:.2f}.")


def nms_title(threshold: float, kept: int, gone: int) -> str:
    return f"NMS at IoU {threshold:.2f}: {kept} kept (orange), {gone} suppressed (red, dashed, with the IoU)"


def fast_caption(scale: float, side: float, label: str, score: float) -> str:
    return (f"This RoI's square is {side:.0f} px; it is pooled from the feature map of the canvas scaled by "
            f"{scale:g} (the scale that brings it closest to LeNet-5's 28 px). LeNet-5's dense layers read it as "
            f"{label} with probability {score:.2f}.")


def faster_title(n_dets: int, precision: float | None, recall: float | None, n_canvases: int) -> str:
    pr = (f" — precision {precision:.2f}, recall {recall:.2f} at IoU 0.5 on {n_canvases} held-out canvases"
          if precision is not None else "")
    return f"digit-detector: {n_dets} detections{pr}"


def timing_title(rcnn_s: float, fast_s: float, faster_s: float | None) -> str:
    def against_rcnn(name: str, seconds: float) -> str:
        ratio = rcnn_s / seconds if seconds > 0 else float("inf")
        return f"{name} {speedup(rcnn_s, seconds)} faster than R-CNN" if ratio >= 1 else (
            f"{name} {speedup(seconds, rcnn_s)} slower than R-CNN")

    parts = [against_rcnn("Fast R-CNN", fast_s)]
    if faster_s:
        parts.append(against_rcnn("Faster R-CNN", faster_s))
    return "Seconds per canvas (measured now, this machine): " + ", ".join(parts)
