"""A template file (what the mismatch finder learns) works wherever a template name does: the
chip rule, a user model's sidecar (relative to it), and the CLI's --template."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from faceinspector.backend import align
from faceinspector.backend.models.user import UserModelError, load_user_model


@pytest.fixture
def template_file(tmp_path):
    celeba = align.get_template("celeba")
    t = align.Template("my-celeba", celeba.size, celeba.points, description="a copy")
    return align.save_template(t, tmp_path / "mine.json", spread_px=[[1.0, 1.0]] * 5)


def test_round_trip_and_errors(template_file, tmp_path):
    t = align.get_template(str(template_file))
    assert t.name == "my-celeba" and t.size == (178, 218)
    np.testing.assert_allclose(t.points, align.get_template("celeba").points, atol=1e-4)
    assert json.loads(template_file.read_text())["spread_px"][0] == [1.0, 1.0]
    chip = align.resolve_chip(None, str(template_file))
    assert chip.name == "my-celeba" and chip.size == (178, 218)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "faceinspector-template/1", "size": [89, 109], '
                   '"points_px": [[1, 2]]}')
    with pytest.raises(align.TemplateError, match="five finite"):
        align.get_template(str(bad))
    with pytest.raises(align.TemplateError, match="cannot be read"):
        align.get_template(str(tmp_path / "missing.json"))
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(align.TemplateError, match="not a FaceInspector template"):
        align.get_template(str(tmp_path / "other.json"))


def test_a_user_models_sidecar_names_a_template_file(template_file, tmp_path, backend,
                                                     demo_photos, demo_detections):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    model = tmp_path / "m.pt"
    torch.jit.script(net.eval()).save(str(model))
    model.with_suffix(".json").write_text(json.dumps(
        {"labels": ["a", "b"], "input_size": [32, 40], "template": template_file.name}))
    m = load_user_model(model)
    assert m.spec.template == str(template_file)  # resolved beside the sidecar
    mid = backend.add_model(m)
    pred = backend.predict(demo_photos[0], demo_detections[0].faces[0], mid)
    assert pred.crop.template == "my-celeba" and pred.crop.pixels.shape == (40, 32, 3)
    model.with_suffix(".json").write_text(json.dumps(
        {"labels": ["a", "b"], "input_size": 32, "template": "nowhere.json"}))
    with pytest.raises(UserModelError, match="template"):
        load_user_model(model)


def test_cli_template_file(template_file, tmp_path, demo_paths):
    env = dict(os.environ, FACEINSPECTOR_DEVICE="cpu")
    out = subprocess.run([sys.executable, "-m", "faceinspector", "detect", str(demo_paths[0]),
                          "--crops", str(tmp_path / "crops"), "--template", str(template_file)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "crops").glob("*_my-celeba.png"))) == 3
