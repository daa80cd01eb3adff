"""Distances, triplet loss and LFW-protocol verification on constructed and real data."""

import numpy as np
import pytest

from faceinspector.backend import triplets

from ..conftest import shared_data


def test_distances_and_triplet_loss_by_hand():
    a, p, n = np.array([0.0, 0.0]), np.array([0.3, 0.4]), np.array([1.0, 0.0])
    assert triplets.distance(a, p, "l2") == pytest.approx(0.5)
    assert triplets.distance(a, p, "sq-l2") == pytest.approx(0.25)
    assert triplets.distance(np.array([1.0, 0]), np.array([0, 2.0]), "cosine") == pytest.approx(1)
    # sq-l2: d(A,P)=0.25, d(A,N)=1 -> loss = max(0.25 - 1 + 0.2, 0) = 0
    assert triplets.triplet_loss(a, p, n, margin=0.2) == 0
    # margin 1: 0.25 - 1 + 1 = 0.25
    assert triplets.triplet_loss(a, p, n, margin=1.0) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="unknown metric"):
        triplets.distance(a, p, "manhattan")


def test_distance_matrix_and_ordering_groups_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]], float)
    pts = np.concatenate([c + rng.normal(0, 0.1, (4, 2)) for c in centres])
    perm = rng.permutation(12)
    d = triplets.distance_matrix(pts[perm])
    assert d.shape == (12, 12) and np.allclose(np.diag(d), 0)
    order = triplets.order_by_similarity(d)
    labels = (perm // 4)[order]
    assert sorted(order.tolist()) == list(range(12))
    assert (np.diff(labels) != 0).sum() == 2  # each cluster contiguous


def test_best_threshold_and_verify_on_separable_data():
    dist = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9] * 3)
    same = np.array([1, 1, 1, 0, 0, 0] * 3, bool)
    tau, acc = triplets.best_threshold(dist, same)
    assert 0.3 < tau < 0.7 and acc == 1.0
    rep = triplets.verify(dist, same, np.repeat([0, 1, 2], 6))
    assert rep.accuracy == 1.0 and rep.auc == pytest.approx(1.0)
    assert rep.tar_at_far[1e-3] == 1.0
    pos, neg = triplets.hardest_pairs(dist, same, k=1)
    assert dist[pos[0]] == 0.3 and dist[neg[0]] == 0.7


def test_read_pairs_lfw_format(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nAnn\t1\t2\nBob\t1\tCid\t3\nDan\t2\t4\nEve\t1\tFay\t1\n")
    pairs = triplets.read_pairs(f)
    assert [p.same for p in pairs] == [True, False, True, False]
    assert [p.fold for p in pairs] == [0, 0, 1, 1]
    assert pairs[0].a == "Ann/Ann_0001.jpg" and pairs[1].b == "Cid/Cid_0003.jpg"
    f.write_text("x y\n")
    with pytest.raises(ValueError, match="first line"):
        triplets.read_pairs(f)


def test_eval_pairs_on_real_lfw_subset(backend, tmp_path):
    from faceinspector.backend import tasks
    from faceinspector.backend.evaluate import verify

    lfw = shared_data("lfw")
    lines = (lfw / "pairs.txt").read_text().splitlines()
    # fold 1: 300 same then 300 different; take 6 + 6 of them into a 2-fold mini file
    same, diff = lines[1:7], lines[301:307]
    f = tmp_path / "pairs.txt"
    f.write_text("2\t3\n" + "\n".join(same[:3] + diff[:3] + same[3:] + diff[3:]) + "\n")
    seen = []
    v = tasks.run(verify(backend, f, root=lfw / "lfw-deepfunneled"),
                  on_progress=lambda p: seen.append((p.done, p.total)))
    report, info = v.report, v.info
    assert report.n_pairs == 12 and seen[-1][0] == seen[-1][1] == info["images"]
    assert info["detected"] == info["images"]
    assert report.accuracy >= 11 / 12
    # the dlib ResNet's published threshold is 0.6
    assert 0.4 < report.threshold < 0.8
