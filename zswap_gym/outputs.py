"""Files the CLI writes: checked before anything runs, and written whole or not at all.

A run that takes an hour must not fail at its end because ``--json`` names a directory or ``--plot``
an image format nobody can write, so every output path is checked first; and an interrupted write
(Ctrl-C, a full disk) must not leave half a file, so each is written beside its target and renamed
over it.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


class OutputPathError(ValueError):
    """An output path that cannot be written; the message names the flag and the path."""


def _target(path: str) -> str:
    """Where writing ``path`` lands (through a symlink, so the link itself stays)."""
    return os.path.realpath(path)


def check_output_file(flag: str, path: str) -> None:
    """Check that ``path`` (given with option ``flag``) can be written, by creating and removing a
    temporary file beside it; :class:`OutputPathError` naming the flag and the path otherwise."""
    if not path:
        raise OutputPathError(f"{flag}: an empty path")
    target = _target(path)
    if os.path.isdir(target):
        raise OutputPathError(f"{flag} {path}: is a directory")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        what = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise OutputPathError(f"{flag} {path}: {directory} {what}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".zswap-gym-probe.", dir=directory)
    except OSError as exc:
        raise OutputPathError(f"{flag} {path}: cannot write in {directory}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)
    if os.path.exists(target) and not os.access(target, os.W_OK):
        raise OutputPathError(f"{flag} {path}: the file is read-only")


@functools.cache
def image_formats() -> tuple[str, ...]:
    """File extensions the episode plot can be written as: matplotlib's canvas formats that
    :func:`matplotlib.image.imsave` (what :func:`~zswap_gym.policy.plot_episode` calls) writes."""
    import warnings

    import matplotlib.image
    import numpy as np
    from matplotlib.backend_bases import FigureCanvasBase

    pixel = np.zeros((1, 1, 4), dtype=np.float32)
    formats = []
    for ext in sorted(FigureCanvasBase.get_supported_filetypes()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                matplotlib.image.imsave(io.BytesIO(), pixel, format=ext)
        except Exception:  # matplotlib lists it, but neither it nor Pillow writes an image as it
            continue
        formats.append(ext)
    return tuple(formats)


def check_plot_file(flag: str, path: str) -> None:
    """:func:`check_output_file`, and that the extension names an image format the plot can be written as."""
    ext = Path(path).suffix[1:].lower()
    formats = image_formats()
    if ext not in formats:
        problem = f"unknown image format {ext!r}" if ext else "no extension to tell the image format"
        raise OutputPathError(f"{flag} {path}: {problem}; use one of {', '.join(formats)}")
    check_output_file(flag, path)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def replaced_atomically(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` (same extension) to write to: when the block ends it replaces
    ``path``; if the block raises (or is interrupted) it is removed and ``path`` is left as it was."""
    target = _target(path)
    directory, name = os.path.split(target)
    fd, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=f".partial{Path(name).suffix}", dir=directory)
    os.close(fd)
    try:
        yield partial
        os.chmod(partial, os.stat(target).st_mode & 0o7777 if os.path.exists(target) else _new_file_mode())
        os.replace(partial, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole, or leave ``path`` as it was."""
    with replaced_atomically(path) as partial, open(partial, "w", encoding="utf-8") as f:
        f.write(text)
