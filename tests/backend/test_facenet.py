"""FaceNet (InceptionResnetV1): listed as unavailable with a reason, loads a weights file safely."""

import numpy as np
import pytest
import torch

from faceinspector.backend import models
from faceinspector.backend.models.facenet import FaceNet512


def test_unavailable_without_weights(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEINSPECTOR_FACENET_WEIGHTS", raising=False)
    monkeypatch.setenv("FACEINSPECTOR_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "t"))
    card = models.card("facenet-512")
    assert not card.available and "FACEINSPECTOR_FACENET_WEIGHTS" in card.reason
    with pytest.raises(ValueError, match="unavailable"):
        FaceNet512()
    monkeypatch.setenv("FACEINSPECTOR_FACENET_WEIGHTS", str(tmp_path / "nope.pt"))
    assert "not a file" in models.card("facenet-512").reason


def test_loads_a_state_dict_file_with_weights_only(monkeypatch, tmp_path):
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    p = tmp_path / "w.pt"
    torch.save(InceptionResnetV1(pretrained=None).eval().state_dict(), p)
    monkeypatch.setenv("FACEINSPECTOR_FACENET_WEIGHTS", str(p))
    assert models.card("facenet-512").available
    m = FaceNet512()
    chips = np.random.default_rng(0).integers(0, 256, (2, 160, 160, 3), dtype=np.uint8)
    emb = m.predict(chips).embeddings
    assert emb.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    bad = tmp_path / "bad.pt"
    torch.save({"conv.weight": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="not an InceptionResnetV1 state dict"):
        FaceNet512(weights=bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable torch state dict"):
        FaceNet512(weights=junk)
