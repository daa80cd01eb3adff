"""VAE / DB-VAE: shapes, loss terms, training, checkpoints and resume, resampling weights, the
shipped checkpoint. CPU only, small data, a few seconds in all."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceinspector.backend import tasks, vae
from faceinspector.backend.align import TEMPLATES

from ..conftest import DEV_DATA as SHARED
from ..conftest import dev_data_reason

CELEBA = SHARED / "celeba" / "img_align_89x109"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setattr(vae.data, "data_cache_dir", lambda: tmp_path / "cache")
    threads = torch.get_num_threads()
    rng_state = torch.get_rng_state()
    yield
    torch.set_num_threads(threads)
    torch.set_rng_state(rng_state)


def _blobs(n: int, seed: int = 0) -> np.ndarray:
    """Synthetic 64x64 "faces": a bright disc on a dark background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    out = np.empty((n, 64, 64, 3), np.uint8)
    for i in range(n):
        cx, cy, r = rng.uniform(20, 44), rng.uniform(20, 44), rng.uniform(8, 18)
        inside = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r)[..., None]
        out[i] = np.where(inside, rng.integers(170, 256, 3), rng.integers(0, 70, 3))
    return out


def _cfg(**kw) -> vae.TrainConfig:
    base = dict(epochs=1, batch_size=8, lr=2e-3, lr_schedule="constant", flip=False,
                sample_every=0, threads=1, device="cpu", latent_dim=16, n_filters=4)
    base.update(kw)
    return vae.TrainConfig(**base)


def _run(cfg, **kw) -> vae.TrainResult:
    result = tasks.run(vae.train(cfg, **kw))
    assert isinstance(result, vae.TrainResult)
    return result


def _events(cfg, stop_at: int | None = None,
            **kw) -> tuple[list[tasks.Progress], vae.TrainResult]:
    """The progress a run reports, and its result; ``stop_at``: cancel it at that step."""
    seen: list[tasks.Progress] = []
    cancel = tasks.CancelToken()

    def on_progress(p: tasks.Progress) -> None:
        seen.append(p)
        if p.stage == "train" and p.info["step"] == stop_at:
            cancel.cancel()

    result = tasks.run(vae.train(cfg, cancel=cancel, **kw), on_progress=on_progress)
    assert isinstance(result, vae.TrainResult)
    return seen, result


def _stage(seen, stage: str) -> list[dict]:
    return [p.info for p in seen if p.stage == stage]


# ------------------------------------------------------------------------------ shapes


def test_shapes_and_numpy_api():
    torch.manual_seed(0)
    for cls, extra in ((vae.VAE, 0), (vae.DBVAE, 1)):
        m = cls(latent_dim=100, n_filters=12)
        assert m.encoder[-1].out_features == 200 + extra
        with torch.no_grad():
            out = m(torch.rand(3, 3, 64, 64))
        assert out["recon"].shape == (3, 3, 64, 64)
        assert out["mu"].shape == out["logvar"].shape == (3, 100)
        assert ("logit" in out) == bool(extra)
        assert float(out["recon"].min()) >= 0 and float(out["recon"].max()) <= 1
    m = vae.VAE(latent_dim=100).eval()
    chips = _blobs(5)
    mu, lv = vae.encode(m, chips)
    assert mu.shape == lv.shape == (5, 100) and mu.dtype == np.float32
    assert vae.encode(m, chips[0])[0].shape == (1, 100)
    assert vae.encode(m, np.zeros((2, 80, 80, 3), np.uint8))[0].shape == (2, 100)  # resized
    frames = vae.decode(m, mu)
    assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.uint8
    assert vae.morph(m, chips[0], chips[1], steps=7, mode="slerp").shape == (7, 64, 64, 3)
    assert vae.traverse(m, chips[0], 3, np.linspace(-2, 2, 5)).shape == (5, 64, 64, 3)
    with pytest.raises(IndexError):
        vae.traverse(m, chips[0], 100, [0.0])
    assert vae.face_probability(vae.DBVAE(16, 4), chips).shape == (5,)


