"""Issue 18, your own models: a form writes the sidecar, models are remembered across restarts
and can be removed, a user's embedder works in Triplets / Verification / Gallery, and an
expected error prints no traceback."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from faceinspector.backend import sidecar

from .conftest import wait_face_shown


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def save_classifier(torch, path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    torch.jit.script(net.eval()).save(str(path))
    return path


def save_embedder(torch, path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 5, stride=2), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    torch.manual_seed(0)
    torch.jit.script(net.eval()).save(str(path))
    return path


@pytest.fixture
def clean(backend):
    """No remembered models before or after (the backend is shared by every test)."""
    QSettings().remove("models/user")
    yield
    QSettings().remove("models/user")
    for card in backend.model_cards():
        if card.id.startswith("user:"):
            backend.remove_model(card.id)


def test_the_form_writes_the_sidecar_then_it_is_remembered_and_removed(
        qtbot, make_window, one_photo, tmp_path, torch, clean):
    path = save_classifier(torch, tmp_path / "mine.pt")  # no sidecar
    win = make_window([one_photo], models=["user:glasses"])
    wait_face_shown(qtbot, win)
    pr = win.predictions
    pr.add_model(str(path))
    um = pr.user_models
    qtbot.waitUntil(lambda: um.dialog is not None and um.dialog.isVisible(), timeout=30_000)
    dlg = um.dialog
    assert "none was found" in dlg.error.text()  # why the form opened
    dlg.name.setText("glasses")
    dlg.labels.setText("no glasses, glasses")
    dlg.width_box.setValue(40)
    dlg.height_box.setValue(48)
    dlg.template.setCurrentIndex(dlg.template.findData("arcface-112"))
    dlg.norm.setCurrentIndex(dlg.norm.findData("ImageNet mean / std"))
    dlg.buttons.accepted.emit()
    qtbot.waitUntil(lambda: "user:glasses" in pr.cards, timeout=30_000)
    written = json.loads(path.with_suffix(".json").read_text())
    assert written["labels"] == ["no glasses", "glasses"] and written["input_size"] == [40, 48]
    assert written["template"] == "arcface-112" and written["mean"] == [0.485, 0.456, 0.406]
    assert sidecar.read(path.with_suffix(".json"))["task"] == "classification"
    qtbot.waitUntil(lambda: "user:glasses" in pr.results, timeout=30_000)
    assert pr.results["user:glasses"].aligned.crop.pixels.shape == (48, 40, 3)
    assert QSettings().value("models/user") == [str(path)]

    # the next start: restored from QSettings
    again = make_window(models=["user:glasses"])
    qtbot.waitUntil(lambda: "user:glasses" in again.predictions.cards, timeout=30_000)
    card = again.predictions.cards["user:glasses"]
    assert card.remove_button is not None and card.card.available
    # removed: gone from the backend, the cards and QSettings
    again.predictions.user_models.remove("user:glasses", confirm=False)
    qtbot.waitUntil(lambda: "user:glasses" not in again.predictions.cards, timeout=30_000)
    assert QSettings().value("models/user") in ([], None)


def test_a_remembered_model_that_fails_becomes_a_removable_card(qtbot, make_window, tmp_path,
                                                                clean):
    gone = tmp_path / "gone.pt"
    QSettings().setValue("models/user", [str(gone)])
    win = make_window(models=())
    qtbot.waitUntil(lambda: "user:gone" in win.predictions.cards, timeout=30_000)
    card = win.predictions.cards["user:gone"]
    assert not card.card.available and "does not exist" in card.card.reason
    assert card.remove_button.isEnabled() and not card.check.isEnabled()
    win.predictions.user_models.remove("user:gone", confirm=False)
    qtbot.waitUntil(lambda: "user:gone" not in win.predictions.cards, timeout=30_000)
    assert QSettings().value("models/user") in ([], None)


def test_a_user_embedder_in_triplets_verification_and_gallery(qtbot, make_window, one_photo,
                                                              tmp_path, torch, clean):
    path = save_embedder(torch, tmp_path / "emb.pt")
    path.with_suffix(".json").write_text(json.dumps(
        {"name": "tiny-emb", "task": "embedding", "input_size": 64, "template": "dlib-chip"}))
    win = make_window([one_photo], models=())
    wait_face_shown(qtbot, win)
    win.predictions.add_model(str(path))
    qtbot.waitUntil(lambda: win.ctx.card("user:tiny-emb") is not None, timeout=30_000)
    assert win.ctx.card("user:tiny-emb").task == "embedding"
    for pane in (win.triplets, win.verification, win.gallery):
        assert pane.embedder.findData("user:tiny-emb") >= 0, pane
    t = win.triplets
    win.docks["triplets"].raise_()
    t.embedder.setCurrentIndex(t.embedder.findData("user:tiny-emb"))
    t.put_selected("A")
    t.put_selected("P")
    qtbot.waitUntil(lambda: "ap" in t.numbers.get("aligned", {}), timeout=30_000)
    assert t.embedding("A").shape == (24,) and t.numbers["aligned"]["ap"] < 1e-5
    g = win.gallery
    g.embedder.setCurrentIndex(g.embedder.findData("user:tiny-emb"))
    g.enroll("someone")
    qtbot.waitUntil(lambda: g.gallery.names == ["someone"], timeout=30_000)
    assert g.gallery.model_id == "user:tiny-emb" and g.gallery.embeddings.shape == (1, 24)


def test_expected_errors_print_no_traceback(qtbot, make_window, tmp_path, torch, clean,
                                            caplog):
    from faceinspector.gui import workers
    from faceinspector.gui.panes.predictions.user_models import add_job

    path = save_classifier(torch, tmp_path / "nosidecar.pt")
    win = make_window(models=())
    errors = []
    caplog.set_level(logging.INFO, logger="faceinspector.gui.workers")
    win.pool.submit(add_job, win.ctx.backend, str(path), on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=30_000)
    assert "needs a JSON sidecar nosidecar.json" in errors[0]
    records = [r for r in caplog.records if "add_job" in r.getMessage()]
    assert records and all(r.exc_info is None and r.levelno == logging.INFO for r in records)
    assert workers.expected(ValueError("x")) and not workers.expected(KeyError("x"))
    # torch's "torch.jit.load is deprecated" FutureWarning is not shown either
    path.with_suffix(".json").write_text('{"labels": ["a", "b"], "input_size": 32}')
    with _no_warnings():
        win.ctx.backend.load_user_model(path)


class _no_warnings:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self.seen = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        assert not [w for w in self.seen if issubclass(w.category, FutureWarning)], \
            [str(w.message) for w in self.seen]
        return False


def test_sidecar_form_checks_before_saving(qtbot, tmp_path):
    from faceinspector.gui.panes.predictions.sidecar_form import SidecarDialog

    dlg = SidecarDialog(tmp_path / "m.onnx", ("raw", "dlib-chip"),
                        start={"labels": [], "input_size": 7})
    qtbot.addWidget(dlg)
    assert dlg.width_box.value() == 8  # clamped into 8..1024
    assert "'labels' must be a non-empty list" in dlg.check()
    dlg.task.setCurrentIndex(dlg.task.findData("embedding"))
    assert dlg.check() == "" and not dlg.labels.isEnabled()
    values = dlg.values()
    assert values["task"] == "embedding" and "labels" not in values
    assert np.allclose(values["std"], [1, 1, 1])
