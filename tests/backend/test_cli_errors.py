"""Issue 15 #5 (and the CLI parts of #7, #11): every failure is one line and a non-zero exit,
never a traceback; arguments are checked by argparse; an unknown command is not opened as a
photo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from faceinspector import __main__ as entry
from faceinspector import cli


def run(capsys, *argv):
    """``faceinspector ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_models_fetch_into_a_cache_that_is_a_file(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FACEINSPECTOR_CACHE", str(blocker))
    code, _, err = run(capsys, "models", "fetch", "facenet-pytorch")
    assert code != 0
    line = one_error_line(err)
    assert "cannot write" in line and "FACEINSPECTOR_CACHE" in line


def test_missing_pairs_file_and_bad_headers(tmp_path, capsys):
    code, _, err = run(capsys, "eval", "lfw", str(tmp_path / "nope.txt"), "--device", "cpu")
    assert code != 0 and "nope.txt" in one_error_line(err)
    pairs = tmp_path / "pairs.txt"
    (tmp_path / "lfw-deepfunneled").mkdir()
    pairs.write_text("0 0\n")
    code, _, err = run(capsys, "eval", "lfw", str(pairs), "--device", "cpu")
    assert code != 0 and "pairs.txt: first line says 0 folds" in one_error_line(err)
    pairs.write_text("1 1\nAnn 1 two\nAnn 1 Bob 1\n")
    code, _, err = run(capsys, "eval", "lfw", str(pairs), "--device", "cpu")
    assert code != 0 and "pairs.txt, line 2: not a pair" in one_error_line(err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_device_errors(tmp_path, capsys):
    code, _, err = run(capsys, "detect", str(tmp_path), "--device", "cuda")
    assert code != 0 and "no CUDA GPU" in one_error_line(err)
    code, _, err = run(capsys, "detect", str(tmp_path), "--device", "banana")
    assert code == 2 and "unknown device 'banana'" in err


@pytest.mark.parametrize("argv, match", [
    (["train", "vae", "--data", ".", "--batch-size", "0"], "must be 1 or more"),
    (["train", "vae", "--data", ".", "--epochs", "-1"], "must be 1 or more"),
    (["train", "vae", "--data", ".", "--lr", "nan"], "finite number > 0"),
    (["detect", "--max-side", "-5"], "must be 0 or more"),
    (["eval", "folder", ".", "--folds", "0"], "must be 1 or more"),
])
def test_bad_numbers_are_refused_by_argparse(capsys, argv, match):
    code, _, err = run(capsys, *argv)
    assert code == 2 and match in err


def test_output_paths_that_are_files(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    code, _, err = run(capsys, "probe", str(tmp_path), "--out", str(f))
    assert code == 2 and "is a file, not a folder" in err
    code, _, err = run(capsys, "detect", str(tmp_path), "--crops", str(f))
    assert code == 2 and "is a file, not a folder" in err
    code, _, err = run(capsys, "train", "vae", "--data", str(tmp_path), "--out",
                       str(f / "v.safetensors"))
    assert code == 2 and "is a file, not a folder" in err


def test_unexpected_errors_are_one_line(monkeypatch, capsys):
    from faceinspector.cli import cmd_models

    def boom(args):
        raise AttributeError("'dict' object has no attribute 'shape'")

    monkeypatch.setattr(cmd_models, "cmd_models", boom)  # looked up when the parser is built
    code, _, err = run(capsys, "models", "list")
    assert code != 0
    assert one_error_line(err) == "error: AttributeError: 'dict' object has no attribute 'shape'"


def test_a_user_model_returning_a_dict_via_the_cli(tmp_path, capsys):
    class DictOut(torch.nn.Module):
        def forward(self, x) -> dict[str, torch.Tensor]:
            return {"a": x.mean(dim=(2, 3)), "b": x.mean(dim=(2, 3))}

    p = tmp_path / "m.pt"
    torch.jit.script(DictOut()).save(str(p))
    p.with_suffix(".json").write_text(json.dumps({"labels": ["x", "y", "z"], "input_size": 32}))
    code, _, err = run(capsys, "probe", str(tmp_path), "--model-file", str(p), "--device", "cpu",
                       "--out", str(tmp_path / "out"))
    assert code != 0 and "returns a dict (a, b)" in one_error_line(err)


def test_broken_pipe_is_quiet(tmp_path):
    """``faceinspector models list | head -0``: the reader is gone before the first line."""
    r, w = os.pipe()
    os.close(r)
    env = {**os.environ, "FACEINSPECTOR_CACHE": str(tmp_path / "cache")}
    env.pop("PYTHONUNBUFFERED", None)  # as in CI: stdout to a pipe is block-buffered
    proc = subprocess.run([sys.executable, "-m", "faceinspector", "models", "list"],
                          stdout=w, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    os.close(w)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr
    assert "Exception ignored" not in proc.stderr


def test_an_unknown_command_is_not_opened_as_photos(monkeypatch, tmp_path, capsys):
    import faceinspector.gui.app as app

    opened = []
    monkeypatch.setattr(app, "main", lambda argv=None: opened.append(argv) or 0)
    monkeypatch.chdir(tmp_path)
    code = entry.main(["frobnicate", "a", "b"])  # e.g. a command of a newer version
    err = capsys.readouterr().err
    assert opened == [] and code == 2
    assert "'frobnicate' is not a command" in err
    assert all(name in err for name in cli.COMMANDS)
    # an existing file or folder named like a word still opens the app
    (tmp_path / "photos").mkdir()
    assert entry.main(["photos"]) == 0 and opened == [["photos"]]