def test_interpolate_linear_and_slerp():
    z0, z1 = np.array([3.0, 0.0]), np.array([0.0, 1.0])
    lin = vae.interpolate(z0, z1, 5)
    assert lin.shape == (5, 2) and np.allclose(lin[0], z0) and np.allclose(lin[-1], z1)
    assert np.allclose(lin[2], [1.5, 0.5])
    sl = vae.interpolate(z0, z1, 5, mode="slerp")
    assert np.allclose(sl[0], z0, atol=1e-6) and np.allclose(sl[-1], z1, atol=1e-6)
    # midpoint: halfway along the quarter circle, norm halfway between 3 and 1
    assert np.allclose(sl[2], 2.0 * np.array([math.cos(math.pi / 4), math.sin(math.pi / 4)]),
                       atol=1e-6)
    with pytest.raises(ValueError):
        vae.interpolate(z0, z1, 3, mode="cubic")


# ------------------------------------------------------------------------------ losses


def test_loss_terms_against_hand_computed_values():
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    kl = vae.kl_divergence(mu, logvar)
    # 0.5 * [(1 + 1 - 1 - 0) + (2 + 0 - 1 - ln 2)] = 1 - ln(2) / 2 ; the prior itself: 0
    assert torch.allclose(kl, torch.tensor([1 - math.log(2) / 2, 0.0]))
    x = torch.zeros(2, 3, 4, 4)
    recon = torch.full((2, 3, 4, 4), 0.5)
    recon[1, :, :2] = 0.0  # half the pixels right
    assert torch.allclose(vae.reconstruction_l1(x, recon), torch.tensor([0.5, 0.25]))
    total, l1, kl2 = vae.vae_loss(x, recon, mu, logvar, kl_weight=0.1)
    assert torch.allclose(total, torch.tensor([0.1 * (1 - math.log(2) / 2) + 0.5, 0.25]))
    logit = torch.tensor([0.0, 2.0])
    y = torch.tensor([1.0, 0.0])
    terms = vae.dbvae_loss(x, recon, mu, logvar, logit, y, kl_weight=0.1)
    bce = torch.tensor([math.log(2.0), math.log(1 + math.exp(2.0))])
    # the VAE term counts only for the face (sample 0)
    expect = (bce[0] + 0.1 * (1 - math.log(2) / 2) + 0.5 + bce[1]) / 2
    assert torch.isclose(terms["loss"], expect)
    assert torch.isclose(terms["cls"], bce.mean())
    assert torch.isclose(terms["l1"], torch.tensor(0.5))
    assert float(terms["acc"]) == 0.0  # logit 0 says not-face, logit 2 says face: both wrong


def test_dbvae_accuracy_counts_correct_signs():
    x = torch.zeros(2, 3, 4, 4)
    mu = lv = torch.zeros(2, 2)
    t = vae.dbvae_loss(x, x, mu, lv, torch.tensor([3.0, -3.0]), torch.tensor([1.0, 0.0]))
    assert float(t["acc"]) == 1.0
    t = vae.dbvae_loss(x, x, mu, lv, torch.tensor([-3.0, 3.0]), torch.tensor([1.0, 0.0]))
    assert float(t["acc"]) == 0.0


# ---------------------------------------------------------------------------- training


def test_a_few_steps_reduce_the_loss():
    data = vae.ChipData(_blobs(16))
    torch.manual_seed(0)
    before = vae.build_model("vae", 16, 4)
    err0 = np.abs(vae.reconstruct(before, data.chips) / 255.0 - data.chips / 255.0).mean()
    seen, result = _events(_cfg(epochs=8, lr=3e-3), data=data)
    train_l1 = [p["l1"] for p in _stage(seen, "train")]
    assert len(train_l1) == 16
    assert np.mean(train_l1[-3:]) < 0.8 * np.mean(train_l1[:3]), train_l1
    model = result.model
    err1 = np.abs(vae.reconstruct(model, data.chips) / 255.0 - data.chips / 255.0).mean()
    assert err1 < 0.8 * err0, (err0, err1)
    assert result.images_per_s > 0
    # an epoch ends with a note worth keeping: its losses and speed
    notes = [p.text for p in seen if p.stage == tasks.NOTE]
    assert len(notes) == 8 and notes[-1].startswith("epoch 8/8") and "img/s" in notes[-1]


def test_progress_info_and_samples():
    data = vae.ChipData(_blobs(16))
    seen, _ = _events(_cfg(sample_every=2, n_samples=3), data=data)
    train = _stage(seen, "train")
    assert [p["step"] for p in train] == [1, 2]
    assert [(p.done, p.total) for p in seen if p.stage == "train"] == [(1, 2), (2, 2)]
    for key in ("epoch", "epochs", "batch", "batches", "loss", "l1", "kl", "lr", "images_per_s",
                "elapsed_s", "device"):
        assert key in train[0]
    s = train[1]["samples"]
    assert s["original"].shape == s["reconstruction"].shape == (3, 64, 64, 3)
    assert s["reconstruction"].dtype == np.uint8


