"""Issue 18, honest statistics: one-fold reports say their threshold is optimistic, a fixed
threshold with FAR / FRR, bootstrap intervals, FAR values the negatives cannot resolve, and
what a folder of people left out."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from faceinspector.backend import evaluate, triplets
from faceinspector.cli import cmd_eval

from ..conftest import shared_data
from .test_eval_cli import run_cli


def _pairs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    dist = np.where(same, rng.normal(0.45, 0.12, n), rng.normal(0.85, 0.12, n))
    return dist, same


def test_one_fold_is_not_called_cross_validated():
    dist, same = _pairs()
    one = triplets.verify(dist, same, np.zeros(len(dist), int), n_boot=200)
    assert one.folds == 1 and not one.cross_validated
    assert "same pairs" in one.threshold_note() and "optimistic" in one.threshold_note()
    lines = "\n".join(cmd_eval.report_lines(one))
    assert "± 0.00" not in lines and "other folds" not in lines and "optimistic" in lines
    ten = triplets.verify(dist, same, np.arange(len(dist)) % 10, n_boot=200)
    assert ten.folds == 10 and ten.cross_validated and "other folds" in ten.threshold_note()
    assert "over folds" in "\n".join(cmd_eval.report_lines(ten))


def test_fixed_threshold_by_hand():
    dist = np.array([0.1, 0.3, 0.7, 0.2, 0.5, 0.9])
    same = np.array([1, 1, 1, 0, 0, 0], bool)
    f = triplets.at_threshold(dist, same, 0.6, n_boot=200)
    # accepted (< 0.6): 0.1, 0.3 of the same; 0.2, 0.5 of the different
    assert f.far == pytest.approx(2 / 3) and f.frr == pytest.approx(1 / 3)
    assert f.accuracy == pytest.approx(3 / 6) and (f.n_same, f.n_different) == (3, 3)
    rep = triplets.verify(dist, same, np.zeros(6, int), threshold=0.6, n_boot=50)
    assert rep.fixed.far == f.far and rep.with_threshold(None).fixed is None
    assert rep.with_threshold(0.25).fixed.frr == pytest.approx(2 / 3)
    assert "at τ = 0.6: accuracy 50.00 %" in "\n".join(cmd_eval.report_lines(rep))


def test_bootstrap_intervals_hold_the_estimates():
    dist, same = _pairs(600)
    rep = triplets.verify(dist, same, np.arange(600) % 3, threshold=0.6, n_boot=300)
    lo, hi = rep.accuracy_ci
    assert lo <= rep.accuracy <= hi and hi - lo > 0.005
    for far in (1e-3, 1e-2):
        lo, hi = rep.tar_ci[far]
        assert lo <= rep.tar_at_far[far] + 1e-9 and hi >= rep.tar_at_far[far] - 0.2
    for k in ("accuracy", "far", "frr"):
        lo, hi = rep.fixed.ci[k]
        assert lo <= getattr(rep.fixed, k) <= hi


def test_far_below_one_over_the_negatives_is_not_resolved():
    dist, same = _pairs(1418, seed=2)
    same[:] = False
    same[:709] = True  # 709 negatives
    rep = triplets.verify(dist, same, np.zeros(1418, int), n_boot=20)
    assert rep.n_different == 709
    assert not rep.resolvable(1e-3) and rep.resolvable(1e-2)
    text = "\n".join(cmd_eval.report_lines(rep))
    assert "TAR @ FAR=0.001: not resolved (709 different-person pairs" in text
    assert re.search(r"TAR @ FAR=0.01: [\d.]+ %", text)


def test_folder_says_what_it_left_out(tmp_path):
    root = tmp_path / "people"
    for person, n in (("Ann", 3), ("Bob", 2), ("Cid", 1), ("Dan", 1), ("Eve", 2)):
        (root / person).mkdir(parents=True)
        for i in range(n):
            (root / person / f"{person}_{i + 1:04d}.jpg").write_bytes(b"x")
    kind, _, names, pairs, info = evaluate.labelled_pairs(root, folds=1)
    assert kind == "folder" and len(names) == 7
    assert (info["images_total"], info["people_total"]) == (9, 5)
    assert (info["few_people"], info["few_images"]) == (2, 2)
    line = evaluate.left_out_line({**info, "images": len(names)})
    assert line.startswith("7 of 9 images used: 2 images of 2 people with fewer than 2 "
                           "images")
    assert evaluate.left_out_line({**info, "images": 9}) == ""


def test_cli_one_fold_fixed_threshold_and_raw(tmp_path):
    lfw = shared_data("lfw")
    lines = (lfw / "pairs.txt").read_text().splitlines()
    tiny = tmp_path / "pairs.txt"
    tiny.write_text("4\n" + "\n".join(lines[1:5] + lines[301:305]) + "\n")  # one fold
    out = run_cli("eval", "lfw", str(tiny), "--root", str(lfw / "lfw-deepfunneled"),
                  "--threshold", "dlib", "--raw")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "dlib-resnet on dlib-chip 150×150 chips" in text
    assert "optimistic" in text and "± 0.00" not in text and "other folds" not in text
    assert "at τ = 0.6: accuracy" in text and "FAR" in text and "FRR" in text
    assert "accuracy (aligned):" in text and "accuracy (raw box crop):" in text
    assert "TAR @ FAR=0.001: not resolved (4 different-person pairs" in text
    assert "Traceback" not in out.stderr and "Warning" not in out.stderr


def test_cli_folder_left_out_line(tmp_path):
    src = shared_data("lfw", "lfw-deepfunneled")
    root = tmp_path / "people"
    two = [d for d in sorted(src.iterdir()) if len(list(d.glob("*.jpg"))) >= 2][:3]
    one = [d for d in sorted(src.iterdir()) if len(list(d.glob("*.jpg"))) == 1][:2]
    for d in two + one:
        (root / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[:2]:
            shutil.copy(f, root / d.name / f.name)
    out = run_cli("eval", "folder", str(root), "--folds", "1")
    assert out.returncode == 0, out.stderr
    assert "left out:    6 of 8 images used: 2 images of 2 people with fewer than 2" \
        in out.stdout
