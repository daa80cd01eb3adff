"""Issue 15 #11: the minor faults -- multi-page TIFFs, symlink loops, odd file names in
``detect`` output, a non-integer pairs index (file and line), a gallery without a model id."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pytest
from PIL import Image

from faceinspector import cli
from faceinspector.backend import images, triplets
from faceinspector.backend.gallery import FORMAT, Gallery, GalleryError


def test_a_multi_page_tiff_says_only_the_first_page_is_used(tmp_path, capsys):
    pages = [Image.new("RGB", (64, 48), c) for c in ("red", "green", "blue")]
    tif = tmp_path / "scan.tif"
    pages[0].save(tif, save_all=True, append_images=pages[1:])
    photo = images.load_photo(tif)
    assert photo.pixels[0, 0].tolist() == [255, 0, 0]
    assert photo.note == "scan.tif has 3 pages; only the first is used"
    assert cli.main(["detect", str(tif), "--device", "cpu"]) == 0
    assert "note: scan.tif has 3 pages; only the first is used" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loops_in_a_folder_are_reported(tmp_path):
    Image.new("RGB", (32, 32)).save(tmp_path / "ok.png")
    os.symlink(tmp_path / "b.jpg", tmp_path / "a.jpg")
    os.symlink(tmp_path / "a.jpg", tmp_path / "b.jpg")
    found = dict((p.name, r) for p, r in images.iter_photos(tmp_path))
    assert set(found) == {"a.jpg", "b.jpg", "ok.png"}
    assert isinstance(found["a.jpg"], images.ImageError)
    assert "a.jpg cannot be read: Too many levels of symbolic links" in str(found["a.jpg"])


def test_detect_output_survives_a_newline_in_a_file_name(tmp_path, demo_paths, capsys):
    odd = tmp_path / "two\nlines.jpg"
    shutil.copy(demo_paths[0], odd)
    assert cli.main(["detect", str(odd), "--device", "cpu", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3 and {r["path"] for r in rows} == {str(odd)}
    assert float(rows[0]["score"]) > 0.9 and "left_eye_x" in rows[0]
    assert cli.main(["detect", str(odd), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith(str(tmp_path / "two\\nlines.jpg") + ": 3 face(s)")
    assert cli.main(["detect", str(odd), "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["path"] == str(odd)


def test_a_non_integer_pairs_index_names_the_file_and_line(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("1\t1\nAnn\t1\t2\nAnn\t1\tBob\tx\n")
    with pytest.raises(ValueError, match=r"pairs.txt, line 3: not a pair .*Ann 1 Bob x"):
        triplets.read_pairs(f)


def test_a_gallery_without_a_model_id_says_so(tmp_path):
    f = tmp_path / "g.json"
    f.write_text(json.dumps({"format": FORMAT, "dim": 2, "people": [
        {"name": "ann", "embedding": [0.0, 1.0]}]}))
    with pytest.raises(GalleryError, match="g.json: field 'model_id' must name the embedder"):
        Gallery.load(f, expect_model="dlib-resnet")