def test_cancel_stops_between_steps():
    data = vae.ChipData(_blobs(40))
    seen, r = _events(_cfg(epochs=3), data=data, stop_at=2)
    assert len(_stage(seen, "train")) == 2
    assert r.cancelled and r.step == 2 and r.checkpoint is None


def test_cancel_while_loading_data_raises(tmp_path):
    from PIL import Image

    folder = tmp_path / "crops"
    folder.mkdir()
    for i, chip in enumerate(_blobs(3)):
        Image.fromarray(chip).save(folder / f"c{i}.png")
    cancel = tasks.CancelToken()
    cancel.cancel()
    with pytest.raises(tasks.Cancelled):
        vae.load_data(str(folder), cancel=cancel)
    with pytest.raises(tasks.Cancelled):
        tasks.run(vae.train(_cfg(data=str(folder), out=str(tmp_path / "x.safetensors")),
                            cancel=cancel))
    assert not (tmp_path / "x.safetensors").exists()


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_checkpoint_round_trip_and_exact_resume(tmp_path):
    data = vae.ChipData(_blobs(32))  # 4 batches an epoch
    full = _run(_cfg(epochs=2, out=str(tmp_path / "full.safetensors"), command="cmd-full"),
                data=data)
    assert full.step == 8 and full.checkpoint == str(tmp_path / "full.safetensors")
    path = tmp_path / "full.safetensors"
    m = vae.load_checkpoint(path)
    for k, v in _weights(full.model).items():
        assert torch.equal(v, m.state_dict()[k]), k
    meta = json.loads((tmp_path / "full.safetensors.json").read_text())
    assert meta == vae.read_metadata(path) == m.meta
    assert meta["command"] == "cmd-full" and meta["architecture"] == "vae"
    assert meta["latent_dim"] == 16 and meta["progress"]["step"] == 8
    assert len(meta["latent_std"]) == 16
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave nothing behind
    chips = data.chips[:4]
    assert np.array_equal(vae.reconstruct(m, chips), vae.reconstruct(full.model, chips))

    # interrupted after 3 steps, resumed to 2 epochs: the same weights as the straight run
    part = tmp_path / "part.safetensors"
    _, p = _events(_cfg(epochs=2, out=str(part), command="cmd-a"), data=data, stop_at=3)
    prog = vae.read_metadata(part)["progress"]
    assert p.cancelled and (prog["epoch"], prog["batch"], prog["step"]) == (0, 3, 3)
    resumed = _run(_cfg(epochs=2, out=str(part), command="cmd-b"), data=data, resume=part)
    assert resumed.step == 8 and not resumed.cancelled
    for k, v in _weights(full.model).items():
        assert torch.allclose(v, resumed.model.state_dict()[k], atol=1e-6), k
    meta = vae.read_metadata(part)
    assert [h["command"] for h in meta["history"]] == ["cmd-a", "cmd-b"]
    assert [(h["from_step"], h["to_step"]) for h in meta["history"]] == [(0, 3), (3, 8)]

    # resuming with more epochs continues the count; a different architecture is refused
    more = _run(_cfg(epochs=3, out=str(part)), data=data, resume=part)
    assert more.step == 12 and more.epoch == 3
    with pytest.raises(ValueError, match="cannot resume"):
        _run(_cfg(epochs=3, latent_dim=8), data=data, resume=part)


def test_dbvae_trains_and_exposes_weights(tmp_path):
    data = vae.ChipData(_blobs(24), [f"f{i}" for i in range(24)],
                        negatives=np.random.default_rng(1).integers(0, 256, (10, 64, 64, 3),
                                                                    dtype=np.uint8))
    seen, result = _events(_cfg(dbvae=True, epochs=2, out=str(tmp_path / "db.safetensors")),
                           data=data)
    w = _stage(seen, "weights")
    assert len(w) == 2 and w[0]["weights"].shape == (24,)
    assert np.isclose(w[0]["weights"].sum(), 1.0) and w[0]["names"][0] == "f0"
    assert result.weights is w[1]["weights"]
    train = _stage(seen, "train")
    assert len(train) == 12 and "cls" in train[0] and "acc" in train[0]
    m = vae.load_checkpoint(tmp_path / "db.safetensors")
    assert isinstance(m, vae.DBVAE) and m.meta["architecture"] == "dbvae"
    assert vae.face_probability(m, data.chips).shape == (24,)
    with pytest.raises(ValueError, match="negatives"):
        _run(_cfg(dbvae=True), data=vae.ChipData(_blobs(8)))


