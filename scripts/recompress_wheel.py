"""Rewrite a wheel with LZMA (preset 9e) instead of deflate, file for file, so it travels in less space.

`python scripts/recompress_wheel.py WHEEL` replaces WHEEL in place. The contents, names and RECORD hashes are
unchanged; only the zip compression differs (method 14, LZMA, which pip's zipfile reads). Made for
TensorRT-RTX's library wheel (tensorrt-rtx-cu12-libs 1.7.1.116: 89 MB deflated), which the device
machine's 64 MiB working-tree limit cannot carry as shipped. Slow: a couple of minutes on two cores.
"""

from __future__ import annotations

import lzma
import shutil
import struct
import sys
import zipfile
from pathlib import Path


class _Lzma9e(zipfile.LZMACompressor):  # type: ignore[misc, name-defined]
    """zipfile's LZMA compressor at preset 9e (zipfile's own uses the default preset)."""

    def _init(self) -> bytes:
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1, "preset": 9 | lzma.PRESET_EXTREME})
        filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)]
        self._comp = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=filters)
        return struct.pack("<BBH", 9, 4, len(props)) + props


def recompress(wheel: Path) -> None:
    zipfile.LZMACompressor = _Lzma9e  # type: ignore[misc]
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, info.date_time)
            member.compress_type = zipfile.ZIP_LZMA  # a ZipInfo's own type wins over the archive's
            member.external_attr = info.external_attr
            with src.open(info) as fin, dst.open(member, "w") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    with zipfile.ZipFile(tmp) as check:  # every member reads back whole (CRC checked by zipfile)
        bad = check.testzip()
        if bad is not None:
            raise SystemExit(f"{tmp}: {bad} does not read back")
    before = wheel.stat().st_size
    tmp.replace(wheel)
    print(f"{wheel.name}: {before / 2**20:.1f} MiB -> {wheel.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        recompress(Path(arg))
