"""The Training tab's view of a DB-VAE's resampling weights: the summary the training lane makes
(:func:`vae.resampling.summarize_weights`), the view fed an update, and a real DB-VAE run on
CelebA faces in the window (docs/screenshots/morph_weights.png shows the same after a longer
run)."""

from __future__ import annotations

import numpy as np
import pytest

from faceinspector.backend import tasks
from faceinspector.backend.vae.resampling import summarize_weights
from faceinspector.gui import convert
from ..conftest import CELEBA_DEV, dev_data_reason, has_dev_data
from faceinspector.gui.panes.morph.weights import (NOTE_DBVAE, NOTE_VAE, WeightsView,
                                                   ratio_text)


def _chips(n: int) -> np.ndarray:
    """n distinct 64×64 chips (face i is filled with a colour that encodes i)."""
    i = np.arange(n)
    colours = np.stack([i % 256, (i * 7) % 256, (i * 13 + 40) % 256], 1).astype(np.uint8)
    return np.broadcast_to(colours[:, None, None, :], (n, 64, 64, 3)).copy()


def _weights(n: int, seed: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).lognormal(0.0, 0.8, n)
    return w / w.sum()


def _expected(w: np.ndarray) -> dict:
    """The numbers the view must show, computed here from the weights alone."""
    n = len(w)
    ratio = w / w.mean()
    desc = np.sort(ratio)[::-1]
    return {"top": desc[:12], "bottom": desc[-6:], "max": ratio.max(),
            "median": np.median(ratio), "ess": w.sum() ** 2 / (w ** 2).sum(),
            "ess_pct": 100 * w.sum() ** 2 / (w ** 2).sum() / n}


def test_summarize_weights_picks_the_extremes_with_their_chips():
    n = 200
    w, chips = _weights(n), _chips(n)
    names = [f"{i:06d}.jpg" for i in range(n)]
    r = summarize_weights(w, chips, names, epoch=3)
    e = _expected(w)
    assert r.epoch == 3 and r.n == n and len(r.top) == 12 and len(r.bottom) == 6
    assert np.allclose(r.top_ratio, e["top"]) and np.allclose(r.bottom_ratio, e["bottom"])
    assert np.all(np.diff(r.top_ratio) <= 0) and np.all(np.diff(r.bottom_ratio) <= 0)
    assert np.allclose(w[r.top] * n, r.top_ratio) and np.allclose(w[r.bottom] * n, r.bottom_ratio)
    # only the shown faces travel, and they are the right ones
    assert r.top_faces.shape == (12, 64, 64, 3) and r.top_faces.dtype == np.uint8
    assert np.array_equal(r.top_faces, chips[r.top])
    assert np.array_equal(r.bottom_faces, chips[r.bottom])
    assert r.top_names == tuple(names[i] for i in r.top)
    assert np.isclose(r.max_ratio, e["max"]) and np.isclose(r.median_ratio, e["median"])
    assert np.isclose(r.ess, e["ess"]) and np.isclose(100 * r.ess_fraction, e["ess_pct"])
    # uniform weights: every face ×1, the effective sample size is all of them
    u = summarize_weights(np.full(30, 1 / 30))
    assert np.allclose(u.top_ratio, 1) and np.isclose(u.ess_fraction, 1)
    assert u.top_faces is None and u.top_names == ()
    # few faces: a third down-weighted, the rest up-weighted, none twice
    s = summarize_weights(_weights(12, 1), _chips(12))
    assert (len(s.top), len(s.bottom)) == (8, 4)
    assert sorted([*s.top, *s.bottom]) == list(range(12))
    with pytest.raises(ValueError):
        summarize_weights(np.zeros(5))


def test_weights_view_shows_fed_update(qtbot):
    n = 500
    w, chips = _weights(n, 2), _chips(n)
    view = WeightsView()
    qtbot.addWidget(view)
    view.resize(1000, 140)
    view.show()
    assert view.note.isVisible() and view.note.full == NOTE_DBVAE
    assert not view.strip.isVisible()

    view.set_resampling(summarize_weights(w, chips, [f"f{i}" for i in range(n)], epoch=1))
    e = _expected(w)
    top, bottom = view.labels()
    assert top == [ratio_text(x) for x in e["top"]] and bottom == [ratio_text(x) for x in
                                                                    e["bottom"]]
    shown = [float(t[1:]) for t in top + bottom]
    assert shown == sorted(shown, reverse=True)  # descending, the smallest weight last
    assert top[0] == ratio_text(e["max"]) and top[0].startswith("×")
    # the chips shown are those of the faces with the largest / smallest weights
    order = np.argsort(-w, kind="stable")
    pixmaps = [pix for pix, _, _ in view.strip.groups[0] + view.strip.groups[1]]
    for pix, i in zip(pixmaps, [*order[:12], *order[-6:]]):
        assert np.array_equal(convert.to_ndarray(pix.toImage()), chips[i])
    assert view.strip.groups[0][0][2].startswith(f"f{order[0]}\n")
    assert "rank 1 of 500" in view.strip.groups[0][0][2]
    assert "rank 500 of 500" in view.strip.groups[1][-1][2]
    text = view.summary.full
    assert "epoch 2" in text and f"{n:,} faces" in text
    assert f"max ×{e['max']:.2f}" in text and f"median ×{e['median']:.2f}" in text
    assert f"size {e['ess_pct']:.1f}% of N ({e['ess']:,.0f})" in text
    assert "(Σw)² / Σw²" in view.summary.toolTip()
    assert view.strip.isVisible() and view.summary.isVisible() and not view.note.isVisible()
    view.grab()  # paints without error

    view.clear(dbvae=False)  # a plain VAE run
    assert view.resampling is None and view.note.full == NOTE_VAE
    assert view.note.isVisible() and not view.strip.isVisible()


