"""Issue 15 #7: the one atomic-write helper (temp beside the file, fsync, os.replace, the
temporary file removed on any failure) and the destination check."""

from __future__ import annotations

import os
import stat

import pytest

from faceinspector.backend.files import WriteError, atomic_open, atomic_write, check_writable


def test_atomic_write_replaces_and_keeps_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic_write(target, '{"a": 1}')
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    mode = stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not mkstemp's 0600
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_a_failure_inside_the_block_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with atomic_open(target, "w") as fh:
            fh.write("half")
            1 / 0
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_unwritable_destinations_are_one_line_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError, match=r"cannot write .*file/out.bin: .*file is a file, not"):
        atomic_write(blocker / "out.bin", b"x")
    with pytest.raises(WriteError, match="is a folder"):
        atomic_write(tmp_path, b"x")
    with pytest.raises(WriteError, match="cannot write the checkpoint .*: permission denied"):
        check_writable("/sys/faceinspector-test.bin", "checkpoint")
    assert check_writable(tmp_path / "new" / "x.bin") == tmp_path / "new" / "x.bin"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == []
