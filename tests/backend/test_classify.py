"""Classifier evaluation (issue 17) on constructed cases: a model perfect on one group and random
on another (the gap is found and its interval excludes zero), an all-majority model (accuracy
high, balanced accuracy 0.5, macro-F1 low), the bootstrap against scikit-learn, ITA, the
labelled-set readers, verification by group, the CLI's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from faceinspector.backend import tasks
from faceinspector.backend.classify import evaluate_classifier, labelled_set
from faceinspector.backend.classify import scores as sc
from faceinspector.backend.classify import skin
from faceinspector.backend.classify.data import class_counts
from faceinspector.backend.classify.verify_groups import verify_by_group
from faceinspector.backend.facestore import FaceStore
from faceinspector.backend.models.base import ChipSpec, FaceModel
from faceinspector.backend.types import Face


class GroupModel(FaceModel):
    """Right on group A (blue < 0.5), a coin flip on group B: answers with the green channel,
    which is drawn independently of the label."""

    id = "test:group"
    title = "perfect on A, random on B"
    labels = ("no", "yes")
    spec = ChipSpec(template="raw", size=(16, 16))

    def forward(self, x):
        r, g, b = (x[:, i].mean((1, 2)) for i in range(3))
        yes = torch.where(b < 0.5, (r > 0.5).float(), (g > 0.5).float())
        p = 0.05 + 0.9 * yes
        return torch.stack([1 - p, p], 1)


class Majority(GroupModel):
    id = "test:majority"

    def forward(self, x):
        return torch.tensor([[0.8, 0.2]]).repeat(len(x), 1)


def make_set(folder, labels, groups, seed=0):
    """Uniform-colour PNGs: red encodes the label, blue the group, green is noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,group"]
    for i, (lab, grp) in enumerate(zip(labels, groups)):
        colour = (200 if lab == "yes" else 50, int(rng.choice([60, 190])),
                  50 if grp == "A" else 200)
        p = folder / f"img{i:04d}.png"
        Image.fromarray(np.full((32, 32, 3), colour, np.uint8)).save(p)
        rows.append(f"{p.name},{lab},{grp}")
    csv = folder / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def run(backend, data, models, tmp_path, **kw):
    kw.setdefault("options", ("as given",))
    kw.setdefault("invariance", 0)
    kw.setdefault("skin", False)
    return tasks.run(evaluate_classifier(backend, data, models, n_boot=300,
                                         store=FaceStore(tmp_path / "faces.sqlite"), **kw))


def test_perfect_on_one_group_random_on_the_other(backend, tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.choice(["no", "yes"], 240).tolist()
    csv = make_set(tmp_path / "set", labels, ["A"] * 120 + ["B"] * 120)
    backend.add_model(GroupModel())
    ev = run(backend, csv, ["test:group"], tmp_path)
    res = ev.summary()["by_template"]["as given"]
    assert res["n"] == 240
    sl = res["slices"]["group"]
    assert sl["A"]["balanced_accuracy"] == 1.0 and sl["A"]["n"] == 120
    assert 0.3 < sl["B"]["balanced_accuracy"] < 0.7
    gap = res["gaps"]["group"]["balanced_accuracy"]
    assert (gap["best"], gap["worst"]) == ("A", "B")
    assert gap["gap"] > 0.3 and gap["excludes_zero"] and gap["ci95"][0] > 0
    lo, hi = res["ci95"]["balanced_accuracy"]
    assert lo <= res["balanced_accuracy"] <= hi
    # the confident mistakes are all in group B
    wrong = ev.models["test:group"].mistakes["confident"]["as given"]
    assert wrong["count"] > 20
    assert all(ev.pred.groups["group"][e["row"]] == "B" for e in wrong["examples"])


def test_an_all_majority_model(backend, tmp_path):
    labels = ["no"] * 180 + ["yes"] * 20
    csv = make_set(tmp_path / "set", labels, ["A"] * 200)
    backend.add_model(Majority())
    res = run(backend, csv, ["test:majority"], tmp_path).summary()["by_template"]["as given"]
    assert res["accuracy"] == pytest.approx(0.9)
    assert res["balanced_accuracy"] == pytest.approx(0.5)
    assert res["macro_f1"] < 0.5  # (0.947 + 0) / 2
    assert res["per_class"]["yes"]["recall"] == 0.0
    assert res["confusion"]["matrix"] == [[180, 0], [20, 0]]
    assert res["ci95"]["balanced_accuracy"] == [0.5, 0.5]
    assert res["ci95"]["accuracy"][0] < 0.9 < res["ci95"]["accuracy"][1]


def test_the_bootstrap_replicates_are_scikit_learns():
    from sklearn import metrics as m

    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 150)
    p = np.where(rng.random(150) < 0.7, y, rng.integers(0, 3, 150))
    conf = rng.uniform(0.34, 1.0, 150)
    rep = sc.replicate_scores(y, p, 3, [0, 1, 2], n_boot=5, seed=7, conf=conf)
    idx = np.random.default_rng(7).integers(0, 150, (5, 150))  # the first chunk's draws
    for b in range(5):
        t, q = y[idx[b]], p[idx[b]]
        assert rep["accuracy"][b] == pytest.approx(m.accuracy_score(t, q))
        assert rep["balanced_accuracy"][b] == pytest.approx(m.balanced_accuracy_score(t, q))
        assert rep["macro_f1"][b] == pytest.approx(
            m.f1_score(t, q, labels=[0, 1, 2], average="macro", zero_division=0))
        pr = np.eye(3)[q] * conf[idx[b], None] + 1e-9
        pr[np.arange(150), (q + 1) % 3] = (1 - conf[idx[b]]) / 2
        from faceinspector.backend.metrics import calibration

        assert rep["ece"][b] == pytest.approx(calibration(t, pr)["ece"], abs=1e-6)


