"""Issue 15 #2: verification figures with tied distances and unreadable images."""

from __future__ import annotations

import numpy as np
import pytest

from faceinspector import cli
from faceinspector.backend import evaluate, triplets
from faceinspector.backend.triplets import Pair


def test_tied_distances_do_not_depend_on_the_order_of_the_pairs():
    dist = np.full(12, 0.5)
    first = np.array([1] * 6 + [0] * 6, bool)  # the same-person pairs first in the file
    last = first[::-1].copy()  # ... or last
    a = triplets.verify(dist, first, np.zeros(12, int))
    b = triplets.verify(dist, last, np.zeros(12, int))
    assert a.auc == pytest.approx(0.5) and b.auc == pytest.approx(0.5)
    assert a.tar_at_far[1e-3] == 0.0 and b.tar_at_far[1e-3] == 0.0
    # a threshold can't split tied pairs: accuracy 50 %, not 100 %
    tau, acc = triplets.best_threshold(dist, first)
    assert acc == pytest.approx(0.5)
    assert ((dist < tau) == first).mean() == pytest.approx(acc)


def test_roc_agrees_with_scikit_learn_on_partial_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    dist = rng.integers(0, 5, 200).astype(float)  # many ties
    same = rng.random(200) < 0.5 + (2 - dist) * 0.15
    rep = triplets.verify(dist, same, rng.integers(0, 4, 200))
    assert rep.auc == pytest.approx(roc_auc_score(same, -dist))


def test_pairs_with_unreadable_images_are_left_out_and_counted():
    images = ["A/1.jpg", "A/2.jpg", "B/1.jpg", "B/2.jpg", "C/1.jpg"]
    emb = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [1.1, 1.0], [np.nan, np.nan]], np.float32)
    pairs = [Pair("A/1.jpg", "A/2.jpg", True, 0), Pair("A/1.jpg", "B/1.jpg", False, 0),
             Pair("B/1.jpg", "B/2.jpg", True, 1), Pair("A/2.jpg", "C/1.jpg", False, 1),
             Pair("C/1.jpg", "B/2.jpg", False, 1)]
    rep = evaluate.pairs_report(emb, images, pairs)
    assert rep.n_pairs == 3 and rep.excluded == 2 and rep.auc == pytest.approx(1.0)
    assert [rep.pair(i) for i in range(3)] == [0, 1, 2]
    assert "2 pairs left out" in evaluate.excluded_line(rep)
    nothing = np.full_like(emb, np.nan)
    with pytest.raises(ValueError, match="none of the 5 pairs can be scored"):
        evaluate.pairs_report(nothing, images, pairs)


def test_cli_fails_when_every_image_is_missing(tmp_path, capsys):
    root = tmp_path / "images"
    root.mkdir()
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t2\nAnn\t1\t2\nBob\t1\t2\nAnn\t1\tBob\t1\nAnn\t2\tBob\t2\n")
    code = cli.main(["eval", "lfw", str(pairs), "--root", str(root), "--device", "cpu"])
    out = capsys.readouterr()
    assert code != 0, out.out
    assert "AUC" not in out.out and "100.00 %" not in out.out
    assert "none of the 4 pairs can be scored" in out.err
    assert "Traceback" not in out.err
