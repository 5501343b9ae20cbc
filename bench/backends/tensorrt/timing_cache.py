"""Which timing cache file a run's builds import and export, and the file handling around it.

Full TensorRT times candidate tactics while it builds and keeps the timings in a timing cache; a build
that finds a layer's timings there takes the tactic they name instead of timing again. So the cache a
build starts from decides its tactics as much as the GPU does, and sharing one file is how two runs (a
baseline and a candidate, two checkouts) build the same engines.

Three choices (`BackendOptions.timing_cache`):
- None: the harness's own file per TensorRT flavour + version and GPU under --cache-dir (as before);
- a path (`bench run --timing-cache PATH`): a file to share. Imported before the first build, exported
  after every build (atomically: a killed run leaves the previous file, never half of one);
- OFF (`--no-timing-cache`): none; every build times its tactics afresh (what build-time statistics
  need: each build does the whole work).

A file that TensorRT refuses (damaged, or made by another TensorRT version or GPU) is treated by who
named it. The user's file stops the run before any point (exit 2, one line): it was named to hold
tactics fixed, and building on silently without it would time new tactics while the user believes the
old ones are used. The harness's own file is only an accelerator: a warning, and it is rebuilt.

TensorRT-RTX has no timing cache (its calls are no-ops) and builds ahead of time time nothing: there the
choice is always "none", and a --timing-cache is refused. Pure Python: the TensorRT calls are in build.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.files import write_atomic  # the timing cache and engines are written like every whole file

_log = logging.getLogger(__name__)

OFF = "off"  # BackendOptions.timing_cache for --no-timing-cache (a path given by the user is made absolute)


@dataclass(frozen=True)
class TimingCacheFile:
    """The file a run's builds import from and export to (None: no timing cache)."""

    path: Path | None
    shared: bool  # named by the user: a file TensorRT refuses stops the run

    @property
    def used(self) -> bool:
        return self.path is not None


def option_value(path: str | None, off: bool) -> str | None:
    """BackendOptions.timing_cache from the command line: OFF, an absolute path, or None (the default)."""
    if path is not None and off:
        raise UserError("--timing-cache and --no-timing-cache exclude each other: give one")
    if off:
        return OFF
    return str(Path(path).expanduser().absolute()) if path is not None else None


def choose(option: str | None, has_cache: bool, own_path: Path) -> TimingCacheFile:
    """The file for this run: ``has_cache`` says whether the flavour times tactics here (a real timing
    cache and a GPU); ``own_path`` is the harness's own file for this flavour, version and GPU."""
    if option == OFF or not has_cache:
        return TimingCacheFile(None, False)
    if option is None:
        return TimingCacheFile(own_path, False)
    return TimingCacheFile(Path(option), True)


def digest(data: bytes) -> str:
    """16 hex digits of a serialised timing cache (an empty one has a digest too: the empty start)."""
    return hashlib.sha256(data).hexdigest()[:16]


def check_shared_path(path: Path) -> None:
    """UserError naming --timing-cache where the file can be neither read nor written: a folder, an
    unreadable file, a folder that cannot take the exported file."""
    where = f"--timing-cache {path}"
    if path.is_dir():
        raise UserError(f"{where}: is a folder; name a file, e.g. {path / 'timing.cache'}")
    if path.exists() and not os.access(path, os.R_OK):
        raise UserError(f"{where}: cannot be read; pass a file you can read, or a new path to start one")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{where}: cannot create its folder ({exc.strerror or exc}); pass a path you can write"
        ) from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"{where}: its folder cannot be written (the cache is exported after every build)")


def read(choice: TimingCacheFile) -> bytes:
    """The file's bytes (b"" where it does not exist yet: an empty cache, to be filled and exported).

    The user's file: UserError if it cannot be read. The harness's own: a warning, and an empty start."""
    assert choice.path is not None
    try:
        return choice.path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        if choice.shared:
            raise UserError(f"--timing-cache {choice.path}: cannot be read ({exc.strerror or exc})") from None
        _log.warning("timing cache %s cannot be read (%s): starting an empty one", choice.path, exc)
        return b""


def refused(choice: TimingCacheFile, why: str) -> None:
    """What to do with a file TensorRT would not import: UserError for the user's file (one line, exit 2);
    a warning for the harness's own (the run goes on with an empty cache, which replaces it)."""
    text = " ".join(why.split())
    if choice.shared:
        raise UserError(
            f"--timing-cache {choice.path}: TensorRT refused it (damaged, or made by another TensorRT version or GPU): "
            f"{text}. Pass the file the baseline exported with this TensorRT and GPU, or a new path to start one"
        )
    _log.warning(
        "timing cache %s refused by TensorRT (%s): starting an empty one, which replaces it", choice.path, text
    )


def export(choice: TimingCacheFile, data: bytes) -> None:
    """Write the cache after a build. A failed write costs the next run its timings, not this point its
    engine: a warning, and the previous file stays whole."""
    assert choice.path is not None
    try:
        write_atomic(choice.path, data)
    except OSError as exc:
        _log.warning("timing cache %s could not be written (%s); the previous file is kept", choice.path, exc)
