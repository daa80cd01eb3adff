"""Issue 18 in the Verification pane: which embedder and template, one-fold honesty, the fixed
threshold (dlib's 0.6 preset), bootstrap intervals, FAR values that cannot be resolved, what a
folder left out, raw vs aligned rows, and exports that say what they are."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from faceinspector.backend import evaluate, triplets
from faceinspector.backend.triplets import Pair

from ..conftest import shared_data


@pytest.fixture
def pane(qtbot, ctx):
    from faceinspector.gui.panes.verification import VerificationPane

    p = VerificationPane(ctx)
    qtbot.addWidget(p)
    return p


def synthetic(one_fold: bool = True, raw: bool = True, n: int = 60, threshold=0.6):
    """A Verification of ``n`` people x 2 images, made without a model."""
    rng = np.random.default_rng(1)
    images, emb, pairs = [], [], []
    for k in range(n):
        centre = rng.normal(size=8) * 2
        for j in range(2):
            images.append(f"P{k:03d}/{j}.jpg")
            emb.append(centre + rng.normal(size=8) * 0.3)
    emb = np.array(emb, np.float32)
    for k in range(n):
        fold = 0 if one_fold else k % 2
        pairs.append(Pair(f"P{k:03d}/0.jpg", f"P{k:03d}/1.jpg", True, fold))
        pairs.append(Pair(f"P{k:03d}/0.jpg", f"P{(k + 1) % n:03d}/1.jpg", False, fold))
    extra = {"raw": emb + rng.normal(size=emb.shape).astype(np.float32)} if raw else {}
    rep = evaluate.pairs_report(emb, images, pairs, "l2", threshold, n_boot=200)
    extra_reports = {k: evaluate.pairs_report(e, images, pairs, "l2", threshold, n_boot=200)
                     for k, e in extra.items()}
    info = {"people": n, "images": 2 * n + 25, "images_total": 2 * n + 25, "few_people": 25,
            "few_images": 25, "min_images": 2}
    info["images"] = 2 * n
    return evaluate.Verification(Path("people"), "folder", Path("people"), "dlib-resnet", "l2",
                                 tuple(images), tuple(pairs), emb, np.ones(2 * n, bool), {},
                                 rep, 1.0, info, np.zeros(2 * n, int), "dlib-chip", (150, 150),
                                 extra, extra_reports, threshold)


def test_one_fold_summary_is_honest(qtbot, pane):
    r = synthetic()
    pane._on_result(r)
    text = pane.summary.text()
    assert "dlib-resnet on dlib-chip 150×150 chips" in text
    assert "τ chosen on these same pairs, optimistic" in text
    assert "± 0.00" not in text and "other folds" not in text
    assert "not resolved: 60 different-person pairs resolve FAR ≥ 1.7e-02 only" in text
    lo, hi = r.report.accuracy_ci
    assert f"[{lo * 100:.1f}–{hi * 100:.1f}]" in text  # the bootstrap interval
    assert "at fixed <b>τ = 0.6</b>" in text and "FAR" in text and "FRR" in text
    assert "aligned, dlib-chip: <b>accuracy" in text and "raw box crop: <b>accuracy" in text
    assert "120 of 145 images used: 25 images of 25 people with fewer than 2 images" in text
    two = synthetic(one_fold=False, raw=False)
    pane._on_result(two)
    assert "± " in pane.summary.text() and "τ chosen on the other folds" in pane.summary.text()


def test_fixed_threshold_field_and_dlib_preset(qtbot, pane):
    pane._on_result(synthetic(raw=False))
    pane.fixed_tau.setValue(0.9)
    qtbot.waitUntil(lambda: pane.result.threshold == pytest.approx(0.9), timeout=30_000)
    f = pane.result.report.fixed
    assert f.threshold == pytest.approx(0.9)
    assert f.far == pytest.approx(triplets.at_threshold(pane.result.report.dist,
                                                        pane.result.report.same, 0.9).far)
    assert "τ = 0.9" in pane.summary.text()
    pane.fixed_on.setChecked(False)
    qtbot.waitUntil(lambda: pane.result.report.fixed is None, timeout=30_000)
    assert "at fixed" not in pane.summary.text()
    pane.dlib_button.click()
    assert pane.fixed_on.isChecked() and pane.threshold == 0.6
    qtbot.waitUntil(lambda: pane.result.threshold == 0.6, timeout=30_000)
    # another distance: a threshold in its units, and everything measured again off the GUI
    pane.metric_box.setCurrentIndex(pane.metric_box.findData("cosine"))
    assert pane.threshold == pytest.approx(0.6)  # dlib-resnet's preset: 0.09 cosine
    qtbot.waitUntil(lambda: pane.result.metric == "cosine", timeout=30_000)


def test_exports_say_what_they_are(qtbot, pane, tmp_path):
    r = synthetic()
    pane._on_result(r)
    assert pane.export_csv(tmp_path / "pairs.csv") == r.report.n_pairs
    rows = list(csv.DictReader(open(tmp_path / "pairs.csv", encoding="utf-8")))
    assert {rows[0]["model"], rows[0]["template"], rows[0]["chip"]} == {"dlib-resnet",
                                                                        "dlib-chip", "150x150"}
    assert rows[0]["fixed_threshold"] == "0.6" and rows[0]["distance_raw"]
    assert rows[0]["face_a"] == "1" and float(rows[0]["distance"]) == pytest.approx(
        round(float(rows[0]["distance"]), 4))
    pane.export_png(tmp_path / "plots.png")
    assert (tmp_path / "plots.png").stat().st_size > 10_000


def test_raw_vs_aligned_on_real_lfw(qtbot, pane, ctx, backend, tmp_path):
    """The same pairs through the aligned and the raw box crop: two rows, one run."""
    from faceinspector.gui import jobs

    lfw = shared_data("lfw")
    lines = (lfw / "pairs.txt").read_text().splitlines()
    tiny = tmp_path / "pairs.txt"
    tiny.write_text("3\n" + "\n".join(lines[1:4] + lines[301:304]) + "\n")  # one fold
    ctx.set_info(jobs.describe_backend(backend, False, warm=False))
    pane.crops.setCurrentIndex(pane.crops.findData("raw"))
    pane.load(tiny, lfw / "lfw-deepfunneled")
    qtbot.waitUntil(lambda: pane.result is not None and not pane.busy, timeout=120_000)
    r = pane.result
    assert set(r.extra_reports) == {"raw"} and r.template == "dlib-chip"
    assert r.extra_reports["raw"].n_pairs == r.report.n_pairs == 6
    text = pane.summary.text()
    assert "raw box crop: <b>accuracy" in text and "optimistic" in text
    assert pane.chip_label.text() == "dlib-chip 150×150"
