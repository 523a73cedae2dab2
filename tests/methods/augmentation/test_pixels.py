"""cnnviz.methods.augmentation.pixels: the pixel domain is the model's preprocessing before the normalisation."""
import numpy as np
import torch

from cnnviz.methods.augmentation import image_tensor, normalize, predict_pixels, to_arrays


def test_image_tensor_normalised_is_the_models_preprocessing(lenet, six):
    x = image_tensor(lenet, six)
    assert x.shape == (1, 28, 28) and float(x.min()) >= 0 and float(x.max()) <= 1
    torch.testing.assert_close(lenet.normalize(x)[None], lenet.preprocess(six))
    torch.testing.assert_close(normalize(lenet, x[None]), lenet.normalize(x[None]))  # the old name, the one arithmetic
    # a tensor is taken as prepared: only moved to the device, a batch of one unwrapped
    assert torch.equal(image_tensor(lenet, x[None].cpu()).cpu(), x.cpu())


def test_predict_pixels_equals_softmax_of_the_logits(lenet, six):
    x = image_tensor(lenet, six)
    want = torch.softmax(lenet.logits(lenet.preprocess(six)), 1)
    torch.testing.assert_close(predict_pixels(lenet, x[None]), want)


def test_to_arrays_by_hand():
    gray, rgb = to_arrays(torch.tensor([[[[0.0, 0.5], [1.0, 2.0]]]])), to_arrays(torch.ones(1, 3, 1, 2) * 0.2)
    np.testing.assert_array_equal(gray[0], np.array([[0, 128], [255, 255]], np.uint8))  # 0.5 -> 127.5 -> 128; clipped
    assert rgb[0].shape == (1, 2, 3) and (rgb[0] == 51).all()  # 0.2 * 255 = 51
