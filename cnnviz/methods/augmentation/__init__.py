"""Data augmentation and the model's response to it: transforms, random samples, invariance sweeps.

The package, one concept per module:

* :mod:`.transforms` -- the transform table (:data:`TRANSFORMS`: parameters, limits, torchvision constructor)
  and :class:`Target`, what the transforms are built for;
* :mod:`.pipeline` -- steps with values, the torchvision transform and code they make, and the checks of a
  pipeline against a model;
* :mod:`.pixels` -- the pixel domain (0..1 at the model's input size) and predictions on it;
* :mod:`.sampling` -- seeded random samples of a pipeline and the model's answer on each;
* :mod:`.geometry` -- the batched image operations of the sweeps (rotation and zoom, shifts, tile shuffles);
* :mod:`.sweeps` -- :func:`sweep_pass`, the one forward pass every sweep makes, and the rotation, zoom,
  brightness and contrast sweeps and the 6-to-9 rotation;
* :mod:`.shift` -- shifts by whole pixels, layer strides and aliasing;
* :mod:`.scrambling` -- the scrambled image (the "Picasso problem").

The words the page shows beside these results are in :mod:`cnnviz.text.augmentation`.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> pipe = (step("rotate", degrees=30), step("noise", sigma=0.1))
    >>> batch = sample_batch(m, load_image("assets/samples/digit-6.png"), pipe, n=8, seed=0)
    >>> batch.labels[:3], batch.confidences[:3]
    >>> print(pipeline_code(pipe, m))
"""
from __future__ import annotations

from cnnviz.methods.augmentation.errors import AugmentationError, UnknownTransformError
from cnnviz.methods.augmentation.geometry import rotate_scale, scramble, shift_image
from cnnviz.methods.augmentation.pipeline import (
    ISSUE_KINDS,
    Pipeline,
    PipelineIssue,
    Step,
    build_transform,
    check_pipeline,
    pipeline_code,
    step,
    step_code,
)
from cnnviz.methods.augmentation.pixels import image_tensor, normalize, predict_pixels, to_arrays
from cnnviz.methods.augmentation.sampling import AugmentedBatch, apply_pipeline, sample_batch
from cnnviz.methods.augmentation.scrambling import (
    ScrambleDemo,
    ScrambleSweep,
    scramble_demo,
    scramble_limits,
    scramble_sweep,
)
from cnnviz.methods.augmentation.shift import SHIFT_DIRECTIONS, ShiftSweep, layer_strides, shift_sweep
from cnnviz.methods.augmentation.sweeps import (
    LabelFlip,
    RotationScaleGrid,
    Sweep,
    SweepPass,
    brightness_sweep,
    contrast_sweep,
    rotate_until,
    rotation_scale_grid,
    rotation_sweep,
    sweep_pass,
)
from cnnviz.methods.augmentation.transforms import (
    GROUPS,
    TRANSFORMS,
    Param,
    Target,
    TransformSpec,
    elastic_sigma_limit,
    transform_spec,
)

__all__ = [
    "AugmentationError", "UnknownTransformError",
    "GROUPS", "TRANSFORMS", "Param", "Target", "TransformSpec", "elastic_sigma_limit", "transform_spec",
    "ISSUE_KINDS", "Pipeline", "PipelineIssue", "Step", "build_transform", "check_pipeline", "pipeline_code", "step",
    "step_code",
    "image_tensor", "normalize", "predict_pixels", "to_arrays",
    "AugmentedBatch", "apply_pipeline", "sample_batch",
    "rotate_scale", "scramble", "shift_image",
    "LabelFlip", "RotationScaleGrid", "Sweep", "SweepPass", "brightness_sweep", "contrast_sweep", "rotate_until",
    "rotation_scale_grid", "rotation_sweep", "sweep_pass",
    "SHIFT_DIRECTIONS", "ShiftSweep", "layer_strides", "shift_sweep",
    "ScrambleDemo", "ScrambleSweep", "scramble_demo", "scramble_limits", "scramble_sweep",
]
