"""The data-mismatch experiment (issue 8) end to end on a tiny subset, and its pieces."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from faceinspector.backend import align
from faceinspector.backend.models import demo
from faceinspector.studies import mismatch as ex

from ..conftest import DEV_DATA as SHARED_DATA
from ..conftest import shared_data


def need_data(*parts: str) -> Path:
    shared_data(*parts)
    return SHARED_DATA


def test_naive_matrix_is_a_centred_box_of_the_chip_aspect():
    m = ex.naive_matrix(250, 250, (64, 78))
    corners = align.map_points(m, [[-0.5, -0.5], [249.5, 249.5], [124.5, 124.5]])
    assert corners[2] == pytest.approx([31.5, 38.5])  # photo centre -> chip centre
    assert corners[1, 1] - corners[0, 1] == pytest.approx(78)  # full height fills the chip
    assert corners[1, 0] - corners[0, 0] == pytest.approx(250 * 78 / 250)  # 250 px -> 78 px
    sq = ex.naive_matrix(250, 250, (150, 150))
    assert align.map_points(sq, [[249.5, 249.5]])[0] == pytest.approx([149.5, 149.5])


def test_chip_iod_scales_with_the_chip():
    assert ex.chip_iod(demo.CNN_SPEC) == pytest.approx((109.2 - 70.1) / 178 * 64, abs=0.05)
    assert ex.chip_iod(demo.HEAD_SPEC) == pytest.approx((0.7759 - 0.2355) / 1.5 * 150, abs=0.05)


def test_lfw_items_balanced_and_deterministic():
    root = need_data("lfw", "male_names.txt")
    a = ex.lfw_items(root, limit=10, seed=0)
    assert len(a) == 10 and sum(y for _, y in a) == 5
    assert a == ex.lfw_items(root, limit=10, seed=0)
    assert all(p.is_file() for p, _ in a)


def test_mismatch_cli_end_to_end_tiny(tmp_path, capsys):
    need_data("lfw", "male_names.txt")
    need_data("celeba", "list_attr_celeba.txt")
    for m in ex.MODELS[:3]:
        if not demo.checkpoint_paths(m)[0].is_file():
            pytest.skip(f"{m} is not trained yet")
    from faceinspector.cli import main

    old = torch.get_num_threads()
    try:
        rc = main(["experiment", "mismatch", "--limit", "4", "--celeba-limit", "6",
                   "--probe-faces", "2", "--probe-samples", "2", "--out", str(tmp_path / "out"),
                   "--cache", str(tmp_path / "cache"), "--device", "cpu", "--threads", "1",
                   "--data", str(SHARED_DATA)])
    finally:
        torch.set_num_threads(old)
    assert rc == 0
    out = capsys.readouterr().out
    assert "celeba-cnn-naive" in out and "bal.acc" in out and "eKLD" in out
    rows = list(csv.DictReader(open(tmp_path / "out" / "mismatch.csv")))
    assert len(rows) == len(ex.MODELS) * len(ex.CONDITIONS)
    n = {(r["model"], r["condition"]): int(r["n"]) for r in rows}
    assert n[("dlib-gender", "celeba-test")] == 6 and n[("celeba-cnn-naive", "lfw-naive")] == 4
    for r in rows:
        for k in ("accuracy", "balanced_accuracy", "macro_f1"):
            assert 0.0 <= float(r[k]) <= 1.0
    inv = list(csv.DictReader(open(tmp_path / "out" / "invariance.csv")))
    assert [r["model"] for r in inv] == list(ex.MODELS)
    assert {"consistency", "p_top1_change_1px", "ekld", "max_shift_px"} <= set(inv[0])
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4
    assert list((tmp_path / "cache").glob("lfw-mtcnn-4-*.npz"))  # detections cached


def test_report_from_a_synthetic_result(tmp_path):
    from faceinspector.studies.report_html import write_mismatch_report

    rng = np.random.default_rng(0)
    rows, p_male = [], {}
    for m in ex.MODELS:
        for c in ex.CONDITIONS:
            rows.append({"model": m, "condition": c, "n": 10, "accuracy": 0.8,
                         "balanced_accuracy": 0.7, "macro_f1": 0.7, "recall_female": 0.5,
                         "recall_male": 0.9, "f1_female": 0.6, "f1_male": 0.8})
            p_male[(m, c)] = (rng.integers(0, 2, 10), rng.random(10))
    chip = np.zeros((78, 64, 3), np.uint8)
    res = ex.MismatchResult(
        settings=ex.MismatchSettings(), rows=rows,
        invariance=[{"model": m, "faces": 2, "consistency": 0.9, "p_top1_change_1px": 0.1,
                     "mean_abs_change_1px": 0.01, "ekld": 0.02, "max_shift_px": 7}
                    for m in ex.MODELS],
        examples=[{"name": "x.jpg", "truth": "male", "naive_chip": chip, "aligned_chip": chip,
                   "p_male_naive": 0.2, "p_male_aligned": 0.9, "fixed_by_alignment": True}],
        flips={"model": ex.FLIP_MODEL, "images": 10, "flips": 1, "fixed_by_alignment": 1,
               "broken_by_alignment": 0},
        mean_chips={c: chip.astype(float) for c in ex.CONDITIONS}, p_male=p_male,
        info={"lfw_images": 10, "celeba_images": 10})
    paths = write_mismatch_report(res, tmp_path)
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 5 and "fixes 1" in page
    assert "| celeba-cnn-naive | 70.0 / 70.0 |" in paths["summary"].read_text()
