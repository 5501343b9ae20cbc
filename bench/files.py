"""Small files the harness reads and writes whole: JSON manifests, noise profiles, launch sets, reports.

Reading: a user hands these over by path, so anything may be there (a folder, a FIFO that never ends, a
UTF-16 file from an editor, JSON with NaN in it, a list where an object belongs). `read_json` turns each
into a ValueError that says what is wrong in a few words; its caller names the file and the fix.

Writing: through a temporary file in the same folder, fsynced and renamed over the target, so a killed
process or a full disk never leaves half a manifest or profile where a whole one was. A target that
exists but is not a regular file (/dev/stdout, a FIFO) is written in place: renaming over a device
would replace the device. `save` is the same write with its failure as one UserError line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
from pathlib import Path

from bench.errors import UserError

MAX_JSON_BYTES = 64 << 20  # far past any manifest, profile or launch set; a larger file is not one of them
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # a write that failed for want of space, not by mistake


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a float")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number (write null, or a finite number)")


def read_json(path: Path) -> object:
    """The JSON value in ``path``; ValueError saying why there is none (not a regular file, unreadable, not
    UTF-8, not JSON, NaN/Infinity, a number past float range, nesting too deep)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ValueError("is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("is not a regular file")
    if info.st_size > MAX_JSON_BYTES:
        raise ValueError(f"is {info.st_size} bytes, more than any such file holds ({MAX_JSON_BYTES})")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text (save it as UTF-8)") from None
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("is not valid JSON (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # a constant or number refused above, or an integer of thousands of digits
        raise ValueError(f"is not valid JSON here: {exc}") from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename, so a reader (or a
    killed writer) never sees half a file; the temporary file is removed if the write fails (a full disk).
    A symlink is written through (the link stays); an existing non-regular target is written in place."""
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        with open(path, "wb") as f:
            f.write(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def save(path: Path, text: str, what: str) -> Path:
    """`write_atomic` of ``text`` (UTF-8); a failure is one UserError line starting with ``what`` (the flag
    and path, as the user gave them), saying that nothing was replaced."""
    try:
        write_atomic(Path(path), text.encode("utf-8"))
    except OSError as exc:
        fix = "free space and run the command again" if exc.errno in FULL else "name a file you can write"
        where = f": {exc.filename}" if exc.filename and Path(exc.filename) != Path(path) else ""  # e.g. its folder
        raise UserError(
            f"{what}: cannot write it ({exc.strerror or exc}{where}); nothing was replaced: {fix}"
        ) from None
    return Path(path)
