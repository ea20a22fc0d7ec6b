"""Safe file handling shared by the data scripts.

Every file the data scripts produce goes through :func:`atomic_write_bytes` (or a helper built on it): the bytes are
written to a temporary file in the destination folder, flushed to disk and then moved into place, so a reader never
sees a half-written file and an interrupted run leaves no truncated output behind. An existing file is only replaced
when ``overwrite=True``; otherwise the move is done with ``os.link`` so that even a file created concurrently is never
clobbered.

Archives are verified (:func:`verify_checksum`) before they are opened and extracted member by member
(:func:`safe_extract`): absolute paths, ``..`` components, links and device files are refused, so no member can land
outside the target folder.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

__all__ = [
    "ChecksumError",
    "UnsafeArchiveError",
    "atomic_copy",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_writable",
    "file_digest",
    "load_nifti",
    "nifti_gz_bytes",
    "parse_checksum",
    "safe_extract",
    "staged_output",
    "verify_checksum",
]

HASH_TYPES = ("md5", "sha1", "sha256", "sha512")


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # what open() would give a new file (mkstemp uses 0o600)


class ChecksumError(ValueError):
    """Raised when a file's checksum does not match the expected value."""


class UnsafeArchiveError(ValueError):
    """Raised when an archive member would be written outside the extraction folder (or is a link/device)."""


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Raise ``FileExistsError`` naming ``path`` when it exists and ``overwrite`` is False.

    Args:
        path: the output file about to be written.
        overwrite: whether an existing file may be replaced.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"output file {path} already exists; pass overwrite=True (--overwrite) to replace it.")
    return path