def test_train_updates_stop_saves_and_cancel_aborts(tmp_path):
    """The Morph pane's stream: ``stop`` ends the run with a checkpoint, ``cancel`` aborts."""
    data = vae.ChipData(_blobs(40))
    chips = tmp_path / "crops"
    chips.mkdir()
    from PIL import Image

    for i, chip in enumerate(data.chips):
        Image.fromarray(chip).save(chips / f"c{i:02d}.png")
    config = dict(data=str(chips), epochs=3, batch_size=8, lr_schedule="constant", flip=False,
                  sample_every=0, threads=1, device="cpu", latent_dim=16, n_filters=4,
                  aligned=True)

    def drive(out, stop=None, cancel=None, at=2):
        task = vae.train_updates({**config, "out": str(out)}, stop=stop, cancel=cancel,
                                 interval_s=0.0)
        seen = []

        def on_item(u):
            seen.append(u)
            if u.phase == "train" and u.step >= at:
                (stop or cancel).cancel()

        return seen, tasks.run(task, on_item=on_item)

    stop = tasks.CancelToken()
    seen, done = drive(tmp_path / "stopped.safetensors", stop=stop)
    assert [u.phase for u in seen][:1] == ["data"] and seen[-1].phase == "checkpoint"
    assert [s for u in seen if u.phase == "train" for s in u.steps] == [1, 2]
    assert done.phase == "done" and done.cancelled and done.step == 2
    assert done.checkpoint == str(tmp_path / "stopped.safetensors")
    assert vae.read_metadata(done.checkpoint)["progress"]["step"] == 2

    cancel = tasks.CancelToken()
    with pytest.raises(tasks.Cancelled):
        drive(tmp_path / "aborted.safetensors", cancel=cancel)
    assert not (tmp_path / "aborted.safetensors").exists()


def test_cli_ctrl_c_stops_after_the_step_and_saves(tmp_path):
    """The first Ctrl-C ends ``train vae`` with a checkpoint and a ``--resume`` hint."""
    from PIL import Image

    folder = tmp_path / "crops"
    folder.mkdir()
    for i, chip in enumerate(_blobs(16)):
        Image.fromarray(chip).save(folder / f"c{i:02d}.png")
    out = tmp_path / "ctrl-c.safetensors"
    env = dict(os.environ, FACEINSPECTOR_CACHE=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "faceinspector", "train", "vae", "--data",
                             str(folder), "--epochs", "100000", "--batch-size", "4",
                             "--threads", "1", "--device", "cpu", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline()]  # the command
        while not lines[-1].startswith("epoch "):  # the first epoch's note: training
            lines.append(proc.stdout.readline())
            assert lines[-1], (lines, proc.stderr.read())
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    text = "".join(lines) + rest
    assert proc.returncode == 0, err
    assert "stopping after this step" in err
    assert "stopped at step" in text and "continue with --resume" in text
    step = int(text.split("stopped at step ")[1].split()[0])
    assert vae.read_metadata(out)["progress"]["step"] == step >= 4


