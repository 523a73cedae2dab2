"""Weight files: read without running code, loaded strictly with readable reasons, named by content."""
import hashlib
import io
import pickle

import pytest
import torch
from safetensors.torch import save, save_file
from torch import nn

import cnnviz
from cnnviz.core.weights import (
    MissingWeightsError,
    ModelFileError,
    load_state_into,
    read_safetensors,
    read_state_dict,
    weights_digest,
)


def _pt(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_code_is_refused(capsys):
    data = pickle.dumps({"w": _Evil()})
    with pytest.raises(ModelFileError, match="weights-only"):
        read_state_dict(data, "evil.pt")
    buf = io.BytesIO()
    torch.save({"model": nn.Linear(2, 2)}, buf)  # a whole pickled module
    with pytest.raises(ModelFileError):
        read_state_dict(buf.getvalue(), "module.pt")
    assert "pwned" not in capsys.readouterr().out


def test_garbage_and_empty_weight_files():
    with pytest.raises(ModelFileError, match="empty"):
        read_state_dict(b"", "x.safetensors")
    with pytest.raises(ModelFileError):
        read_state_dict(b"\x00" * 64, "x.safetensors")



def test_safetensors_and_pt_give_the_same_tensors_from_bytes_and_paths(tmp_path):
    state = {"conv.weight": torch.arange(6.0).view(1, 1, 2, 3), "conv.bias": torch.tensor([0.5])}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pt")
    for got in (read_state_dict(tmp_path / "w.safetensors"), read_state_dict(save(state), "upload"),
                read_state_dict(tmp_path / "w.pt"), read_state_dict(_pt(state), "w.pt"),
                read_safetensors(tmp_path / "w.safetensors")):
        assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)


def test_checkpoint_wrappers_are_unwrapped():
    # {"state_dict": ...} around the weights, and DataParallel's "module." prefix on every name
    got = read_state_dict(_pt({"state_dict": {"module.fc.weight": torch.ones(2, 3)}, "epoch": 7}), "ckpt.pth")
    assert list(got) == ["fc.weight"] and torch.equal(got["fc.weight"], torch.ones(2, 3))
    with pytest.raises(ModelFileError, match="does not hold a state_dict"):
        read_state_dict(_pt({"fc.weight": torch.ones(1), "lr": 0.1}), "mixed.pt")
    with pytest.raises(ModelFileError, match="does not hold a state_dict"):
        read_state_dict(_pt([torch.ones(1)]), "list.pt")


def test_a_missing_path_is_a_missing_weights_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="no weight file") as e:
        read_state_dict(tmp_path / "nowhere.safetensors")
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, cnnviz.CnnvizError)


def test_load_state_into_names_five_of_each_problem():
    net = nn.Sequential(*[nn.Linear(1, 1) for _ in range(4)])  # 0.weight, 0.bias, ..., 3.bias
    state = {f"{i}.weight": torch.zeros(1, 1) for i in range(4)} | {f"x{i}": torch.zeros(1) for i in range(7)}
    state["0.weight"] = torch.zeros(2, 1)
    with pytest.raises(ModelFileError) as e:
        load_state_into(net, state, "four layers")
    msg = str(e.value)
    assert msg.startswith("the weights do not match four layers: missing keys (4): 0.bias, 1.bias, 2.bias, 3.bias |")
    assert "unexpected keys (7): x0, x1, x2, x3, x4 ... |" in msg and "x5" not in msg
    assert "wrong shapes: 0.weight: file (2, 1) vs model (1, 1)." in msg
    good = {k: torch.full_like(v, 0.5) for k, v in net.state_dict().items()}
    load_state_into(net, good, "four layers")
    assert all(torch.equal(v, torch.full_like(v, 0.5)) for v in net.state_dict().values())


def test_weights_digest_by_hand():
    state = {"b": torch.tensor([1.0, 2.0]), "a": torch.arange(100, dtype=torch.float64)}
    h = hashlib.sha1()
    h.update(b"a")
    h.update(torch.arange(64, dtype=torch.float32).numpy().tobytes())  # the first 64 values, as float32
    h.update(b"b")
    h.update(torch.tensor([1.0, 2.0]).numpy().tobytes())
    assert weights_digest(state) == h.hexdigest()[:12]
    assert weights_digest(dict(reversed(state.items()))) == weights_digest(state)  # the order does not matter
    changed = dict(state, b=torch.tensor([1.0, 2.5]))
    assert weights_digest(changed) != weights_digest(state)
