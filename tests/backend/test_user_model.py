"""The user's own TorchScript / ONNX classifier with a JSON sidecar."""

import json

import numpy as np
import pytest
import torch

from faceinspector.backend.models.user import UserModelError, load_user_model


class TinyNet(torch.nn.Module):
    def __init__(self, n_out=3):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, n_out)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _save_ts(path, n_out=3):
    torch.jit.script(TinyNet(n_out).eval()).save(str(path))
    return path


def _sidecar(path, **kw):
    cfg = {"labels": ["a", "b", "c"], "input_size": [40, 48], "template": "celeba",
           "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    cfg.update(kw)
    path.with_suffix(".json").write_text(json.dumps(cfg))


def test_torchscript_model_predicts_like_the_module(tmp_path):
    p = _save_ts(tmp_path / "mine.pt")
    _sidecar(p)
    m = load_user_model(p)
    assert m.id == "user:mine" and m.labels == ("a", "b", "c")
    assert m.spec.template == "celeba" and m.spec.size == (40, 48)
    chips = np.random.default_rng(0).integers(0, 256, (5, 48, 40, 3), dtype=np.uint8)
    out = m.predict(chips)
    assert out.probs.shape == (5, 3)
    np.testing.assert_allclose(out.probs.sum(1), 1, atol=1e-5)
    # same numbers as running the module by hand on (x/255 - 0.5) / 0.25
    x = (torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    ref = TinyNet().eval()(x).softmax(1).detach().numpy()
    np.testing.assert_allclose(out.probs, ref, atol=1e-5)


def test_onnx_model(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    # a hand-built ONNX graph: global average pool -> flatten -> matmul to 2 logits
    w = np.array([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]], np.float32)
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("MatMul", ["f", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    p = tmp_path / "redblue.onnx"
    onnx.save(model, str(p))
    _sidecar(p, labels=["red", "blue"], input_size=32, template="arcface-112", pixel_range=255,
             mean=[0, 0, 0], std=[255, 255, 255])
    m = load_user_model(p)
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((32, 32, 3), np.uint8)
    blue[..., 2] = 255
    out = m.predict(np.stack([red, blue]))
    assert list(out.probs.argmax(1)) == [0, 1]


@pytest.mark.parametrize("bad, match", [
    (None, "needs a JSON sidecar"),
    ("{not json", "not valid JSON"),
    (json.dumps({"labels": [], "input_size": 32}), "'labels' must be"),
    (json.dumps({"labels": ["a"], "input_size": 3}), "'input_size'"),
    (json.dumps({"labels": ["a"], "input_size": 32, "template": "zzz"}), "unknown template"),
    (json.dumps({"labels": ["a"], "input_size": 32, "std": [1, 0, 1]}), "'std'"),
])
def test_invalid_sidecars(tmp_path, bad, match):
    p = _save_ts(tmp_path / "m.pt")
    if bad is not None:
        p.with_suffix(".json").write_text(bad)
    with pytest.raises(UserModelError, match=match):
        load_user_model(p)


def test_label_count_mismatch(tmp_path):
    p = _save_ts(tmp_path / "m.pt", n_out=3)
    _sidecar(p, labels=["x", "y"])
    with pytest.raises(UserModelError, match=r"expected \(2, 2\)"):
        load_user_model(p)


def test_file_that_is_not_a_model(tmp_path):
    p = tmp_path / "fake.pt"
    p.write_bytes(b"PK\x03\x04 definitely not torchscript")
    _sidecar(p)
    with pytest.raises(UserModelError, match="not a TorchScript model"):
        load_user_model(p)
    q = tmp_path / "fake.onnx"
    q.write_bytes(b"\x00\x01garbage")
    _sidecar(q)
    with pytest.raises(UserModelError, match="not a valid ONNX model"):
        load_user_model(q)
    with pytest.raises(UserModelError, match="does not exist"):
        load_user_model(tmp_path / "missing.pt")
