"""DB-VAE training's ``"weights"`` progress carries what a caller needs to show which
faces the weights favour: the weights, the faces' names and the chips themselves (a reference,
not a copy). CPU only, synthetic data, about a second."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceinspector.backend import tasks, vae


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setattr(vae.data, "data_cache_dir", lambda: tmp_path / "cache")
    threads, rng_state = torch.get_num_threads(), torch.get_rng_state()
    yield
    torch.set_num_threads(threads)
    torch.set_rng_state(rng_state)


def test_dbvae_weights_messages_carry_the_training_chips():
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)
    data = vae.ChipData(chips, [f"f{i}" for i in range(20)],
                        negatives=rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8))
    cfg = vae.TrainConfig(data="synthetic", epochs=2, batch_size=8, lr_schedule="constant",
                          flip=False, sample_every=0, threads=1, device="cpu", latent_dim=8,
                          n_filters=4, dbvae=True)
    seen: list[tasks.Progress] = []
    tasks.run(vae.train(cfg, data=data), on_progress=seen.append)
    msgs = [p.info for p in seen if p.stage == "weights"]
    assert [m["epoch"] for m in msgs] == [0, 1]
    for m in msgs:
        assert m["chips"] is data.chips  # no copy of the training set per epoch
        assert m["names"] == data.names and m["weights"].shape == (20,)
        assert np.isclose(m["weights"].sum(), 1.0)