def test_ita_of_known_colours():
    assert skin.category(60) == "very light" and skin.category(45) == "light"
    assert skin.category(30) == "intermediate" and skin.category(12) == "tan"
    assert skin.category(0) == "brown" and skin.category(-45) == "dark"
    assert skin.category(float("nan")) == ""
    light, dark = (236, 201, 180), (96, 62, 45)
    assert skin.ita_of_pixels(np.array([light])) > 41
    assert skin.ita_of_pixels(np.array([dark])) < -30
    # the face's skin patches of a uniform skin-coloured photo: the colour's ITA
    photo = np.full((200, 200, 3), light, np.uint8)
    face = Face((60.0, 60.0, 140.0, 150.0), 1.0,
                np.array([[85, 95], [115, 95], [100, 112], [88, 130], [112, 130]], np.float32))
    px, share = skin.skin_pixels(photo, face)
    assert share == 1.0 and len(px) > 500
    assert skin.face_ita(photo, face) == pytest.approx(skin.ita_of_pixels(np.array([light])),
                                                       abs=0.5)


def test_labelled_sets_and_class_counts(tmp_path):
    folder = tmp_path / "imgs"
    for cls, n in (("cat", 3), ("dog", 5)):
        (folder / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8)).save(folder / cls / f"{cls}{i}.png")
    data = labelled_set(folder)
    assert data.classes == ("cat", "dog") and len(data) == 8
    assert set(data.identities) == {"cat", "dog"}  # the folder each image is in
    sample = labelled_set(folder, limit=4, balanced=True)
    assert sorted(sample.labels) == ["cat", "cat", "dog", "dog"]
    csv = tmp_path / "l.csv"
    csv.write_text("path,label,person,site\nimgs/cat/cat0.png,cat,ann,x\n"
                   "imgs/dog/dog0.png,dog,bob,y\nimgs/nothere.png,dog,cy,y\n")
    data = labelled_set(csv)
    assert data.identities == ("ann", "bob") and data.groups["site"] == ("x", "y")
    assert len(data.missing) == 1
    assert class_counts(folder) == {"cat": 3, "dog": 5}
    counts = tmp_path / "counts.csv"
    counts.write_text("class,count\ncat,1000\ndog,20\n")
    assert class_counts(counts) == {"cat": 1000, "dog": 20}


def test_verification_by_group_finds_the_group_one_threshold_fails():
    rng = np.random.default_rng(0)
    ids, emb, grp = [], [], []
    for g, spread in (("tight", 0.02), ("loose", 0.2)):
        for person in range(40):
            centre = rng.normal(0, 1, 16)
            centre /= np.linalg.norm(centre)
            for _ in range(4):
                ids.append(f"{g}{person}")
                grp.append(g)
                emb.append(centre + rng.normal(0, spread, 16))
    res = verify_by_group(np.array(emb), ids, grp, n_boot=50)
    t, lo = res["groups"]["tight"], res["groups"]["loose"]
    assert t["pos"] == lo["pos"] == 240
    assert t["tar@far=0.001"] > lo["tar@far=0.001"]
    assert lo["threshold"] > t["threshold"]  # the loose group needs a looser threshold
    assert t["cost"] >= 0 and lo["cost"] >= 0 and max(t["cost"], lo["cost"]) > 0
    assert res["global"]["pairs"] == t["pos"] + t["neg"] + lo["pos"] + lo["neg"]