def test_gui_facing_modules_import_without_torch():
    code = ("import sys\n"
            "from faceinspector.backend.vae import checkpoint, export, resampling, session, "
            "updates\n"
            "from faceinspector.backend import vae\n"
            "assert vae.default_checkpoint_path().name.endswith('.safetensors')\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# -------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("combine,ratio", [("max", 2.0), ("product", 100.0)])
def test_resampling_weights_favour_a_planted_rare_cluster(combine, ratio):
    rng = np.random.default_rng(0)
    common = rng.normal(0, 1, (950, 8))
    rare = rng.normal(4.5, 0.3, (50, 8))  # 5 % of the faces, far from the rest in every dim
    mu = np.concatenate([common, rare])
    w = vae.resampling_weights(mu, combine=combine)
    assert w.shape == (1000,) and np.isclose(w.sum(), 1.0) and (w > 0).all()
    assert w[950:].mean() > ratio * w[:950].mean()
    assert w[950:].sum() > 0.1  # drawn at least twice as often as uniform sampling would
    # no structure, no preference: identical latents give uniform weights
    assert np.allclose(vae.resampling_weights(np.ones((10, 3))), 0.1)


def test_dims_by_activity():
    mu = np.random.default_rng(0).normal(0, 0.01, (200, 6))
    mu[:, 4] *= 100
    mu[:, 1] *= 10
    assert list(vae.dims_by_activity(mu)[:2]) == [4, 1]


# ------------------------------------------------------------------------- data, export


def test_aligned_folder_data_and_cli(tmp_path, capsys):
    from PIL import Image

    from faceinspector import cli

    folder = tmp_path / "crops"
    folder.mkdir()
    for i, chip in enumerate(_blobs(12)):
        Image.fromarray(chip).resize((72, 72)).save(folder / f"c{i:02d}.png")
    d = vae.load_data(str(folder))
    assert d.chips.shape == (12, 64, 64, 3) and d.names[0] == "c00.png"
    assert "aligned" in d.description
    assert list((tmp_path / "cache").glob("chips-aligned-*.npz"))  # cached
    assert vae.load_data(str(folder)).chips.tobytes() == d.chips.tobytes()
    out = tmp_path / "cli.safetensors"
    rc = cli.main(["train", "vae", "--data", str(folder), "--epochs", "1", "--batch-size", "4",
                   "--threads", "1", "--device", "cpu", "--out", str(out)])
    assert rc == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "epoch 1/1" in text and "img/s" in text and "wrote" in text
    meta = vae.read_metadata(out)
    assert meta["command"].startswith("faceinspector train vae --data ")
    assert "--epochs 1" in meta["command"] and meta["progress"]["step"] == 3
    rc = cli.main(["train", "vae", "--data", str(folder), "--epochs", "2", "--batch-size", "4",
                   "--threads", "1", "--device", "cpu", "--out", str(out), "--resume"])
    assert rc == 0 and vae.read_metadata(out)["progress"]["step"] == 6
    assert cli.main(["train", "vae", "--data", str(tmp_path / "nope")]) == 2


def test_photo_folder_data_detects_and_aligns(tmp_path, demo_paths, backend):
    import shutil

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(demo_paths[0], folder / Path(demo_paths[0]).name)
    d = vae.load_data(str(folder), aligned=False, negatives=3, backend=backend)
    assert len(d.chips) >= 2 and d.chips.shape[1:] == (64, 64, 3)
    assert "#face0" in d.names[0] and d.negatives is not None and len(d.negatives) >= 1


def test_strip_png_and_gif(tmp_path):
    from PIL import Image

    frames = _blobs(4)
    strip = vae.strip_image(frames, gap=2)
    assert strip.shape == (64, 4 * 64 + 6, 3)
    png = vae.save_strip_png(frames, tmp_path / "s.png", scale=2)
    assert Image.open(png).size == ((4 * 64 + 6) * 2, 128)
    gif = vae.save_gif(frames, tmp_path / "s.gif", bounce=True)
    with Image.open(gif) as im:
        assert im.n_frames == 6  # 0 1 2 3 2 1


# ------------------------------------------------------------------ shipped checkpoint


def test_vae_template_matches_the_celeba_crop():
    # CelebA's mean landmarks, carried through the fixed CelebA box, land on the template
    celeba = TEMPLATES["celeba"].points * np.array([89, 109]) - 0.5  # pixel centres
    m = vae.data._celeba_matrix(89, 109)
    mapped = celeba @ m[:, :2].T + m[:, 2]
    assert np.allclose(mapped, vae.VAE_TEMPLATE.targets(), atol=1e-9)


def test_shipped_checkpoint_reconstructs_a_held_out_face():
    path = vae.default_checkpoint_path()
    assert path.is_file(), "the default VAE checkpoint is part of the project"
    assert path.stat().st_size <= 20 * 2**20
    model = vae.default_checkpoint()
    meta = model.meta
    assert meta["command"].startswith("faceinspector train vae --data celeba --limit 9000")
    assert "CelebA" in meta["credit"]
    if not CELEBA.is_dir():
        pytest.skip(dev_data_reason("celeba", "img_align_89x109"))
    held = vae.celeba_chips(9001, 9008, root=CELEBA, cache=False).chips
    x = held / 255.0
    err = np.abs(vae.reconstruct(model, held) / 255.0 - x).mean()
    blank = np.abs(0.5 - x).mean()
    assert err < 0.6 * blank, (err, blank)
    assert err < 0.12