def test_train_job_sends_only_the_shown_chips(monkeypatch):
    from faceinspector.backend import vae

    n = 40
    w, chips = _weights(n, 3), _chips(n)
    names = [f"f{i}" for i in range(n)]

    def fake_train(cfg, **_kw):
        yield tasks.Progress(4, 5, "", "weights",
                             {"epoch": 4, "weights": w, "names": names, "chips": chips})
        return vae.TrainResult(model=None, checkpoint=None, cancelled=False, step=0, epoch=5,
                               seconds=0.0, images_per_s=0.0)

    monkeypatch.setattr(vae.training, "train", fake_train)
    ups, done = tasks.collect(vae.train_updates({"data": "somewhere", "dbvae": True}))
    assert [u.phase for u in ups] + [done.phase] == ["weights", "done"]
    u = ups[0]
    r = u.resampling
    assert u.epoch == r.epoch == 4 and np.array_equal(u.weights, w)
    assert np.array_equal(r.top, np.argsort(-w, kind="stable")[:12])
    assert np.array_equal(r.top_faces, chips[r.top]) and r.top_names[0] == names[r.top[0]]
    assert np.array_equal(r.bottom_faces, chips[r.bottom])
    assert not np.shares_memory(r.top_faces, chips)  # copies of the 18 shown chips only


CELEBA = CELEBA_DEV


@pytest.mark.skipif(not has_dev_data("celeba", "img_align_89x109", "000001.jpg"),
                    reason=dev_data_reason("celeba", "img_align_89x109"))
def test_training_tab_shows_dbvae_weights(qtbot, make_window, tmp_path, monkeypatch):
    from faceinspector.backend import vae

    monkeypatch.setattr(vae.data, "data_cache_dir", lambda: tmp_path / "chip-cache")
    win = make_window([], models=())
    win.resize(1400, 900)
    win.docks["morph"].raise_()
    m = win.morph
    t = m.training
    m.tabs.setCurrentWidget(t)
    t.set_data("celeba", CELEBA)
    t.arch.setCurrentIndex(t.arch.findData("vae"))
    assert t.weights_view.note.isVisible() and t.weights_view.note.full == NOTE_VAE
    t.arch.setCurrentIndex(t.arch.findData("dbvae"))
    assert t.weights_view.note.full == NOTE_DBVAE
    t.epochs.setValue(2)
    t.batch.setValue(8)
    t.limit.setValue(60)
    t.device.setCurrentIndex(t.device.findData("cpu"))
    t.output.setText(str(tmp_path / "db.safetensors"))
    updates = []
    t.worker.result.connect(lambda u: updates.append(u) if u.phase == "weights" else None)
    assert t.start(confirm=False)
    qtbot.waitUntil(lambda: t.finished_run is not None and not t.busy, timeout=120_000)
    assert not t.finished_run.cancelled
    assert [u.epoch for u in updates] == [0, 1]  # one update per epoch

    w = updates[-1].weights
    r = t.weights_view.resampling
    assert r is updates[-1].resampling and r.epoch == 1 and r.n == len(w) == 60
    e = _expected(w)
    top, bottom = t.weights_view.labels()
    assert top == [ratio_text(x) for x in e["top"]]
    assert bottom == [ratio_text(x) for x in e["bottom"]]
    assert np.all(np.diff(r.top_ratio) <= 0) and r.top_ratio[0] >= r.bottom_ratio[0]
    assert r.top_faces.shape == (12, 64, 64, 3) and len(r.top_names) == 12
    # the chips shown are the training faces the weights refer to
    data = vae.load_data("celeba", 60, cache=False, celeba=CELEBA)
    assert np.array_equal(r.top_faces, data.chips[r.top])
    assert np.array_equal(r.bottom_faces, data.chips[r.bottom])
    assert r.top_names == tuple(data.names[i] for i in r.top)
    text = t.weights_view.summary.full
    assert f"max ×{e['max']:.2f}" in text and f"median ×{e['median']:.2f}" in text
    assert f"{e['ess_pct']:.1f}% of N" in text and "epoch 2" in text
    assert t.weights_view.strip.isVisible() and not t.weights_view.note.isVisible()
