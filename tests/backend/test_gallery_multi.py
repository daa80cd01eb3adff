"""Issue 18: several faces per person (format 2, format-1 files still load), the nearest of a
person's faces decides, and a whole folder identified with rank-1 accuracy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from faceinspector.backend import gallery as gmod
from faceinspector.backend import tasks
from faceinspector.backend.embeddings import embed_images
from faceinspector.backend.gallery import FORMAT, FORMAT_V1, Gallery, GalleryError

from ..conftest import shared_data


def test_several_faces_per_person_and_the_nearest_decides(tmp_path):
    g = Gallery(model_id="toy", threshold=0.5)
    g.enroll("ann", [1.0, 0, 0], source=("/p/a.jpg", 1))
    g.enroll("bob", [0, 1.0, 0])
    assert g.enroll("ann", [0, 0, 1.0]) == 2
    m = g.identify(np.array([[0, 0.1, 0.95], [0.9, 0, 0.1]]))
    assert [x.name for x in m] == ["ann", "ann"]  # the second face of ann is nearest
    d = g.person_distances(np.array([0, 0, 1.0]))
    assert d.shape == (1, 2) and d[0, 0] == pytest.approx(0)
    g.save(tmp_path / "g.json")
    data = json.loads((tmp_path / "g.json").read_text())
    assert data["format"] == FORMAT
    assert [len(p["embeddings"]) for p in data["people"]] == [2, 1]
    assert data["people"][0]["sources"][0] == {"path": "/p/a.jpg", "face": 1}
    h = Gallery.load(tmp_path / "g.json")
    assert h.count("ann") == 2 and h.sources[0] == ("/p/a.jpg", 1) and h.sources[1] is None
    h.enroll("ann", [1.0, 1.0, 0], replace=True)
    assert h.count("ann") == 1 and h.names == ["ann", "bob"]


def test_a_format_1_gallery_still_loads(tmp_path):
    old = {"format": FORMAT_V1, "model_id": "toy", "metric": "l2", "threshold": 0.6, "dim": 3,
           "people": [{"name": "ann", "embedding": [1, 0, 0]},
                      {"name": "bob", "embedding": [0, 1, 0]}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    g = Gallery.load(tmp_path / "old.json")
    assert g.names == ["ann", "bob"] and g.owner == [0, 1] and g.embeddings.shape == (2, 3)
    assert [m.name for m in g.identify(np.eye(3)[:2])] == ["ann", "bob"]


@pytest.mark.parametrize("people, match", [
    ([{"name": "ann", "embeddings": []}], "has no embedding"),
    ([{"name": "ann", "embeddings": [[1, 0, 0]], "sources": []}], "one per embedding"),
    ([{"name": "ann", "embeddings": [[1, 0]]}], "embeddings do not all have the 3 values"),
    ([{"name": "ann", "embeddings": [[1, 0, float("nan")]]}], "'ann' holds NaN"),
])
def test_format_2_entries_are_checked(tmp_path, people, match):
    data = {"format": FORMAT, "model_id": "toy", "dim": 3, "people": people}
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(GalleryError, match=match):
        Gallery.load(tmp_path / "bad.json")


def test_identify_a_folder_of_people(backend, tmp_path):
    src = shared_data("lfw", "lfw-deepfunneled")
    people = [d for d in sorted(src.iterdir()) if len(list(d.glob("*.jpg"))) >= 3][:3]
    folder = tmp_path / "probe"
    for d in people:
        (folder / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[1:3]:
            shutil.copy(f, folder / d.name / f.name)
    g = Gallery(model_id="dlib-resnet")
    for d in people[:2]:  # the third person is not enrolled: must come out "unknown"
        first = sorted(d.glob("*.jpg"))[0]
        emb = tasks.run(embed_images(backend, [first], "dlib-resnet"))
        g.enroll(d.name.replace("_", " "), emb.embeddings[0])
    r = tasks.run(gmod.identify_folder(backend, g, folder))
    assert len(r.images) == 6 and r.labelled == 6 and r.known == 4
    assert r.rank1 == 1.0 and r.rank1_ci[0] <= 1.0
    assert r.accuracy >= 5 / 6 and r.accuracy_ci[0] <= r.accuracy <= r.accuracy_ci[1]
    assert all(r.correct(i) is not None for i in range(6))
    assert (r.face_index >= 0).all()
    with pytest.raises(GalleryError, match="enroll someone first"):
        tasks.run(gmod.identify_folder(backend, Gallery(model_id="dlib-resnet"), folder))
