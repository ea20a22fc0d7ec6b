"""Tests of the safe file handling of the data scripts: atomic writes, overwrite refusal, checksums, safe extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from data_scripts import _io
from data_scripts._io import (
    ChecksumError,
    UnsafeArchiveError,
    atomic_copy,
    atomic_write_bytes,
    atomic_write_json,
    load_nifti,
    nifti_gz_bytes,
    parse_checksum,
    safe_extract,
    staged_output,
    verify_checksum,
)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".extract-")]


def test_atomic_write_creates_and_refuses(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    assert (target.stat().st_mode & 0o777) == _io._FILE_MODE  # not mkstemp's 0600
    with pytest.raises(FileExistsError, match="a.bin"):
        atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"first"
    atomic_write_bytes(target, b"second", overwrite=True)
    assert target.read_bytes() == b"second"
    assert _leftovers(tmp_path) == []


def test_atomic_write_interrupted_leaves_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    original = target.read_bytes()

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(_io.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"v": 2}, overwrite=True)
    assert target.read_bytes() == original  # old content intact, never truncated
    assert _leftovers(tmp_path) == []
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert not (tmp_path / "new.bin").exists()


def test_no_clobber_even_if_file_appears_after_check(tmp_path, monkeypatch):
    target = tmp_path / "race.bin"
    real_check = _io.check_writable

    def check_then_create(path, overwrite):
        out = real_check(path, overwrite)
        Path(path).write_bytes(b"someone else")  # appears between the check and the final move
        return out

    monkeypatch.setattr(_io, "check_writable", check_then_create)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"mine")
    assert target.read_bytes() == b"someone else"
    assert _leftovers(tmp_path) == []


def test_atomic_copy(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3000))
    atomic_copy(src, tmp_path / "out" / "dst.bin")
    assert (tmp_path / "out" / "dst.bin").read_bytes() == src.read_bytes()
    with pytest.raises(FileExistsError):
        atomic_copy(src, tmp_path / "out" / "dst.bin")
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        atomic_copy(tmp_path / "missing.bin", tmp_path / "x.bin")


def test_json_is_deterministic(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    atomic_write_json(tmp_path / "b.json", {"a": [1, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_nifti_gz_bytes_deterministic_and_loadable(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    img = nib.Nifti1Image(data, np.diag([2.0, 3.0, 4.0, 1.0]))
    b1 = nifti_gz_bytes(img)
    b2 = nifti_gz_bytes(img)
    assert b1 == b2
    assert gzip.decompress(b1) == img.to_bytes()
    (tmp_path / "x.nii.gz").write_bytes(b1)
    np.testing.assert_array_equal(np.asarray(load_nifti(tmp_path / "x.nii.gz").dataobj), data)


def test_load_nifti_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.nii.gz"):
        load_nifti(tmp_path / "nope.nii.gz", "label")
    (tmp_path / "junk.nii.gz").write_bytes(b"this is not a nifti file")
    with pytest.raises(ValueError, match="junk.nii.gz"):
        load_nifti(tmp_path / "junk.nii.gz")
    good = nifti_gz_bytes(nib.Nifti1Image(np.ones((16, 16, 16), np.float32), np.eye(4)))
    (tmp_path / "cut.nii.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="cut.nii.gz"):
        load_nifti(tmp_path / "cut.nii.gz")


def test_checksums(tmp_path):
    f = tmp_path / "a.tar"
    f.write_bytes(b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    verify_checksum(f, md5, "md5")
    verify_checksum(f, md5.upper(), "md5")
    verify_checksum(f, hashlib.sha256(b"payload").hexdigest(), "sha256")
    with pytest.raises(ChecksumError, match="a.tar"):
        verify_checksum(f, "0" * 32, "md5")
    with pytest.raises(FileNotFoundError, match="b.tar"):
        verify_checksum(tmp_path / "b.tar", md5)
    assert parse_checksum(f"MD5:{md5}") == ("md5", md5)
    for bad in ("md5", f"crc:{md5}", "md5:xyz", f"sha256:{md5}"):
        with pytest.raises(ValueError, match="checksum"):
            parse_checksum(bad)


def _tar(path: Path, members: list[tuple[str, bytes | None, str]]) -> Path:
    """Write a tar with (name, data, kind) members; kind in file/dir/sym/lnk."""
    with tarfile.open(path, "w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tar.addfile(info)
            elif kind == "lnk":
                info.type, info.linkname = tarfile.LNKTYPE, data.decode()
                tar.addfile(info)
    return path


def test_safe_extract_regular_tar_and_zip(tmp_path):
    arc = _tar(tmp_path / "good.tar", [("Task/", None, "dir"), ("Task/a.txt", b"A", "file"),
                                       ("Task/sub/b.txt", b"B", "file")])
    out = tmp_path / "out"
    tops = safe_extract(arc, out)
    assert tops == [out / "Task"]
    assert (out / "Task" / "a.txt").read_bytes() == b"A" and (out / "Task" / "sub" / "b.txt").read_bytes() == b"B"
    assert _leftovers(out) == []
    with pytest.raises(FileExistsError, match="Task"):
        safe_extract(arc, out)  # never replaces an existing tree
    z = tmp_path / "good.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ISLES/x.txt", b"X")
    safe_extract(z, tmp_path / "zout")
    assert (tmp_path / "zout" / "ISLES" / "x.txt").read_bytes() == b"X"


@pytest.mark.parametrize(
    "members",
    [
        [("Task/a.txt", b"A", "file"), ("../evil.txt", b"EVIL", "file")],
        [("Task/../../evil.txt", b"EVIL", "file")],
        [("/tmp/evil_abs_segloss.txt", b"EVIL", "file")],
        [("Task/link", b"../../evil.txt", "sym"), ("Task/a.txt", b"A", "file")],
        [("Task/hard", b"/etc/passwd", "lnk")],
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"],
)
def test_safe_extract_refuses_crafted_tar(tmp_path, members):
    arc = _tar(tmp_path / "evil.tar", members)
    out = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        safe_extract(arc, out)
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/evil_abs_segloss.txt").exists()
    assert list(out.iterdir()) == []  # nothing extracted, not even the harmless members


def test_safe_extract_refuses_crafted_zip(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ok.txt", b"ok")
        zf.writestr("../../evil.txt", b"EVIL")
    out = tmp_path / "a" / "b"
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(z, out)
    assert not (tmp_path / "evil.txt").exists()
    assert list(out.iterdir()) == []


def test_safe_extract_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.tar"):
        safe_extract(tmp_path / "none.tar", tmp_path / "o")
    (tmp_path / "junk.tar").write_bytes(b"not an archive at all" * 10)
    with pytest.raises(ValueError, match="junk.tar"):
        safe_extract(tmp_path / "junk.tar", tmp_path / "o")


def test_staged_output_moves_all_or_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="midway"):
        with staged_output(out) as stage:
            atomic_write_bytes(stage / "imagesTr" / "a.nii.gz", b"a")
            raise RuntimeError("midway")
    assert not out.exists()  # created by the call, removed again; nothing moved
    order = []
    real_commit = _io._commit

    def recording_commit(tmp, path, ow):
        if ".staging-" not in str(path):  # the final moves, not the writes inside the staging folder
            order.append(path.name)
        real_commit(tmp, path, ow)

    monkeypatch.setattr(_io, "_commit", recording_commit)
    with staged_output(out) as stage:
        atomic_write_json(stage / "dataset.json", {"a": 1})
        atomic_write_bytes(stage / "imagesTr" / "a.nii.gz", b"a")
        atomic_write_bytes(stage / "stats.json", b"{}")
    assert order[-1] == "dataset.json" and sorted(order) == ["a.nii.gz", "dataset.json", "stats.json"]
    assert (out / "imagesTr" / "a.nii.gz").read_bytes() == b"a"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(FileExistsError, match="a.nii.gz"):
        with staged_output(out) as stage:
            atomic_write_bytes(stage / "imagesTr" / "a.nii.gz", b"b")
    assert (out / "imagesTr" / "a.nii.gz").read_bytes() == b"a"
    with staged_output(out, overwrite=True) as stage:
        atomic_write_bytes(stage / "imagesTr" / "a.nii.gz", b"b")
    assert (out / "imagesTr" / "a.nii.gz").read_bytes() == b"b"
