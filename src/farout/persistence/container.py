"""The model file: safe to load from a stranger.

A model file is a zip holding ``manifest.json`` and one ``.npy`` file per
array. The manifest records the format and farout versions, the estimator's
parameters and feature schema, and the SHA-256, dtype and shape of every
array. Arrays are read with ``allow_pickle=False``; nothing in the file is
ever unpickled or executed. This module knows the container, not the model:
the estimator turns its state into (manifest, arrays) and back.
"""

import hashlib
import io
import json
import os
import zipfile
import zlib
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

import numpy as np

from ..exceptions import ModelFileError
from ..outputs import discard_output, finish_output, temporary_output

__all__ = ["FORMAT", "FORMAT_VERSION", "read_manifest", "read_model", "write_model"]

FORMAT = "farout-model"
FORMAT_VERSION = 2
_MANIFEST = "manifest.json"
# Numeric and boolean arrays only: object arrays would need pickle.
_ALLOWED_KINDS = "biuf"
# Refuse members that claim to unpack past this (a zip bomb, or not ours).
_MAX_MEMBER_BYTES = 8 * 2**30


def farout_version():
    try:
        return _dist_version("farout")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_model(path, manifest, arrays):
    """Write ``manifest`` (JSON-ready dict) and ``arrays`` to a zip at ``path``.

    The file is written under a temporary name and renamed, so a crash never
    leaves half a model behind.
    """
    entries = {}
    blobs = {}
    for name, value in arrays.items():
        array = np.ascontiguousarray(value)
        if array.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"array {name!r} has dtype {array.dtype}; only numbers are stored.")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        data = buffer.getvalue()
        member = f"arrays/{name}.npy"
        blobs[member] = data
        entries[name] = {
            "file": member,
            "sha256": _sha256(data),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
        }
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "farout_version": farout_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest,
        "arrays": entries,
    }
    text = json.dumps(full, indent=2, sort_keys=True, allow_nan=False)
    path = os.fspath(path)
    fd, tmp = temporary_output(path, suffix=".tmp")
    try:
        with (
            os.fdopen(fd, "wb") as handle,
            zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            archive.writestr(_MANIFEST, text)
            for member, data in blobs.items():
                archive.writestr(member, data)
        finish_output(tmp, path)
    except BaseException:
        discard_output(tmp)
        raise


def read_manifest(path):
    """The manifest alone, checked; for ``farout info``."""
    archive, manifest = _open(path)
    archive.close()
    return manifest


def read_model(path):
    """Read and check a model file; returns ``(manifest, arrays)``.

    Raises
    ------
    ModelFileError
        The file is missing, not a zip, not a farout model, from a newer
        format version, truncated, or an array fails its hash.
    """
    archive, manifest = _open(path)
    arrays = {}
    with archive:
        names = set(archive.namelist())
        for name, entry in manifest["arrays"].items():
            if not isinstance(entry, dict):
                raise ModelFileError(f"{path}: the manifest entry for array {name!r} is malformed.")
            member = entry.get("file")
            if member not in names:
                raise ModelFileError(f"{path}: array {name!r} is missing from the model file.")
            info = archive.getinfo(member)
            if info.file_size > _MAX_MEMBER_BYTES:
                raise ModelFileError(f"{path}: array {name!r} is implausibly large.")
            try:
                data = archive.read(member)
            except _DAMAGE as exc:
                raise ModelFileError(
                    f"{path}: the model file is damaged: array {name!r} cannot be read "
                    f"({exc}). Use an undamaged copy."
                ) from None
            if _sha256(data) != entry.get("sha256"):
                raise ModelFileError(
                    f"{path}: array {name!r} does not match its SHA-256 in the manifest; "
                    "the file was modified or damaged. Do not use it."
                )
            try:
                array = np.load(io.BytesIO(data), allow_pickle=False)
                if not isinstance(array, np.ndarray):
                    raise ValueError("not a single .npy array")
            except (ValueError, OSError, EOFError) as exc:
                raise ModelFileError(
                    f"{path}: array {name!r} is not a plain array ({exc})."
                ) from None
            if array.dtype.kind not in _ALLOWED_KINDS or array.dtype.str != entry.get("dtype"):
                raise ModelFileError(f"{path}: array {name!r} has unexpected dtype {array.dtype}.")
            if list(array.shape) != entry.get("shape"):
                raise ModelFileError(f"{path}: array {name!r} has unexpected shape {array.shape}.")
            arrays[name] = array
    return manifest, arrays


# What a damaged zip raises: a bad header or CRC, a truncated member, or
# deflate data that no longer decompresses.
_DAMAGE = (zipfile.BadZipFile, zlib.error, OSError, EOFError)


def _open(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file.")
    if os.path.isdir(path):
        raise ModelFileError(f"{path} is a directory, not a farout model file.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is not a farout model file (not a zip archive; is it truncated, "
            "or a file from another tool?)."
        )
    try:
        archive = zipfile.ZipFile(path)
        raw = archive.read(_MANIFEST)
    except KeyError:
        raise ModelFileError(f"{path} is a zip but not a farout model (no {_MANIFEST}).") from None
    except _DAMAGE as exc:
        raise ModelFileError(
            f"{path}: the model file is damaged ({exc}). Use an undamaged copy."
        ) from None
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: the manifest is not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is not a farout model (its manifest has no format {FORMAT!r})."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{path}: the manifest has no valid format_version.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written in model format {version} by farout "
            f"{manifest.get('farout_version')}; this farout reads format "
            f"{FORMAT_VERSION} and older. Upgrade farout to load it."
        )
    if not isinstance(manifest.get("arrays"), dict):
        raise ModelFileError(f"{path}: the manifest lists no arrays.")
    return archive, manifest
