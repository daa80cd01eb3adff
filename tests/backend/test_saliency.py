"""Where the model looks (issue 19): class saliency, occlusion, the sanity checks of Adebayo et
al. (NeurIPS 2018), a model built to look at one region, determinism, similarity saliency,
feature maps, TorchScript / ONNX fallbacks and ``faceinspector explain``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from faceinspector.backend import saliency
from faceinspector.backend.models.base import ChipSpec, FaceModel
from faceinspector.backend.saliency import heatmap


@pytest.fixture(scope="module")
def faces(backend, demo_photos, demo_detections):
    """(photo, face) of the first face of each demo photo."""
    return [(p, d.faces[0]) for p, d in zip(demo_photos, demo_detections) if d.faces]


@pytest.fixture(scope="module")
def face(faces):
    return faces[0]


# ------------------------------------------------------------------ maps, determinism


@pytest.mark.parametrize("model_id", ["dlib-gender", "dlib-age"])
def test_every_method_gives_a_deterministic_map_over_the_crop(backend, face, model_id):
    photo, f = face
    w, h = backend.model(model_id).spec.size
    for method in saliency.METHODS:
        a = saliency.class_saliency(backend, photo, f, model_id, method)
        b = saliency.class_saliency(backend, photo, f, model_id, method)
        assert a.method == method and a.requested == method
        assert a.map.shape == (h, w) and a.map.dtype == np.float32
        assert a.crop.shape == (h, w, 3) and a.crop.dtype == np.uint8
        assert np.array_equal(a.map, b.map), f"{method} is not deterministic"
        assert a.peak == b.peak and 0 <= a.peak[0] < w and 0 <= a.peak[1] < h
        assert 0.0 <= a.mass_in_face_box <= 1.0
        if method == "occlusion":
            assert a.signed and a.grid == (8, 8) and a.scale == pytest.approx(
                float(np.abs(a.map).max()))
        else:
            assert not a.signed and a.map.min() >= 0 and a.map.max() <= 1 and a.layer
    assert a.class_label == backend.model(model_id).labels[a.class_index]


def test_class_by_label_index_and_errors(backend, face):
    photo, f = face
    male = saliency.class_saliency(backend, photo, f, "dlib-gender", "gradcam", "male")
    assert male.class_index == 1 and male.class_label == "male"
    assert saliency.class_index(backend, "dlib-gender", "0") == 0
    with pytest.raises(ValueError, match="has no class 'elf'"):
        saliency.class_saliency(backend, photo, f, "dlib-gender", "gradcam", "elf")
    with pytest.raises(ValueError, match="unknown method"):
        saliency.class_saliency(backend, photo, f, "dlib-gender", "lime")
    with pytest.raises(ValueError, match="has no layer"):
        saliency.class_saliency(backend, photo, f, "dlib-gender", "gradcam", layer="fc9")


def test_the_map_follows_the_probe_transform(backend, face):
    """A map on the moved crop is a map of that crop; the matrix includes the move."""
    photo, f = face
    base = saliency.class_saliency(backend, photo, f, "dlib-gender", "gradcam")
    moved = saliency.class_saliency(backend, photo, f, "dlib-gender", "gradcam",
                                    transform=(3, 0, 0, 1))
    assert moved.transform == (3.0, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(moved.matrix[:, 2] - base.matrix[:, 2], [3, 0], atol=1e-9)
    np.testing.assert_allclose(moved.box - base.box, np.tile([3, 0], (4, 1)), atol=1e-4)
    assert not np.array_equal(moved.map, base.map)


def test_grad_cam_is_the_textbook_formula(backend, faces):
    """Selvaraju et al.'s Grad-CAM by hand on the gender net split at conv4 (after its ReLU):
    weights = the gradient's spatial mean per channel, map = ReLU of the weighted sum, scaled
    to [0, 1], resized to the chip and scaled again (as grad-cam does). The library's map
    through our hooks is the same -- also where the network's own (functional, in-place) ReLU
    would have masked the gradient."""
    import cv2
    import torch.nn.functional as F

    model = backend.model("dlib-gender")
    net = model.net
    for photo, f in faces[:3]:
        s = saliency.class_saliency(backend, photo, f, "dlib-gender", "gradcam")
        x = model.spec.normalise(torch.from_numpy(s.crop).permute(2, 0, 1)[None].float())
        with torch.enable_grad():
            h = F.avg_pool2d(F.relu(net.conv2(F.relu(net.conv1(x)))), 2, 2)
            a = F.relu(net.conv4(F.relu(net.conv3(h)))).detach().requires_grad_(True)
            y = torch.flatten(F.avg_pool2d(a, 2, 2) * net.multiply1, 1)
            logp = torch.log_softmax(net.fc2(F.relu(net.fc1(y)) * net.multiply2), 1)[0]
            g, = torch.autograd.grad(logp[s.class_index] - logp.mean(), a)
        cam = F.relu((g.mean((2, 3))[0, :, None, None] * a[0]).sum(0)).detach().numpy()
        cam = cv2.resize((cam - cam.min()) / (cam.max() - cam.min() + 1e-7), (32, 32))
        cam = (cam - cam.min()) / (cam.max() - cam.min() + 1e-7)  # grad-cam scales again
        np.testing.assert_allclose(s.map, cam, atol=1e-4)


# ---------------------------------------------- Adebayo et al.: model randomisation


def _randomised(backend, model_id, new_id, prefixes=None, seed=0):
    """A fresh copy of a dlib network with (some of) its weights drawn at random, each tensor
    at its own mean and spread, registered as ``new_id`` (torch engine)."""
    cls = type(backend.model(model_id))
    m = cls(device="cpu")
    m.id = new_id
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.net.named_parameters():
            if prefixes is None or name.startswith(prefixes):
                p.copy_(torch.randn(p.shape, generator=g) * p.std().clamp_min(1e-3) + p.mean())
    backend.add_model(m)
    return new_id


def _rank_correlations(backend, faces, trained, other, method):
    from scipy.stats import spearmanr

    rhos = []
    for photo, f in faces:
        a = saliency.class_saliency(backend, photo, f, trained, method)
        b = saliency.class_saliency(backend, photo, f, other, method, a.class_index)
        if np.ptp(a.map) > 0 and np.ptp(b.map) > 0:
            rhos.append(spearmanr(a.map.ravel(), b.map.ravel())[0])
    assert len(rhos) >= 3
    return np.array(rhos)


def test_randomising_the_weights_changes_every_map(backend, faces):
    """Adebayo et al.'s model-randomisation test: a map that survives random weights explains
    nothing about what the model learned. Median Spearman rho measured on 12 demo faces:
    -0.11 (Grad-CAM), -0.10 (Grad-CAM++), 0.03 (EigenCAM), -0.03 (occlusion)."""
    rand = _randomised(backend, "dlib-gender", "test:gender-random")
    for method in saliency.METHODS:
        rhos = _rank_correlations(backend, faces[:5], "dlib-gender", rand, method)
        assert np.median(rhos) < 0.4, (method, rhos)


def test_randomising_the_classifier_head_cascade(backend, faces):
    """The cascade's first step (only the dense layers random): the class-sensitive maps
    change; EigenCAM, which never looks past its layer, stays identical -- it is not a class
    explanation, and the result says so."""
    rand = _randomised(backend, "dlib-gender", "test:gender-random-fc", prefixes=("fc",))
    for method in ("gradcam", "occlusion"):
        rhos = _rank_correlations(backend, faces[:5], "dlib-gender", rand, method)
        assert np.median(rhos) < 0.4, (method, rhos)
    photo, f = faces[0]
    a = saliency.class_saliency(backend, photo, f, "dlib-gender", "eigencam")
    b = saliency.class_saliency(backend, photo, f, rand, "eigencam")
    assert np.array_equal(a.map, b.map) and "class-agnostic" in a.note


def test_randomising_the_age_network_changes_its_grad_cam(backend, faces):
    rand = _randomised(backend, "dlib-age", "test:age-random")
    rhos = _rank_correlations(backend, faces[:4], "dlib-age", rand, "gradcam")
    assert np.median(rhos) < 0.4, rhos


# ------------------------------------------------- a model that looks at one region only

REGION = (slice(4, 12), slice(20, 28))  # rows, columns of the 32 x 32 chip


class _Masked(nn.Module):
    """Per pixel and channel: distance from grey squared, zero outside the region."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, x):
        return x * x * self.mask


