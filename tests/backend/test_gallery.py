"""One-shot gallery: enroll, identify, plain-file round trip, refusal of another embedder."""

import numpy as np
import pytest

from faceinspector.backend.gallery import Gallery, GalleryError

from ..conftest import shared_data


def test_enroll_identify_roundtrip(tmp_path):
    g = Gallery(model_id="toy-3d", threshold=0.6)  # not a bundled embedder: any dimension
    g.enroll("ann", np.array([1.0, 0, 0]))
    g.enroll("bob", np.array([0, 1.0, 0]))
    m = g.identify(np.array([[0.9, 0.1, 0], [0, 0.95, 0.1], [0, 0, 1.0]]))
    assert [x.name for x in m] == ["ann", "bob", "unknown"]
    assert m[2].nearest in ("ann", "bob") and m[2].distance > 0.6
    assert g.enroll("ann", np.array([0.5, 0.5, 0])) == 2  # enrolling again adds a face
    assert g.names == ["ann", "bob"] and g.count("ann") == 2 and len(g.embeddings) == 3
    p = tmp_path / "people.json"
    g.save(p)
    assert b"pickle" not in p.read_bytes()
    h = Gallery.load(p, expect_model="toy-3d")
    assert h.names == g.names and h.owner == [0, 0, 1]  # saved person by person
    for n in g.names:
        assert np.allclose(h.embeddings[h.rows(n)], g.embeddings[g.rows(n)])
    h.remove("bob")
    assert h.names == ["ann"] and h.count("ann") == 2 and h.owner == [0, 0]
    assert h.enroll("ann", np.array([0, 0, 1.0]), replace=True) == 1


def test_refuses_other_embedder_and_bad_files(tmp_path):
    g = Gallery(model_id="dlib-resnet")
    g.enroll("ann", np.ones(4))
    p = tmp_path / "g.json"
    g.save(p)
    with pytest.raises(GalleryError, match="made with the embedder 'dlib-resnet'"):
        Gallery.load(p, expect_model="facenet-512")
    with pytest.raises(GalleryError, match="4-D"):
        g.enroll("bob", np.ones(5))
    with pytest.raises(GalleryError, match="needs a name"):
        g.enroll("  ", np.ones(4))
    bad = tmp_path / "bad.json"
    bad.write_text("{]")
    with pytest.raises(GalleryError, match="not a readable gallery"):
        Gallery.load(bad)
    bad.write_text('{"format": "other"}')
    with pytest.raises(GalleryError, match="not a FaceInspector gallery"):
        Gallery.load(bad)


def test_one_shot_on_real_lfw_people(backend):
    """Enroll one photo each of two people, identify their other photos."""
    root = shared_data("lfw", "lfw-deepfunneled")
    people = [d.name for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) >= 3][:3]
    g = Gallery(model_id="dlib-resnet")
    probes = []
    for name in people[:2]:
        files = sorted((root / name).glob("*.jpg"))
        for k, f in enumerate(files[:3]):
            photo = backend.load_photo(f)
            face = max(backend.detect(photo).faces, key=lambda x: x.width)
            emb = backend.predict(photo, face, "dlib-resnet").embedding
            if k == 0:
                g.enroll(name, emb)
            else:
                probes.append((name, emb))
    stranger = sorted((root / people[2]).glob("*.jpg"))[0]
    photo = backend.load_photo(stranger)
    face = max(backend.detect(photo).faces, key=lambda x: x.width)
    probes.append(("unknown", backend.predict(photo, face, "dlib-resnet").embedding))
    got = [m.name for m in g.identify(np.stack([e for _, e in probes]))]
    assert got == [n for n, _ in probes]
