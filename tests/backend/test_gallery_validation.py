"""Issue 15 #3: a bad gallery file is refused on load, naming the file and the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceinspector.backend.gallery import FORMAT, Gallery, GalleryError


def write(path, dim=128, people=None, **fields):
    people = people if people is not None else [{"name": "ann", "embedding": [0.1] * 128},
                                                {"name": "bob", "embedding": [0.2] * 128}]
    data = {"format": FORMAT, "model_id": "dlib-resnet", "metric": "l2", "threshold": 0.6,
            "dim": dim, "people": people}
    data.update(fields)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path):
    g = Gallery.load(write(tmp_path / "g.json"), expect_model="dlib-resnet")
    assert g.names == ["ann", "bob"] and g.embeddings.shape == (2, 128)


def test_nan_embedding_is_refused(tmp_path):
    people = [{"name": "ann", "embedding": [0.1] * 128},
              {"name": "nan-man", "embedding": [float("nan")] * 128}]
    with pytest.raises(GalleryError, match=r"g.json: field 'people'.*'nan-man'.*NaN"):
        Gallery.load(write(tmp_path / "g.json", people=people), expect_model="dlib-resnet")


def test_wrong_dimension_for_the_embedder_is_refused(tmp_path):
    people = [{"name": "ann", "embedding": [0.1] * 4}]
    with pytest.raises(GalleryError, match=r"g.json: field 'dim' is 4.*128-D"):
        Gallery.load(write(tmp_path / "g.json", dim=4, people=people),
                     expect_model="dlib-resnet")


@pytest.mark.parametrize("field, value, match", [
    ("metric", "manhattan", "field 'metric' must be one of l2, sq-l2, cosine"),
    ("threshold", float("nan"), "field 'threshold' must be a finite number"),
    ("threshold", "0.6", "field 'threshold' must be a finite number"),
    ("threshold", -1, "field 'threshold' must be a finite number >= 0"),
    ("model_id", None, "field 'model_id' must name the embedder"),
    ("dim", "4", "field 'dim' must be a whole number"),
])
def test_bad_fields_name_the_file_and_the_field(tmp_path, field, value, match):
    with pytest.raises(GalleryError, match=f"bad.json: {match}"):
        Gallery.load(write(tmp_path / "bad.json", **{field: value}))


def test_identify_with_other_sized_faces_says_so():
    g = Gallery(model_id="toy")
    g.enroll("ann", np.ones(4))
    with pytest.raises(GalleryError, match="128-D embeddings, the gallery holds 4-D"):
        g.identify(np.ones((1, 128)))
    with pytest.raises(GalleryError, match="NaN"):
        g.enroll("bob", np.full(4, np.nan))


def test_a_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Issue 15 #7: os.replace refused -> a one-line error naming the file, nothing left."""
    import os

    from faceinspector.backend.files import WriteError

    g = Gallery(model_id="toy")
    g.enroll("ann", np.ones(4))
    target = tmp_path / "people.json"
    target.write_text("old")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WriteError, match="cannot write .*people.json: permission denied"):
        g.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.json"]
    assert target.read_text() == "old"
