"""Issue 15 #7, #8, #9, #11 (VAE): checkpoints written atomically, the destination checked
first, fragile training folders, friendly checkpoint errors, the chips' own cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from faceinspector import cli
from faceinspector.backend import vae
from faceinspector.backend.vae.checkpoint import FORMAT, CheckpointError


@pytest.fixture
def crops(tmp_path, monkeypatch):
    """12 small aligned face-like crops in a folder; chips cached under tmp_path."""
    from PIL import Image

    monkeypatch.setenv("FACEINSPECTOR_CHIP_CACHE", str(tmp_path / "chips"))
    folder = tmp_path / "crops"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        img = rng.integers(0, 255, (72, 72, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"c{i:02d}.png")
    return folder


def train_args(folder, out, *more):
    return ["train", "vae", "--data", str(folder), "--epochs", "1", "--batch-size", "4",
            "--threads", "1", "--device", "cpu", "--out", str(out), *more]


# ------------------------------------------------------------------------------- #7 writes


def test_unwritable_out_fails_before_training(crops, capsys):
    code = cli.main(train_args(crops, "/sys/faceinspector-test/v.safetensors"))
    out = capsys.readouterr()
    assert code != 0
    assert "epoch 1/1" not in out.out and "img/s" not in out.out
    assert "Traceback" not in out.err
    assert "cannot write the checkpoint /sys/faceinspector-test/v.safetensors" in out.err


def test_a_failed_checkpoint_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    from faceinspector.backend.files import WriteError

    model = vae.build_model("vae", 4, 2)
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(28, "No "
                                                                          "space left")))
    with pytest.raises(WriteError, match="cannot write .*v.safetensors"):
        vae.save_checkpoint(tmp_path / "v.safetensors", model)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- #8 folders


def test_a_dangling_symlink_is_skipped_and_reported(crops, capsys):
    os.symlink(crops / "nowhere.jpg", crops / "zz_dangling.jpg")
    notes = []
    data = vae.load_data(str(crops), progress=lambda p: notes.append(p.text))
    assert len(data.chips) == 12 and "zz_dangling.jpg" not in data.names
    assert any("skipped 1 file" in n and "zz_dangling.jpg" in n for n in notes)


def test_a_fifo_named_like_a_photo_does_not_hang(crops, tmp_path):
    os.mkfifo(crops / "a_pipe.jpg")  # sorts first: among the files probed for 'aligned'
    code = textwrap.dedent(f"""
        from faceinspector.backend import vae
        d = vae.load_data({str(crops)!r})
        print(len(d.chips), "a_pipe.jpg" in d.names)
    """)
    env = {**os.environ, "FACEINSPECTOR_CHIP_CACHE": str(tmp_path / "chips2")}
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("loading a folder with a FIFO hangs")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["12", "False"]


def test_chips_have_a_cache_of_their_own(tmp_path, monkeypatch, crops, capsys):
    monkeypatch.delenv("FACEINSPECTOR_CHIP_CACHE")
    monkeypatch.setenv("FACEINSPECTOR_CACHE", str(tmp_path / "models"))
    assert vae.data_cache_dir() == tmp_path / "faceinspector-chips"
    code = cli.main(train_args(crops, tmp_path / "v.safetensors"))
    out = capsys.readouterr().out
    assert code == 0
    assert "cached the chips in " + str(tmp_path / "faceinspector-chips") in out
    assert not (tmp_path / "models").exists()  # the model cache is left alone


# ------------------------------------------------------------------------ #9 checkpoints


def _meta_only(path, meta):
    from safetensors.torch import save_file

    save_file({"model.x": torch.zeros(1)}, str(path), metadata={"faceinspector": json.dumps(meta)})
    return path


def test_checkpoint_errors_name_the_file(tmp_path):
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="short.safetensors is not a safetensors"):
        vae.load_checkpoint(short)
    nolat = _meta_only(tmp_path / "nolat.safetensors",
                       {"format": FORMAT, "architecture": "vae", "n_filters": 12})
    with pytest.raises(CheckpointError, match="nolat.safetensors: field 'latent_dim' .* missing"):
        vae.load_checkpoint(nolat)


def test_a_huge_latent_dim_is_refused_before_allocating(tmp_path):
    big = _meta_only(tmp_path / "big.safetensors", {"format": FORMAT, "architecture": "vae",
                                                    "latent_dim": 10_000_000_000,
                                                    "n_filters": 12})
    with pytest.raises(CheckpointError, match="'latent_dim' must be a whole number from 1 to"):
        vae.load_checkpoint(big)


def test_nan_weights_are_refused(tmp_path):
    model = vae.build_model("vae", 4, 2)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = vae.save_checkpoint(tmp_path / "nan.safetensors", model)
    with pytest.raises(CheckpointError, match="nan.safetensors: weight .* NaN"):
        vae.load_checkpoint(path)


def test_cli_resume_from_a_damaged_checkpoint(crops, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"abc")
    code = cli.main(train_args(crops, bad, "--resume"))
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "bad.safetensors is not a safetensors checkpoint" in err
