"""Issue 15 #5/#6: a user model's sidecar and outputs are checked, with the whole cause."""

from __future__ import annotations

import json
from typing import Dict

import numpy as np
import pytest
import torch

from faceinspector.backend.models.user import UserModelError, load_user_model


class Scores(torch.nn.Module):
    """Two scores per image from its mean colour; ``mode`` makes it misbehave."""

    def __init__(self, mode: int = 0):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        m = x.mean(dim=(2, 3))[:, :2]
        if self.mode == 1:
            return m * float("nan")
        if self.mode == 2:
            return m * 0 + 5.0  # "probs" of 5
        return m


class DictOut(torch.nn.Module):
    def forward(self, x) -> Dict[str, torch.Tensor]:
        m = x.mean(dim=(2, 3))[:, :2]
        return {"logits": m, "features": m}


def save(tmp_path, module, name="m.pt", **sidecar):
    p = tmp_path / name
    torch.jit.script(module.eval()).save(str(p))
    cfg = {"labels": ["female", "male"], "input_size": 32}
    cfg.update(sidecar)
    p.with_suffix(".json").write_text(json.dumps(cfg), encoding="utf-8")
    return p


@pytest.mark.parametrize("padding", ["0.2", float("nan"), 1e9, 5000, -1, True])
def test_padding_is_checked_on_load(tmp_path, padding):
    raw = json.dumps({"labels": ["female", "male"], "input_size": 32, "padding": padding})
    p = save(tmp_path, Scores())
    p.with_suffix(".json").write_text(raw, encoding="utf-8")
    with pytest.raises(UserModelError, match="'padding' must be null or a number from 0 to 2"):
        load_user_model(p)


def test_a_good_padding_loads(tmp_path):
    assert load_user_model(save(tmp_path, Scores(), padding=0.25)).spec.padding == 0.25


def test_nan_mean_is_refused(tmp_path):
    p = save(tmp_path, Scores())
    p.with_suffix(".json").write_text('{"labels": ["a", "b"], "input_size": 32, '
                                      '"mean": [NaN, 0, 0]}', encoding="utf-8")
    with pytest.raises(UserModelError, match="'mean' must be a list of 3 finite numbers"):
        load_user_model(p)


def test_nan_outputs_are_an_error_not_a_number(tmp_path):
    with pytest.raises(UserModelError, match="NaN or infinite scores"):
        load_user_model(save(tmp_path, Scores(mode=1)))


def test_probs_outside_0_1_are_refused(tmp_path):
    with pytest.raises(UserModelError, match="outside 0..1.*'probs'"):
        load_user_model(save(tmp_path, Scores(mode=2), output="probs"))


def test_nan_at_prediction_time_is_an_error(tmp_path):
    m = load_user_model(save(tmp_path, Scores()))
    m._module = torch.jit.script(Scores(mode=1).eval())  # goes bad after loading
    with pytest.raises(UserModelError, match="NaN"):
        m.predict(np.zeros((32, 32, 3), np.uint8))


def test_a_utf8_bom_sidecar_loads(tmp_path):
    p = save(tmp_path, Scores())
    text = p.with_suffix(".json").read_text(encoding="utf-8")
    p.with_suffix(".json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_user_model(p).labels == ("female", "male")


def test_a_dict_output_and_a_list_template_say_what_is_wrong(tmp_path):
    with pytest.raises(UserModelError, match="returns a dict .*logits, features"):
        load_user_model(save(tmp_path, DictOut()))
    with pytest.raises(UserModelError, match="'template' must be a template name"):
        load_user_model(save(tmp_path, Scores(), name="t.pt", template=["celeba"]))


def test_the_whole_onnx_error_is_shown(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 99  # newer than any onnxruntime supports
    p = tmp_path / "future.onnx"
    onnx.save(model, str(p))
    p.with_suffix(".json").write_text(json.dumps({"labels": ["a", "b"], "input_size": 32}))
    with pytest.raises(UserModelError) as err:
        load_user_model(p)
    assert "IR version: 99" in str(err.value) and "max supported IR version" in str(err.value)
