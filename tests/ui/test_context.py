"""The page context: the prepared input once per context, a copy for each caller."""
from unittest import mock

import numpy as np
import torch

import cnnviz
from cnnviz.ui.sidebar import Context

from ..conftest import SAMPLES


def test_input_is_prepared_once_and_each_caller_gets_its_own_copy(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-3.png")
    ctx = Context(lenet, img, "sample digit-3", "key")
    with mock.patch.object(lenet, "preprocess", wraps=lenet.preprocess) as prep:
        a, b = ctx.input(), ctx.input()
        seen = ctx.seen()
    assert prep.call_count == 1
    assert torch.equal(a, lenet.preprocess(img)) and a.shape == (1, 1, 28, 28)
    a.add_(1.0)  # a caller changing its copy leaves the others alone
    assert torch.equal(b, ctx.input()) and not torch.equal(a, b)
    assert isinstance(seen, np.ndarray) and np.array_equal(seen, lenet.deprocess(lenet.preprocess(img)))
