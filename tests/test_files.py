"""Whole small files (manifests, noise profiles, launch sets, reports): whatever a path holds, reading it is
a value or one ValueError saying what is wrong, never a hang or a traceback; writing it replaces the old
file whole or not at all, and never replaces what is not a regular file."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from bench import files
from bench.errors import UserError


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e999}', "1e999 is too large for a float"),
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "is not valid JSON here"),
        ("{not json", "is not valid JSON (Expecting property name"),
        ("", "is not valid JSON (Expecting value at line 1 column 1)"),
    ],
)
def test_json_a_reader_elsewhere_would_refuse_or_that_is_no_json_is_one_value_error(tmp_path, content, says):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"^is ") as exc:
        files.read_json(path)
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_text_that_is_not_utf8_is_named_and_a_utf8_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "u16.json").write_bytes('{"a": 1}'.encode("utf-16"))
    (tmp_path / "latin1.json").write_bytes('{"a": "caf\xe9"}'.encode("latin-1"))
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf{"a": 1}')
    for name in ("u16.json", "latin1.json"):
        with pytest.raises(ValueError, match=r"is not UTF-8 text \(save it as UTF-8\)"):
            files.read_json(tmp_path / name)
    assert files.read_json(tmp_path / "bom.json") == {"a": 1}


def test_a_folder_a_fifo_a_missing_file_and_a_symlink_loop_are_refused_without_waiting(tmp_path, no_hang):
    os.mkfifo(tmp_path / "fifo.json")  # opened for reading, it would wait for a writer forever
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    cases = {"fifo.json": "is not a regular file", "missing.json": "cannot read it (No such file",
             "loop.json": "cannot read it (Too many levels of symbolic links", ".": "is a folder, not a file"}  # fmt: skip
    for name, says in cases.items():
        with pytest.raises(ValueError, match=r"^" + says.replace("(", r"\(")):
            files.read_json(tmp_path / name)


def test_a_failed_write_keeps_the_old_file_whole_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    files.save(path, '{"old": 1}\n', "--out m.json")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(UserError, match=r"^--out m.json: cannot write it \(No space left on device\); nothing was "
                                        "replaced: free space"):  # fmt: skip
        files.save(path, '{"new": 2}\n', "--out m.json")
    assert path.read_text() == '{"old": 1}\n' and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_a_target_that_is_a_folder_or_under_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=r"^--out .*: cannot write it \(Is a directory\)"):
        files.save(tmp_path, "{}", f"--out {tmp_path}")
    with pytest.raises(UserError, match=r"cannot write it \(.*: .*file\); nothing was replaced"):
        files.save(tmp_path / "file" / "x.json", "{}", "--out x")


def test_a_fifo_is_written_into_not_replaced_and_a_symlink_is_written_through(tmp_path, no_hang):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    files.save(fifo, "through the pipe", "--out pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"] and fifo.is_fifo()  # a rename would have put a regular file there
    target = tmp_path / "real.json"
    (tmp_path / "link.json").symlink_to(target)
    files.save(tmp_path / "link.json", "{}", "--out link.json")
    assert (tmp_path / "link.json").is_symlink() and target.read_text() == "{}"
