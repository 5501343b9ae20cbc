"""The journal of a run in progress: one checksummed record per line, appended and fsynced as work finishes.

Why this format: a run is killed (kill -9, Ctrl-C, the OOM killer, a full disk) at any moment, and what
it measured must survive intact and be told apart from what did not. Each line is

    <crc32 of the payload, 8 hex digits> <payload: one JSON object>\\n

so a record is either whole and verified or it is damaged, never silently half-read:
- a last line without its newline is a torn write: it is reported and cut off (truncated) before the
  journal is appended to again, so the next record never lands on the end of a torn one;
- a line whose checksum does not match (bad bytes, a partial overwrite) is reported by line number and
  skipped: the point it held is not counted as done, so `--resume` runs it again;
- a failed write (disk full, a file size limit) truncates the file back to where it was, so the journal
  stays valid, and raises `JournalWriteError` naming the file.

The first record is the header (`kind: header`): the run id and the plan's identity, which `--resume`
checks. A journal is opened for writing under an exclusive `flock`, so a second process writing the
same run is refused instead of interleaving with it; the lock dies with its process.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UserError

FORMAT = 2  # journal line format; 1 was plain JSON lines without checksums (not resumable by this code)


class JournalWriteError(UserError):
    """A record could not be written (disk full, file too large); the journal was left valid."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why  # what failed, in words ("the disk is full")


def encode(record: dict) -> bytes:
    payload = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode(line: bytes) -> dict | None:
    """The record of one line (without its newline), or None when the line is damaged."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    head, payload = line[:8], line[9:]
    try:
        crc = int(head, 16)
    except ValueError:
        return None
    if zlib.crc32(payload) != crc:
        return None
    try:
        record = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Contents:
    """What a journal holds: the header, the intact records in order, and what was damaged."""

    path: Path
    header: dict
    records: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the line number of each record
    damaged: list[str] = field(default_factory=list)  # "line 17: checksum mismatch", in file order
    torn_bytes: int = 0  # length of an unterminated last line (a write cut short)
    valid_bytes: int = 0  # file length up to the end of the last complete line

    def problems(self) -> list[str]:
        out = list(self.damaged)
        if self.torn_bytes:
            out.append(f"a torn last record ({self.torn_bytes} bytes without a newline)")
        return out


def read(path: Path) -> Contents:
    """Read a journal; UserError when it has no intact header (it is not a journal this code can use)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO in its place must not block the open
    except OSError as exc:
        raise UserError(f"{path}: cannot read the journal ({exc.strerror or exc})") from None
    try:
        data = _read_regular(fd, path)
    finally:
        os.close(fd)
    end = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
    lines = data[:end].split(b"\n")[:-1] if end else []
    contents = Contents(path, header={}, torn_bytes=len(data) - end, valid_bytes=end)
    for number, line in enumerate(lines, start=1):
        record = decode(line)
        if number == 1:
            if record is None or record.get("kind") != "header":
                raise UserError(
                    f"{path}: not a resumable journal (its first line is not an intact header); "
                    "it cannot be resumed: start a new run"
                )
            contents.header = record
            continue
        if record is None:
            contents.damaged.append(f"line {number}: damaged record ({len(line)} bytes failed the checksum)")
        else:
            contents.records.append(record)
            contents.lines.append(number)
    if not contents.header:
        raise UserError(f"{path}: the journal is empty (no header): start a new run")
    return contents


def _read_regular(fd: int, path: Path) -> bytes:
    """All bytes of an open journal that is a regular file; a FIFO, a device (a link to /dev/zero) or a folder
    in its place is refused, since reading one would block or never end."""
    check_regular(fd, path)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def check_regular(fd: int, path: Path) -> None:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise UserError(
            f"{path}: not a journal (not a regular file: a FIFO, a device or a folder is in its place); "
            "remove it and start a new run"
        )


class Journal:
    """An open journal, locked for this process. Use `create` or `resume`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = Path(path)
        self._fd = fd

    @staticmethod
    def _lock(fd: int, path: Path, run_id: str) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(
                f"run {run_id} is being written by another process (its journal {path} is locked); "
                "wait for that process to finish, or start a new run"
            ) from None

    @classmethod
    def create(cls, path: Path, header: dict) -> Journal:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        journal = cls(path, fd)
        cls._lock(fd, path, str(header.get("run_id")))
        try:
            journal.append({"kind": "header", "format": FORMAT, **header})
        except JournalWriteError as exc:  # nothing ran yet: a journal without its header could never resume
            journal.close()
            path.unlink(missing_ok=True)
            raise UserError(
                f"cannot start the run's journal {path}: {exc.why}; nothing was measured: free space and run the "
                "command again"
            ) from None
        return journal

    @classmethod
    def resume(cls, path: Path, run_id: str) -> tuple[Journal, Contents]:
        """Lock the journal, read it, cut off a torn last record; the caller checks the header."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_NONBLOCK)
        except OSError as exc:
            raise UserError(f"--resume {run_id}: cannot open its journal {path} ({exc.strerror or exc})") from None
        try:
            check_regular(fd, path)
        except UserError:
            os.close(fd)
            raise
        cls._lock(fd, path, run_id)
        try:
            contents = read(path)
            if contents.torn_bytes:
                os.ftruncate(fd, contents.valid_bytes)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd), contents

    def append(self, record: dict) -> None:
        """Write one record and fsync it; on failure, cut the file back and raise JournalWriteError."""
        data = encode(record)
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, start)
                os.fsync(self._fd)
            except OSError:
                pass
            why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise JournalWriteError(
                f"cannot write to the journal {self.path}: {why}; it still holds every finished point: free "
                f"space, then run the same command with --resume {self.path.name.split('.')[0]}",
                why,
            ) from None

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # releases the lock

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
