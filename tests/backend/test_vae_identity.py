"""Issue 20: the residual VAE design (train, save, load, resume), the identity term and the
identity measurement (ranks, distances, the Morph pane's request). CPU, tiny models, seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceinspector.backend import tasks, vae
from faceinspector.backend.vae import identity
from faceinspector.backend.vae.checkpoint import CheckpointError

from .test_vae import _blobs, _cfg, _events, _run, _weights


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setattr(vae.data, "data_cache_dir", lambda: tmp_path / "cache")
    threads, rng_state = torch.get_num_threads(), torch.get_rng_state()
    yield
    torch.set_num_threads(threads)
    torch.set_rng_state(rng_state)


@pytest.fixture(scope="module")
def id_net():
    from faceinspector.backend.assets import AssetError

    try:
        return identity.identity_net("cpu")
    except AssetError as exc:
        pytest.skip(str(exc))


def test_residual_design_shapes_and_config():
    m = vae.build_model("vae", 8, 4, blocks=2)
    assert m.config()["blocks"] == 2 and "blocks" not in vae.build_model("vae", 8, 4).config()
    x = torch.rand(3, 3, 64, 64)
    out = m(x)
    assert out["recon"].shape == (3, 3, 64, 64) and out["mu"].shape == (3, 8)
    assert 0 <= out["recon"].min() and out["recon"].max() <= 1
    db = vae.build_model("dbvae", 8, 4, blocks=1)
    assert db(x)["logit"].shape == (3,)
    with pytest.raises(ValueError, match="blocks"):
        vae.build_model("vae", 8, 4, blocks=-1)


def test_residual_design_trains_saves_loads_and_resumes_exactly(tmp_path):
    data = vae.ChipData(_blobs(32))  # 4 batches an epoch
    kw = dict(blocks=1, latent_dim=8, n_filters=4, kl_warmup=0.5)
    full = _run(_cfg(epochs=2, out=str(tmp_path / "full.safetensors"), **kw), data=data)
    assert full.step == 8
    m = vae.load_checkpoint(tmp_path / "full.safetensors")
    assert m.blocks == 1 and m.meta["blocks"] == 1
    assert m.meta["train_config"]["kl_warmup"] == 0.5
    assert np.array_equal(vae.reconstruct(m, data.chips[:4]),
                          vae.reconstruct(full.model, data.chips[:4]))
    part = tmp_path / "part.safetensors"
    _, p = _events(_cfg(epochs=2, out=str(part), **kw), data=data, stop_at=3)
    assert p.cancelled and p.step == 3
    resumed = _run(_cfg(epochs=2, out=str(part), **kw), data=data, resume=part)
    assert resumed.step == 8
    for k, v in _weights(full.model).items():
        assert torch.allclose(v, resumed.model.state_dict()[k], atol=1e-6), k
    with pytest.raises(ValueError, match="cannot resume"):  # the small design is another net
        _run(_cfg(epochs=3, latent_dim=8, n_filters=4), data=data, resume=part)


def test_kl_warmup_ramps_the_weight():
    from faceinspector.backend.vae.training import _kl_weight_at

    cfg = _cfg(kl_weight=1e-3, kl_warmup=0.5)
    assert _kl_weight_at(cfg, 0.0) == 0.0
    assert _kl_weight_at(cfg, 0.25) == pytest.approx(5e-4)
    assert _kl_weight_at(cfg, 0.9) == 1e-3
    assert _kl_weight_at(_cfg(kl_weight=1e-3), 0.0) == 1e-3


def test_blocks_in_a_checkpoint_are_checked(tmp_path):
    path = tmp_path / "bad.safetensors"
    vae.save_checkpoint(path, vae.build_model("vae", 4, 2, blocks=1), {"blocks": 99})
    with pytest.raises(CheckpointError, match="'blocks' must be a whole number from 0 to 8"):
        vae.load_checkpoint(path)


def test_spatial_latent_grid_trains_saves_and_loads(tmp_path):
    m = vae.build_model("vae", 2 * 64, 4, blocks=1, grid=8)  # an 8x8 map of 2 channels
    out = m(torch.rand(3, 3, 64, 64))
    assert out["recon"].shape == (3, 3, 64, 64) and out["mu"].shape == (3, 128)
    assert m.config()["grid"] == 8 and "grid" not in vae.build_model("vae", 8, 4, 1).config()
    # each latent channel is a map: moving one cell of it changes the decoded face near it
    with torch.no_grad():
        m.eval()
        z = torch.zeros(1, 128)
        base = m.decode(z)
        z[0, 0] = 5.0  # channel 0, cell (0, 0): the top-left corner
        diff = (m.decode(z) - base).abs().sum(1)[0]
    assert diff[:16, :16].sum() > 10 * diff[40:, 40:].sum()
    for arch, latent, blocks, grid in (("vae", 128, 0, 8),  # the 6.S191 net has no grid
                                       ("vae", 128, 1, 4),  # not a grid it knows
                                       ("dbvae", 128, 1, 8),  # the DB-VAE's logit is flat
                                       ("vae", 100, 1, 8)):  # 100 is not 8x8 channels
        with pytest.raises(ValueError, match="latent grid"):
            vae.build_model(arch, latent, 4, blocks, grid)
    data = vae.ChipData(_blobs(16))
    r = _run(_cfg(epochs=1, out=str(tmp_path / "g.safetensors"), latent_dim=128, n_filters=4,
                  blocks=1, grid=8), data=data)
    back = vae.load_checkpoint(tmp_path / "g.safetensors")
    assert back.grid == 8 and back.meta["grid"] == 8
    assert np.array_equal(vae.reconstruct(back, data.chips[:4]),
                          vae.reconstruct(r.model, data.chips[:4]))
    path = tmp_path / "bad.safetensors"
    vae.save_checkpoint(path, vae.build_model("vae", 128, 4, blocks=1, grid=8), {"grid": 5})
    with pytest.raises(CheckpointError, match="'grid' must be one of 0, 8, 16"):
        vae.load_checkpoint(path)


def test_own_ranks_and_summary():
    orig = np.array([[0.0], [1.0], [2.0], [3.0]])
    recon = np.array([[0.0], [1.0], [3.2], [2.2]])  # faces 2 and 3 drift towards each other
    ranks = identity.own_ranks(orig, recon)
    assert ranks.tolist() == [1, 1, 3, 2]
    s = identity.rank_summary(ranks)
    assert s["rank1"] == 0.5 and s["median"] == 1.5 and s["top5"] == 1.0
    assert identity.own_ranks(orig, np.zeros_like(orig)).tolist() == [4, 4, 4, 4]  # ties: last


def test_resnet_input_upscales_and_normalises():
    x = torch.full((2, 3, 64, 64), 0.5, requires_grad=True)
    y = identity.resnet_input(x)
    assert y.shape == (2, 3, 150, 150)
    assert torch.allclose(y[0, 0], torch.full((150, 150), (127.5 - 122.782) / 256))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_identity_term_trains_with_cached_targets(tmp_path, id_net):
    data = vae.ChipData(_blobs(16))
    cfg = _cfg(epochs=1, id_weight=0.5, out=str(tmp_path / "id.safetensors"))
    seen, result = _events(cfg, data=data)
    steps = [p.info for p in seen if p.stage == "train"]
    assert len(steps) == 2 and all("id" in s and s["id"] > 0 for s in steps)
    assert [p for p in seen if p.stage == "embed"]  # computed once ...
    meta = vae.read_metadata(result.checkpoint)
    assert meta["loss"]["identity"]["weight"] == 0.5 and "id" in meta["last_losses"]
    seen, _ = _events(cfg, data=data)
    assert not [p for p in seen if p.stage == "embed"]  # ... then read from the cache
    assert any("identity targets from the cache" in p.text for p in seen)
    # the targets are the chips' embeddings, straight and mirrored
    targets = tasks.run(identity.iter_identity_targets(data.chips))
    assert targets.shape == (16, 2, 128)
    assert np.allclose(targets[:, 0], id_net.embed(data.chips), atol=1e-5)
    assert np.allclose(targets[:, 1], id_net.embed(data.chips[:, :, ::-1]), atol=1e-5)
    # id_start: no identity term before that share of the run
    seen, _ = _events(_cfg(epochs=2, id_weight=0.5, id_start=0.5), data=data)
    ids = ["id" in p.info for p in seen if p.stage == "train"]
    assert ids == [False, False, True, True]


def test_identity_distance_and_the_pane_request(id_net):
    chips = _blobs(2)
    d = identity.identity_distance(chips[0], chips[0])
    assert d.shape == (1,) and d[0] < 1e-4
    assert identity.identity_distance(chips[0], chips[1])[0] > 0.01
    face = vae.vae_face(None, vae.default_checkpoint_path(), "cpu", chip=chips[0], label="x")
    assert face.distance is not None and face.distance > 0 and face.tau == identity.TAU
    expect = identity.identity_distance(face.chip, face.recon)[0]
    assert face.distance == pytest.approx(float(expect), abs=1e-5)
    quick = vae.vae_face(None, vae.default_checkpoint_path(), "cpu", chip=chips[0],
                         distance=False)
    assert quick.distance is None and quick.distance_note == ""


def test_cli_trains_and_resumes_the_residual_design(tmp_path, capsys, id_net):
    from PIL import Image

    from faceinspector import cli

    folder = tmp_path / "crops"
    folder.mkdir()
    for i, chip in enumerate(_blobs(8)):
        Image.fromarray(chip).save(folder / f"c{i:02d}.png")
    out = tmp_path / "res.safetensors"
    args = ["train", "vae", "--data", str(folder), "--batch-size", "4", "--threads", "1",
            "--device", "cpu", "--out", str(out), "--latent-dim", "8", "--filters", "4",
            "--blocks", "1", "--kl-weight", "1e-05", "--id-weight", "0.1", "--id-start", "0.5"]
    assert cli.main(args + ["--epochs", "1"]) == 0
    text = capsys.readouterr().out
    assert "wrote" in text
    meta = vae.read_metadata(out)
    assert meta["blocks"] == 1 and meta["latent_dim"] == 8 and meta["n_filters"] == 4
    for flag in ("--latent-dim 8", "--filters 4", "--blocks 1", "--id-weight 0.1",
                 "--id-start 0.5"):
        assert flag in meta["command"], flag
    assert meta["train_config"]["id_start"] == 0.5
    assert cli.main(args + ["--epochs", "2", "--resume"]) == 0
    assert "ID " in capsys.readouterr().out  # the second epoch has the identity term
    assert vae.read_metadata(out)["progress"]["step"] == 4
    assert vae.load_checkpoint(out).blocks == 1
    assert cli.main(args + ["--epochs", "1", "--blocks", "9"]) == 2
