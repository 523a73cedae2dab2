"""Pipelines: steps of the transform table with their values, the torchvision transform and code they make,
and the checks that say which steps do nothing for a model.

Transforms work in the pixel domain (``[C, H, W]`` in 0..1, at the size the model sees); normalisation
comes last, as in :meth:`ModelHandle.preprocess`.

Examples::

    >>> pipe = (step("rotate", degrees=30), step("noise", sigma=0.1))
    >>> augment = v2.Compose([build_transform(s, Target(1, 28, 28, 10)) for s in pipe])
    >>> print(pipeline_code(pipe, Target(1, 28, 28, 10)))
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torchvision.transforms import v2

from cnnviz.core.model import ModelHandle
from cnnviz.methods.augmentation.errors import AugmentationError
from cnnviz.methods.augmentation.transforms import Target, TransformSpec, elastic_sigma_limit, transform_spec


@dataclass(frozen=True)
class Step:
    """One transform of a pipeline with its values (hashable, so pipelines can key caches)."""

    key: str
    values: tuple[tuple[str, Any], ...]

    @property
    def spec(self) -> TransformSpec:
        return transform_spec(self.key)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.values)


Pipeline = Sequence[Step]


def step(key: str, **values: Any) -> Step:
    """A pipeline step: the table's defaults, overridden by ``values``, each checked against its limits.

    Examples::

        >>> step("rotate", degrees=45).params
        {'degrees': 45.0}
    """
    spec = transform_spec(key)
    unknown = set(values) - {p.name for p in spec.params}
    if unknown:
        raise AugmentationError(f"{spec.name} has no parameter(s) {sorted(unknown)}; "
                                f"it has {[p.name for p in spec.params]}")
    merged = {p.name: p.validate(values.get(p.name, p.default)) for p in spec.params}
    return Step(key, tuple(merged.items()))


def isolate_channel(x: torch.Tensor, channel: int) -> torch.Tensor:
    """``x`` ``[..., C, H, W]`` with every channel but ``channel`` set to 0 (a one-channel image is kept)."""
    if x.shape[-3] < 3:
        return x  # one-channel image: nothing to isolate
    mask = torch.zeros(x.shape[-3], 1, 1, dtype=x.dtype, device=x.device)
    mask[channel] = 1
    return x * mask


def build_transform(s: Step, target: Target) -> v2.Transform:
    """The torchvision v2 transform of one step, for images of ``target``'s size.

    Examples::

        >>> build_transform(step("hflip", p=1.0), Target(1, 28, 28, 10))
        RandomHorizontalFlip(p=1.0)
    """
    spec = s.spec
    kw = spec.kwargs(s.params, target)
    if spec.key == "channel":
        return v2.Lambda(functools.partial(isolate_channel, channel=kw["channel"]))
    return getattr(v2, spec.factory)(**kw)


def code_value(v: Any) -> str:
    """A keyword argument's value as Python source: ``20`` for 20.0, ``(0.5, 1)`` for a tuple."""
    if isinstance(v, float):
        return f"{v:g}" if "e" not in f"{v:g}" else repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(code_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def step_code(s: Step, target: Target) -> str:
    """The torchvision expression that builds the step.

    For example ``v2.RandomRotation(degrees=20, interpolation='bilinear')``.
    """
    kw = s.spec.kwargs(s.params, target)
    if s.key == "channel":
        mask = ", ".join("1." if i == kw["channel"] else "0." for i in range(3))
        return f"v2.Lambda(lambda x: x * torch.tensor([{mask}]).view(3, 1, 1))"
    return f"v2.{s.spec.factory}(" + ", ".join(f"{k}={code_value(v)}" for k, v in kw.items()) + ")"


# the kinds of PipelineIssue, in the order the page lists them
EXTRA_MIXING = "extra mixing"  # a second MixUp/CutMix step: ignored
NEVER_APPLIED = "never applied"  # probability 0
NEUTRAL = "neutral"  # every strength parameter at the value that does nothing
SIGMA_LIMITED = "sigma limited"  # elastic sigma larger than the image allows: the limit is used
NEEDS_RGB = "needs rgb"  # a colour transform on a one-channel model
ISSUE_KINDS = (EXTRA_MIXING, NEVER_APPLIED, NEUTRAL, SIGMA_LIMITED, NEEDS_RGB)


@dataclass(frozen=True)
class PipelineIssue:
    """A step that does nothing, or not what was asked, for this target (:func:`check_pipeline`).

    Attributes:
        kind: one of :data:`ISSUE_KINDS`.
        step: the step concerned.
        params: for ``NEUTRAL``, the parameters that sit at their neutral value.
        used: for ``SIGMA_LIMITED``, the sigma that is used instead.
    """

    kind: str
    step: Step
    params: tuple[str, ...] = ()
    used: float | None = None


def _idle_issue(s: Step) -> PipelineIssue | None:
    values = s.params
    if "p" in values and values["p"] == 0:
        return PipelineIssue(NEVER_APPLIED, s)
    neutral = [p for p in s.spec.params if p.neutral is not None and p.name != "p"]
    if neutral and all(values[p.name] == p.neutral for p in neutral):
        return PipelineIssue(NEUTRAL, s, tuple(p.name for p in neutral))
    return None


def check_pipeline(pipeline: Pipeline, target: Target) -> list[PipelineIssue]:
    """The steps that do nothing or need care for this target, sorted by kind (empty if all is well).

    :func:`cnnviz.text.augmentation.pipeline_notes` says them in words.

    Examples::

        >>> [i.kind for i in check_pipeline([step("rotate", degrees=0)], Target(1, 28, 28, 10))]
        ['neutral']
    """
    issues = [PipelineIssue(EXTRA_MIXING, s) for s in [s for s in pipeline if s.spec.mixing][1:]]
    issues += [i for i in map(_idle_issue, pipeline) if i is not None]
    limit = elastic_sigma_limit(target)
    issues += [PipelineIssue(SIGMA_LIMITED, s, ("sigma",), limit) for s in pipeline
               if s.key == "elastic" and s.params["sigma"] > limit]
    if target.channels == 1:
        issues += [PipelineIssue(NEEDS_RGB, s) for s in pipeline if s.spec.needs_rgb]
    return issues


def pipeline_code(pipeline: Pipeline, model: ModelHandle | Target | None = None) -> str:
    """Python code that builds the same pipeline with torchvision, including normalisation.

    Args:
        pipeline: the steps.
        model: the model or target (for input size, classes, mean/std); default a 3x224x224 ImageNet model.

    Examples::

        >>> print(pipeline_code([step("hflip")], m))
    """
    target = Target.of(model) if isinstance(model, ModelHandle) else model or Target(3, 224, 224, 1000)
    mean, std = target.stats
    mix_at = next((i for i, s in enumerate(pipeline) if s.spec.mixing), None)
    per_image = list(pipeline if mix_at is None else pipeline[:mix_at])
    after = [] if mix_at is None else [s for s in pipeline[mix_at + 1:] if not s.spec.mixing]
    mode = "a grayscale (L)" if target.channels == 1 else "an RGB"
    lines = ["import torch", "from torchvision.transforms import v2", "",
             f"# per image: {mode} image of the model's input size {target.height}x{target.width}",
             "augment = v2.Compose([",
             "    v2.ToImage(),", "    v2.ToDtype(torch.float32, scale=True),  # uint8 0..255 -> float 0..1"]
    for s in per_image:
        if s.spec.needs_rgb and target.channels == 1:
            lines.append(f"    # {step_code(s, target)},  # needs RGB: no effect on this one-channel model")
        else:
            lines.append(f"    {step_code(s, target)},"
                         + (f"  # keep the {s.params['channel']} channel only" if s.key == "channel" else ""))
    lines.append("])")
    if mix_at is not None:
        lines += ["", "# mixing works on a batch with integer labels; labels become soft [N, num_classes]",
                  f"mix = {step_code(pipeline[mix_at], target)}",
                  "images, labels = mix(torch.stack([augment(img) for img in imgs]), labels)"]
        if after:
            lines += ["after_mix = v2.Compose([" + ", ".join(step_code(s, target) for s in after) + "])",
                      "images = torch.stack([after_mix(x) for x in images])"]
    lines += ["", "# normalise last, with the statistics the model was trained with",
              f"normalize = v2.Normalize(mean={[round(m, 4) for m in mean]}, std={[round(s, 4) for s in std]})"]
    return "\n".join(lines)