@contextmanager
def _temporary_sibling(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary path in ``path``'s folder; it is removed afterwards if still present."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, _FILE_MODE)
    try:
        yield tmp_path
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished temporary file ``tmp`` to ``path`` (atomic; never clobbers unless ``overwrite``)."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and fails if path exists, even when it appeared since check_writable
    except FileExistsError:
        raise FileExistsError(
            f"output file {path} already exists; pass overwrite=True (--overwrite) to replace it."
        ) from None
    except OSError:  # file systems without hard links
        check_writable(path, overwrite=False)
        os.replace(tmp, path)
        return
    tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically: temporary file in the same folder, fsync, then rename.

    Args:
        path: destination file; missing parent folders are created.
        data: the complete file content.
        overwrite: replace an existing file. Default False: an existing file raises ``FileExistsError``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = check_writable(path, overwrite)
    with _temporary_sibling(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _commit(tmp, path, overwrite)
    return path


@contextmanager
def staged_output(out_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Collect a whole output tree in a staging folder and move it into ``out_dir`` only when complete.

    Inside the ``with`` block, write every output under the yielded staging folder (a hidden folder inside
    ``out_dir``, so the final moves are renames on one file system). When the block ends normally each staged file is
    moved to the same relative path under ``out_dir`` - atomically, and never over an existing file unless
    ``overwrite`` - with a top-level ``dataset.json`` moved last, so its presence marks a complete data set. When the
    block raises, nothing is moved: ``out_dir`` keeps its previous content (and is removed again if this call created
    it and it is empty).

    Args:
        out_dir: the final output folder.
        overwrite: replace existing files in ``out_dir``. Default False.
    """
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        yield stage
        files = sorted(p for p in stage.rglob("*") if p.is_file())
        last = [p for p in files if p.parent == stage and p.name == "dataset.json"]
        for p in [f for f in files if f not in last] + last:
            dst = out_dir / p.relative_to(stage)
            dst.parent.mkdir(parents=True, exist_ok=True)
            _commit(p, dst, overwrite)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()


def atomic_copy(src: str | os.PathLike, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Copy the file ``src`` to ``path`` atomically (see :func:`atomic_write_bytes`), streaming its content.

    Args:
        src: existing source file.
        path: destination file.
        overwrite: replace an existing destination. Default False.
    """
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"input file {src} does not exist.")
    path = check_writable(path, overwrite)
    with _temporary_sibling(path) as tmp:
        with open(src, "rb") as fi, open(tmp, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
            fo.flush()
            os.fsync(fo.fileno())
        _commit(tmp, path, overwrite)
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, overwrite: bool = False) -> Path:
    """Write ``obj`` as indented, key-sorted JSON (deterministic bytes) atomically to ``path``."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def nifti_gz_bytes(image: nib.Nifti1Image, compresslevel: int = 6) -> bytes:
    """Serialise a NIfTI image to deterministic ``.nii.gz`` bytes.

    The gzip header carries no file name and a zero modification time, so the same image always gives the same bytes
    (``gzip`` otherwise stamps the current time into every file).

    Args:
        image: the image to serialise.
        compresslevel: gzip level 0-9, default 6.
    """
    return gzip.compress(image.to_bytes(), compresslevel=compresslevel, mtime=0)


def load_nifti(path: str | os.PathLike, what: str = "image") -> nib.Nifti1Image:
    """Load a NIfTI file, turning every failure into an error that names the file.

    Args:
        path: the ``.nii`` / ``.nii.gz`` file.
        what: what the file is meant to be (used in messages), e.g. ``"label"``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable NIfTI image (or its data cannot be decompressed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist.")
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise ValueError(f"not a NIfTI image but {type(img).__name__}")
        # reading the data catches truncated or corrupt gzip streams, which nib.load alone does not
        np.asanyarray(img.dataobj)
    except Exception as err:  # nibabel raises many different types; all mean "malformed input"
        raise ValueError(f"{what} file {path} is not a readable NIfTI image: {err}") from err
    return img


def parse_checksum(spec: str) -> tuple[str, str]:
    """Parse ``"algo:hexdigest"`` (e.g. ``"md5:a90e..."``) into ``(algo, hexdigest)``.

    Raises:
        ValueError: unknown algorithm or a digest that is not hexadecimal of the right length.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', got {spec!r}.")
    algo, digest = spec.split(":", 1)
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if algo not in HASH_TYPES:
        raise ValueError(f"checksum algorithm must be one of {HASH_TYPES}, got {algo!r}.")
    expected_len = hashlib.new(algo).digest_size * 2
    if len(digest) != expected_len or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{algo} checksum must be {expected_len} hexadecimal characters, got {digest!r}.")
    return algo, digest


def file_digest(path: str | os.PathLike, algo: str = "sha256") -> str:
    """Hex digest of a file's content, read in 1 MiB chunks.

    Args:
        path: the file.
        algo: one of ``md5``, ``sha1``, ``sha256`` (default), ``sha512``.
    """
    if algo not in HASH_TYPES:
        raise ValueError(f"algo must be one of {HASH_TYPES}, got {algo!r}.")
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: str | os.PathLike, expected: str, algo: str = "md5") -> None:
    """Raise :class:`ChecksumError` naming ``path`` unless its ``algo`` digest equals ``expected``.

    Args:
        path: the downloaded or user-supplied file.
        expected: expected hex digest (case-insensitive).
        algo: hash algorithm, default ``md5`` (what the Medical Segmentation Decathlon publishes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"archive {path} does not exist.")
    actual = file_digest(path, algo)
    if actual != expected.lower():
        raise ChecksumError(f"{algo} checksum of {path} is {actual}, expected {expected.lower()}; refusing to use it.")


def _member_target(root: Path, name: str) -> Path:
    """Resolve an archive member name inside ``root`` or raise :class:`UnsafeArchiveError`."""
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"archive member {name!r} has an invalid name.")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in norm.split("/"):
        raise UnsafeArchiveError(f"archive member {name!r} points outside the extraction folder; refusing to extract.")
    target = (root / norm).resolve()
    if os.path.commonpath([str(root), str(target)]) != str(root):
        raise UnsafeArchiveError(f"archive member {name!r} points outside the extraction folder; refusing to extract.")
    return target


def _tar_members(tar: tarfile.TarFile, root: Path) -> list[tuple[tarfile.TarInfo, Path]]:
    members = []
    for m in tar.getmembers():
        target = _member_target(root, m.name)
        if m.issym() or m.islnk():
            raise UnsafeArchiveError(f"archive member {m.name!r} is a link; refusing to extract.")
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"archive member {m.name!r} is not a regular file or folder; refusing to extract.")
        members.append((m, target))
    return members


def _zip_members(zf: zipfile.ZipFile, root: Path) -> list[tuple[zipfile.ZipInfo, Path]]:
    members = []
    for m in zf.infolist():
        target = _member_target(root, m.filename)
        mode = (m.external_attr >> 16) & 0o170000
        if mode == 0o120000:
            raise UnsafeArchiveError(f"archive member {m.filename!r} is a link; refusing to extract.")
        members.append((m, target))
    return members


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract a ``.tar``/``.tar.gz``/``.zip`` archive into ``dest`` with path-traversal protection.

    Every member is checked *before anything is written*: absolute names, ``..`` components, names resolving outside
    ``dest``, symbolic and hard links and special files raise :class:`UnsafeArchiveError`. Members are extracted into a
    temporary folder inside ``dest`` and each top-level entry is then renamed into place, so an interrupted
    extraction leaves no partial tree at the final location. Existing top-level entries are not replaced.

    Args:
        archive: the archive file (its checksum should be verified first, see :func:`verify_checksum`).
        dest: the folder to extract into (created if missing).

    Returns:
        The extracted top-level paths inside ``dest``.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist.")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest)).resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info, target in _zip_members(zf, staging):
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as fi, open(target, "wb") as fo:
                        shutil.copyfileobj(fi, fo, 1 << 20)
        else:
            try:
                tar = tarfile.open(archive, "r:*")
            except tarfile.TarError as err:
                raise ValueError(f"archive {archive} is neither a zip nor a tar archive: {err}") from err
            with tar:
                for info, target in _tar_members(tar, staging):
                    if info.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(info)
                    if src is None:  # pragma: no cover - regular files always have a stream
                        raise UnsafeArchiveError(f"archive member {info.name!r} has no data.")
                    with src, open(target, "wb") as fo:
                        shutil.copyfileobj(src, fo, 1 << 20)
        tops = sorted(staging.iterdir())
        for top in tops:
            if (dest / top.name).exists():
                raise FileExistsError(f"{dest / top.name} already exists; remove it before extracting {archive}.")
        moved = []
        for top in tops:
            final = dest / top.name
            os.replace(top, final)
            moved.append(final)
        return moved
    finally:
        shutil.rmtree(staging, ignore_errors=True)
