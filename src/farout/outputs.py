"""Output files written under a temporary name beside their final one and
renamed when complete, so a failed or stopped run never leaves a
half-written output behind. The temporary files not yet renamed are
registered, for :func:`remove_pending` to delete on SIGTERM.

Light to import (no pandas or NumPy): the command line's entry point uses it
before any command runs.
"""

import contextlib
import os
import shutil
import tempfile

from .exceptions import InputError

__all__ = [
    "check_not_input",
    "discard_output",
    "finish_folder",
    "finish_output",
    "output_folder",
    "readable_by_others",
    "remove_pending",
    "temporary_folder",
    "temporary_output",
    "write_bytes",
]

# Temporary outputs of this process not yet renamed or removed: what
# remove_pending() deletes when the process is told to stop.
_PENDING = set()


def temporary_output(path, suffix=".part"):
    """``(fd, name)`` of a new hidden file beside the output ``path``, to
    write into and then :func:`finish_output` or :func:`discard_output`."""
    fd, tmp = tempfile.mkstemp(prefix=".farout-", suffix=suffix, dir=output_folder(path))
    _PENDING.add(tmp)
    return fd, tmp


def finish_output(tmp, path):
    """Give the finished temporary file its final name."""
    readable_by_others(tmp)
    os.replace(tmp, path)
    _PENDING.discard(tmp)


def discard_output(tmp):
    """Remove a temporary file or folder (already gone is fine)."""
    _PENDING.discard(tmp)
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def temporary_folder(path):
    """A new hidden folder beside the output folder ``path``, to fill and
    then :func:`finish_folder` or :func:`discard_output`. ``path`` must not
    exist, or be an empty folder."""
    if os.path.lexists(path) and not (os.path.isdir(path) and not os.listdir(path)):
        raise InputError(
            f"{path} already exists; the output folder must be new (or empty). Remove "
            "it or choose another name."
        )
    tmp = tempfile.mkdtemp(prefix=".farout-", suffix=".part", dir=output_folder(path))
    _PENDING.add(tmp)
    return tmp


def finish_folder(tmp, path):
    """Give the filled temporary folder its final name."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700
    if os.path.isdir(path):
        os.rmdir(path)  # empty (checked when the temporary folder was made)
    os.replace(tmp, path)
    _PENDING.discard(tmp)


def remove_pending():
    """Remove every temporary output of this process (on SIGTERM, before
    the stack unwinds: a library below may be blocked in a read)."""
    for tmp in list(_PENDING):
        discard_output(tmp)


def output_folder(path):
    """The folder an output ``path`` is written in (its temporary file
    too); an error naming it when it does not exist."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise InputError(f"{path}: the folder {folder} does not exist.")
    return folder


def check_not_input(out_path, *inputs):
    """Refuse an output that names one of the ``inputs``: renaming the
    finished output over it would replace the data it was made from."""
    if out_path in (None, "-"):
        return
    for path in inputs:
        if path in (None, "-"):
            continue
        same = os.path.abspath(os.fspath(out_path)) == os.path.abspath(os.fspath(path))
        if not same and os.path.exists(out_path) and os.path.exists(path):
            same = os.path.samefile(out_path, path)  # a link, or another spelling
        if same:
            raise InputError(
                f"{out_path} is also the input; writing it would replace the data. "
                "Write the output to another file."
            )


def write_bytes(path, data):
    """Write ``data`` to ``path`` under a temporary name, then rename."""
    fd, tmp = temporary_output(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        finish_output(tmp, path)
    except BaseException:
        discard_output(tmp)
        raise
    return path


def readable_by_others(path):
    """mkstemp creates files 0600; give the final file the permissions a
    plain open() would (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