class _RegionNet(nn.Module):
    def __init__(self):
        super().__init__()
        mask = torch.zeros(1, 1, 32, 32)
        mask[..., REGION[0], REGION[1]] = 1.0
        self.masked = _Masked(mask)

    def forward(self, x):
        s = self.masked(x).mean(dim=(1, 2, 3)) * 40.0
        return torch.softmax(torch.stack([s, -s], 1), dim=1)


class RegionModel(FaceModel):
    """A classifier whose answer depends on the top-right 8 x 8 pixels of its chip only."""

    id = "test:region"
    title = "looks at one region"
    labels = ("textured", "flat")
    spec = ChipSpec("dlib-chip", (32, 32), 0.2, (128.0,) * 3, (128.0,) * 3)
    layer_paths = {"masked": "net.masked"}

    def __init__(self, device="cpu"):
        super().__init__(device)
        self.net = _RegionNet().to(self.device)

    def modules(self):
        return [self.net]

    def forward(self, x):
        return self.net(x)


def test_a_model_that_looks_at_one_region_gets_its_peak_there(backend, face):
    backend.add_model(RegionModel())
    photo, f = face
    inside = np.zeros((32, 32), bool)
    inside[REGION] = True
    for method in ("gradcam", "gradcampp"):
        s = saliency.class_saliency(backend, photo, f, "test:region", method, "textured")
        x, y = s.peak
        assert inside[int(y), int(x)], (method, s.peak)
        assert s.map[~inside].max() == 0 and s.map[inside].max() > 0.99
    occ = saliency.class_saliency(backend, photo, f, "test:region", "occlusion", "textured",
                                  fill=128)
    x, y = occ.peak
    assert inside[int(round(y)), int(round(x))], occ.peak
    assert np.abs(occ.map[~inside]).max() < 1e-6 and occ.map[inside].min() > 0
    # the other class: its logit falls wherever this one rises, so Grad-CAM has nothing
    other = saliency.class_saliency(backend, photo, f, "test:region", "gradcam", "flat")
    assert other.map.max() == 0 and "empty" in other.note