def test_cli_json_with_a_user_torchscript_model(tmp_path):
    class Const(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 2) + torch.tensor([2.0, 0.0])

    model = tmp_path / "const.pt"
    torch.jit.script(Const()).save(str(model))
    model.with_suffix(".json").write_text(json.dumps({"labels": ["no", "yes"],
                                                      "input_size": 16, "template": "raw"}))
    csv = make_set(tmp_path / "set", ["no"] * 30 + ["yes"] * 10, ["A"] * 20 + ["B"] * 20)
    out = tmp_path / "report"
    env = {**os.environ, "FACEINSPECTOR_FACESTORE": str(tmp_path / "faces.sqlite")}
    r = subprocess.run([sys.executable, "-m", "faceinspector", "evaluate", str(csv),
                        "--model-file", str(model), "--template", "as-given", "--template",
                        "raw", "--group", "group", "--bootstrap", "100", "--invariance", "0",
                        "--no-skin", "--out", str(out), "--json", str(tmp_path / "s.json")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["model"] == "user:const" and s["n"] == 40
    assert set(s["by_template"]) == {"as given", "raw"}
    t = s["by_template"]["as given"]
    assert {"accuracy", "balanced_accuracy", "macro_f1", "ci95", "per_class",
            "slices"} <= set(t)
    assert t["accuracy"] == 0.75 and t["balanced_accuracy"] == 0.5
    assert set(t["slices"]["group"]) == {"A", "B"}
    assert {"n", "accuracy", "balanced_accuracy", "macro_f1", "ci95"} <= set(
        t["slices"]["group"]["A"])
    for name in ("report.html", "predictions.csv", "per_class.csv", "slices.csv",
                 "summary.json"):
        assert (out / name).is_file()
    assert (out / "predictions.csv").read_text().count("\n") == 41
    assert "balanced accuracy" in r.stdout


def test_the_package_imports_without_torch():
    code = ("import sys, faceinspector.backend.classify, faceinspector.reports.evaluate\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_lfw_agrees_with_the_mismatch_experiment(backend, lfw_dev, tmp_path):
    """A balanced LFW sample (the rule of ``experiment mismatch --limit N``), on it the same
    naive crop as the experiment (the image as given) to the last bit; the model's own
    template recovers."""
    from faceinspector.backend import align, images
    from faceinspector.studies.mismatch import naive_matrix

    data = labelled_set(lfw_dev, limit=40, balanced=True)
    assert sorted(data.labels) == ["female"] * 20 + ["male"] * 20
    assert [p.name for p in data.paths] == sorted(p.name for p in data.paths)
    ev = run(backend, data, ["celeba-cnn-naive"], tmp_path, options=("as given", "own"),
             invariance=3, skin=True, attribute_models=("dlib-age",),
             train_counts={"female": 5783, "male": 4217})
    model = backend.model("celeba-cnn-naive")
    chips = []
    for p in data.paths[:8]:
        photo = images.load_photo(p)
        chips.append(align.warp_crop(photo.pixels, naive_matrix(photo.width, photo.height,
                                                                model.spec.size),
                                     model.spec.size))
    ref = backend.run_model("celeba-cnn-naive", np.stack(chips)).probs
    np.testing.assert_allclose(ev.pred.outputs[("celeba-cnn-naive", "as given")][:8], ref,
                               atol=1e-6)
    s = ev.summary()
    bt = s["by_template"]
    assert set(bt) == {"as given", "celeba"} and s["own_template"] == "celeba"
    assert bt["celeba"]["balanced_accuracy"] > bt["as given"]["balanced_accuracy"]
    assert {"face size", "yaw", "skin tone (ITA)", "dlib-age: age"} <= set(bt["celeba"]["slices"])
    inv = s["invariance"]
    assert set(inv["classes"]) == {"female", "male"}
    assert inv["classes"]["male"]["faces"] == 3 and inv["classes"]["male"]["train_count"] == 4217
    al = s["mistakes"]["alignment"]
    assert (al["before"], al["after"]) == ("as given", "celeba")
    assert al["fixed"]["count"] > al["broken"]["count"]
