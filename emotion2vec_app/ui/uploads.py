"""Uploaded files as a labelled set: a .zip of class folders, or audio files and one manifest.

Everything lands in a folder the server made; of what the client sent only base names are
kept, and a zip member that would land outside that folder is never written.
"""

from __future__ import annotations

import csv
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from emotion2vec_app.dataset import MANIFEST_SUFFIXES, LabelledSet, read_labelled
from emotion2vec_app.files import AUDIO_SUFFIXES
from emotion2vec_app.ui.text import t

ZIP_LIMIT_GB = 2
ZIP_LIMIT_BYTES = ZIP_LIMIT_GB * 1024**3
CHUNK_BYTES = 1024 * 1024
KEPT_SUFFIXES = AUDIO_SUFFIXES | set(MANIFEST_SUFFIXES)


class UploadProblem(ValueError):
    """An upload that is no labelled set: `key` and `values` say why in text.py's words."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(t(key, "en").format(**values))
        self.key = key
        self.values = values


@dataclass
class Upload:
    data: LabelledSet
    name: str  # what the user uploaded: the zip's or the manifest's name
    skipped: list[str]  # uploaded files left out before reading the set, and why


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def upload_problem(names: list[str]) -> tuple[str, dict[str, Any]] | None:
    """Why these uploaded files (by name) cannot be a labelled set, as a text key and its
    values, or None: asked by the page first, to say it in the page's language."""
    if not names:
        return "eval_no_files", {}
    if any(_suffix(name) == ".zip" for name in names):
        return None if len(names) == 1 else ("eval_zip_alone", {"count": len(names)})
    manifests = [name for name in names if _suffix(name) in MANIFEST_SUFFIXES]
    if not manifests:
        return "eval_no_manifest", {}
    if len(manifests) > 1:
        return "eval_many_manifests", {"count": len(manifests), "names": ", ".join(manifests)}
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        return "eval_same_names", {"names": ", ".join(repeated)}
    return None


def labelled_upload(paths: list[Path], folder: Path) -> Upload:
    """The uploaded files (gradio's copies, named as the user's) as a labelled set in
    `folder`: a zip unpacked there (its class folders, or the one manifest it holds), or the
    files copied there side by side with their manifest."""
    names = [path.name for path in paths]
    problem = upload_problem(names)
    if problem:
        raise UploadProblem(problem[0], **problem[1])
    folder.mkdir(parents=True, exist_ok=True)
    if _suffix(names[0]) == ".zip":
        skipped = unpack_zip(paths[0], folder)
        manifests = [p for p in folder.rglob("*") if p.suffix.lower() in MANIFEST_SUFFIXES]
        if len(manifests) != 1:
            return Upload(read_labelled(folder), names[0], skipped)
        _rewrite_paths(manifests[0], flat=False)
        return Upload(read_labelled(manifests[0]), names[0], skipped)
    kept = [path for path in paths if _suffix(path.name) in KEPT_SUFFIXES]
    for path in kept:
        shutil.copyfile(path, folder / path.name)
    (manifest,) = (folder / p.name for p in kept if _suffix(p.name) in MANIFEST_SUFFIXES)
    _rewrite_paths(manifest, flat=True)
    skipped = [f"{p.name}: neither audio nor a manifest, skipped" for p in paths if p not in kept]
    return Upload(read_labelled(manifest), manifest.name, skipped)


def _rewrite_paths(manifest: Path, *, flat: bool) -> None:
    """Point every row at an uploaded file: by its base name when the files were uploaded
    side by side (rows name them as on the user's disk: clips/a.wav, C:\\data\\a.wav), and
    never outside the upload (an absolute path, a '..'), which could name any server file."""
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    try:
        with manifest.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle, delimiter=delimiter))
    except (UnicodeDecodeError, csv.Error):
        return  # read_labelled says what is wrong with it
    column = _path_column(rows)
    for row in rows:
        if column < len(row) and (flat or _member_parts(row[column]) is None):
            row[column] = PureWindowsPath(row[column].strip()).name  # splits at / and \\
    with manifest.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)


def _path_column(rows: list[list[str]]) -> int:
    """As dataset.read_labelled finds it: named by a header of path and label, else first."""
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    return header.index("path") if "path" in header and "label" in header else 0


def unpack_zip(archive: Path, folder: Path, limit: int = ZIP_LIMIT_BYTES) -> list[str]:
    """Its audio files and manifests, where their names say, under `folder`; returns what
    was left out and why. Refuses more than `limit` bytes unpacked, whatever the zip claims."""
    try:
        with zipfile.ZipFile(archive) as opened:
            members = [m for m in opened.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > limit:
                raise UploadProblem("eval_zip_too_big", limit_gb=ZIP_LIMIT_GB)
            skipped: list[str] = []
            budget = _Budget(limit)
            for member in members:
                target = _member_target(member.filename, folder)
                if target is None:
                    skipped.append(f"{member.filename}: a path outside the zip, not unpacked")
                elif target.suffix.lower() in KEPT_SUFFIXES and not _is_hidden(target, folder):
                    _unpack(opened, member, target, budget)
            return skipped
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as error:
        raise UploadProblem("eval_bad_zip", name=archive.name, reason=str(error)) from error


def _member_parts(name: str) -> tuple[str, ...] | None:
    """A relative path's parts, or None for an absolute path, a drive, or a '..' part."""
    parts = PurePosixPath(name.strip().replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
        return None
    return parts


def _member_target(name: str, folder: Path) -> Path | None:
    """Where a member goes inside `folder`, or None when it would land outside."""
    parts = _member_parts(name)
    target = folder.joinpath(*parts).resolve() if parts else None
    return target if target and target.is_relative_to(folder.resolve()) else None


def _is_hidden(target: Path, folder: Path) -> bool:
    """Not data: .DS_Store, and the __MACOSX/ and ._a.wav copies that macOS zips hold."""
    parts = target.relative_to(folder.resolve()).parts
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


@dataclass
class _Budget:
    """The bytes a zip may still unpack to: counted as they come, not as the zip claims."""

    left: int

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise UploadProblem("eval_zip_too_big", limit_gb=ZIP_LIMIT_GB)


def _unpack(
    opened: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: _Budget
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with opened.open(member) as source, target.open("wb") as sink:
        while chunk := source.read(CHUNK_BYTES):
            budget.spend(len(chunk))
            sink.write(chunk)