# ----------------------------------------------------- TorchScript and ONNX models


def _sidecar(path, **kw):
    cfg = {"labels": ["a", "b"], "input_size": 32, "template": "dlib-chip", "pixel_range": 255,
           "mean": [128, 128, 128], "std": [64, 64, 64]}
    cfg.update(kw)
    path.with_suffix(".json").write_text(json.dumps(cfg))


def test_a_torchscript_sequential_gets_grad_cam_other_scripts_occlusion(backend, face, tmp_path):
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    p = tmp_path / "seq.pt"
    torch.jit.script(seq.eval()).save(str(p))
    _sidecar(p)
    mid = backend.load_user_model(p)
    photo, f = face
    info = saliency.info(backend, mid)
    assert info.layers == ("0", "1", "2", "3") and info.default_layer == "3"
    s = saliency.class_saliency(backend, photo, f, mid, "gradcam")
    assert s.method == "gradcam" and s.layer == "3" and "nn.Sequential" in s.note
    fm = saliency.feature_maps(backend, photo, f, mid, "1", top=4)
    assert fm.maps.shape == (4, 32, 32) and fm.shape == (8, 32, 32)

    class Branchy(nn.Module):  # not a Sequential: TorchScript cannot be hooked
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    q = tmp_path / "branchy.pt"
    torch.jit.script(Branchy().eval()).save(str(q))
    _sidecar(q)
    mid2 = backend.load_user_model(q)
    s2 = saliency.class_saliency(backend, photo, f, mid2, "gradcam")
    assert s2.method == "occlusion" and s2.requested == "gradcam"
    assert "not supported on ScriptModules" in s2.note
    assert saliency.info(backend, mid2).methods == ("occlusion",)


