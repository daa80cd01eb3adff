"""Model packs: verified fetch, clear messages for missing or corrupt files, offline use."""

import shutil
import subprocess
import sys

import pytest

from faceinspector.backend import assets


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEINSPECTOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_manifest_lists_every_file_with_sha256():
    man = assets.manifest()
    for pack, spec in man["packs"].items():
        assert spec["client"] in ("pip", "npm")
        assert spec["license"]
        for member, entry in spec["files"].items():
            assert len(entry["sha256"]) == 64, (pack, member)
    for mid, info in man["models"].items():
        names = {e["to"] for e in man["packs"][info["pack"]]["files"].values()}
        assert set(info["files"]) <= names, mid


def test_cache_dir_env_override(empty_cache):
    assert assets.cache_dir() == empty_cache


def test_missing_pack_message_names_the_fix(empty_cache):
    with pytest.raises(assets.AssetError, match="faceinspector models fetch") as exc:
        assets.path("face-api", "model/face_recognition_model.bin")
    assert "missing" in str(exc.value)
    rows = {m.id: m for m in assets.list_models()}
    assert not rows["dlib-resnet"].present and "missing" in rows["dlib-resnet"].problem


def test_fetch_from_installed_distribution_then_corruption_is_caught(empty_cache):
    # facenet-pytorch is installed by pip as a dependency: fetch copies and verifies its weights.
    logs = []
    n = assets.fetch(["facenet-pytorch"], log=logs.append)
    assert n == 3
    p = assets.path("facenet-pytorch", "onet.pt")
    assert p.is_file() and str(p).startswith(str(empty_cache))
    # a second fetch finds everything verified and writes nothing
    assert assets.fetch(["facenet-pytorch"], log=logs.append) == 0
    data = bytearray(p.read_bytes())
    data[100] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(assets.AssetError, match="corrupt.*faceinspector models fetch"):
        assets.path("facenet-pytorch", "onet.pt")
    assert assets.fetch(["facenet-pytorch"], log=logs.append) == 1
    assert assets.path("facenet-pytorch", "onet.pt") == p


def test_unknown_pack_is_a_clear_error(empty_cache):
    with pytest.raises(assets.AssetError, match="Unknown pack"):
        assets.fetch(["nope"])


def test_cli_without_models_prints_one_line_not_a_traceback(empty_cache, tmp_path):
    env = {"FACEINSPECTOR_CACHE": str(empty_cache), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "faceinspector", "detect", "--device", "cpu"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "faceinspector models fetch" in out.stderr
    out = subprocess.run([sys.executable, "-m", "faceinspector", "models", "list"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "NO" in out.stdout and "models fetch" in out.stdout


def test_real_cache_is_complete():
    """After `make test`'s fetch step every pack is present and verified."""
    missing = [m.id for m in assets.list_models() if not m.present]
    if missing and not shutil.which("npm"):
        pytest.skip("npm is not installed")
    assert missing == []