def test_an_onnx_model_gets_occlusion(backend, face, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

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
    _sidecar(p, labels=["red", "blue"])
    mid = backend.load_user_model(p)
    photo, f = face
    s = saliency.class_saliency(backend, photo, f, mid, "eigencam", grid=4)
    assert s.method == "occlusion" and s.grid == (4, 4) and "ONNX" in s.note
    assert np.unique(s.map).size > 1


# -------------------------------------------------------------- embedders, similarity


def test_similarity_saliency_of_a_pair(backend, faces):
    (pa, fa), (pb, fb) = faces[0], faces[1]
    pair = saliency.pair_saliency(backend, (pa, fa), (pb, fb), "dlib-resnet")
    ea = backend.run_model("dlib-resnet", backend.model_crop(pa, fa, "dlib-resnet").pixels)
    eb = backend.run_model("dlib-resnet", backend.model_crop(pb, fb, "dlib-resnet").pixels)
    e1, e2 = ea.embeddings[0], eb.embeddings[0]
    cos = float(e1 @ e2 / np.linalg.norm(e1) / np.linalg.norm(e2))
    assert pair.cosine == pytest.approx(cos, abs=1e-4)
    assert pair.distance == pytest.approx(float(np.linalg.norm(e1 - e2)), abs=1e-3)
    assert pair.a.target == "similarity" and pair.a.score == pytest.approx(cos, abs=1e-3)
    assert pair.a.map.shape == (150, 150) and pair.b.crop.shape == (150, 150, 3)
    far = saliency.similarity_saliency(backend, (pa, fa), (pb, fb), "dlib-resnet",
                                       mode="dissimilar")
    assert far.target == "dissimilarity" and not np.array_equal(far.map, pair.a.map)
    occ = saliency.similarity_saliency(backend, (pa, fa), (pb, fb), "dlib-resnet",
                                       "occlusion", grid=4)
    assert occ.signed and occ.score == pytest.approx(cos, abs=1e-3)
    with pytest.raises(ValueError, match="not an embedder"):
        saliency.similarity_saliency(backend, (pa, fa), (pb, fb), "dlib-gender")


def test_pair_task_streams_results_and_reports_a_bad_pair(backend, faces, tmp_path):
    from faceinspector.backend import tasks

    bad = tmp_path / "missing.jpg"
    items, result = tasks.collect(saliency.pair_saliency_task(
        backend, [(faces[0], faces[1]), (str(bad), faces[1])], "dlib-resnet",
        modes=["similar", "dissimilar"]))
    assert [type(r).__name__ for r in items] == ["PairSaliency"] * 2 and len(result) == 2
    assert result[0].error == "" and result[0].a is not None
    assert result[1].a is None and "missing.jpg" in result[1].error


def test_an_embedder_alone_gets_eigencam_or_occlusion(backend, face):
    photo, f = face
    s = saliency.class_saliency(backend, photo, f, "dlib-resnet", "gradcam", grid=4)
    assert s.method == "occlusion" and "second face" in s.note and s.target == "embedding"
    assert s.map.min() >= 0  # 1 - cosine to its own embedding
    e = saliency.class_saliency(backend, photo, f, "dlib-resnet", "eigencam")
    assert e.method == "eigencam" and e.class_index == -1


# -------------------------------------------------------------------- feature maps


def test_feature_maps_are_ordered_and_move_with_the_input(backend, face):
    photo, f = face
    fm = saliency.feature_maps(backend, photo, f, "dlib-gender", "conv1", top=8)
    assert fm.maps.shape == (8, 32, 32) and fm.shape == (32, 32, 32) and fm.stride == (1, 1)
    assert np.all(np.diff(fm.means) <= 0) and fm.maps.min() >= 0 and fm.maps.max() <= 1
    deep = saliency.feature_maps(backend, photo, f, "dlib-gender")
    assert deep.layer == "conv4" and deep.stride == (2, 2) and len(deep.channels) == 16
    moved = saliency.feature_maps(backend, photo, f, "dlib-gender", transform=(4, 0, 0, 1),
                                  channels=deep.channels, ranges=deep.ranges)
    assert np.array_equal(moved.channels, deep.channels)
    eq = saliency.equivariance(deep, moved)
    assert eq.shift == (2.0, 0.0)  # 4 crop px at stride 2
    assert eq.shifted > 0.9 and eq.unshifted < 0.6  # they moved with the input (0.97 / 0.10)
    age = saliency.feature_maps(backend, photo, f, "dlib-age", "stem", top=4)
    assert age.shape == (64, 29, 29) and age.stride == (2.0, 2.0)  # a valid 7x7 conv, stride 2
    with pytest.raises(ValueError, match="shifts only"):
        saliency.equivariance(deep, saliency.feature_maps(
            backend, photo, f, "dlib-gender", transform=(0, 0, 5, 1), channels=deep.channels))


# ------------------------------------------------------------------- heat-map helpers


def test_heatmap_helpers():
    idx = heatmap.patch_index((10, 6), (3, 2))
    assert idx.shape == (6, 10) and set(np.unique(idx)) == set(range(6))
    m = np.array([[2.0, 0, 5], [0, 2, 7]])  # scale 2, then moved by (5, 7)
    mask = heatmap.box_mask(m, (0, 0, 2, 2), (20, 20))
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (5, 9, 7, 11)
    heat = np.zeros((20, 20), np.float32)
    heat[8, 6] = 1
    assert heatmap.peak(heat) == (6.0, 8.0) and heatmap.mass_inside(heat, mask) == 1.0
    crop = np.full((20, 20, 3), 100, np.uint8)
    assert heatmap.overlay(crop, heat, 0.0).tolist() == crop.tolist()
    assert heatmap.overlay(crop, heat - 0.5, 0.5, signed=True).shape == (20, 20, 3)


def test_importing_saliency_loads_neither_torch_nor_grad_cam():
    out = subprocess.run([sys.executable, "-c", (
        "import sys, faceinspector.backend.saliency\n"
        "print('torch' in sys.modules, 'pytorch_grad_cam' in sys.modules)")],
        capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr


# ----------------------------------------------------------------------------- CLI


def test_explain_cli_writes_pngs_and_json(demo_paths, tmp_path, capsys):
    from faceinspector.cli import main

    out, js = tmp_path / "out", tmp_path / "maps.json"
    rc = main(["explain", str(demo_paths[0]), "--model", "dlib-gender", "--method",
               "occlusion", "--class", "male", "--max-faces", "2", "--out", str(out),
               "--json", str(js)])
    assert rc == 0, capsys.readouterr().err
    rows = json.loads(js.read_text())
    assert len(rows) == 2
    for r in rows:
        assert {"photo", "face", "model", "method", "class", "png", "peak",
                "mass_in_face_box"} <= set(r)
        assert r["model"] == "dlib-gender" and r["method"] == "occlusion"
        assert r["class"] == "male" and len(r["peak"]) == 2
        assert 0 <= r["mass_in_face_box"] <= 1
        from PIL import Image

        assert Image.open(r["png"]).size[0] > 2 * 224
    capsys.readouterr()
    rc = main(["explain", str(demo_paths[0]), "--model", "dlib-gender", "--class", "elf",
               "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: dlib-gender has no class")
