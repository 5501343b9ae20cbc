"""A SPEC of `bench versions`: a pip requirement or a wheel file, checked before anything is installed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError


@dataclass(frozen=True)
class Spec:
    text: str  # as the user wrote it
    requirement: str  # what pip installs: the requirement, or the wheel's absolute path
    wheel_digest: str | None = None  # a wheel's content, so a rebuilt wheel of one name is a new environment

    @property
    def label(self) -> str:
        """A file-name-safe name: 'tensorrt-rtx-cu13-1.4.0.76', or the wheel's file name without .whl."""
        base = Path(self.requirement).name.removesuffix(".whl") if self.wheel_digest else self.text
        return re.sub(r"[^A-Za-z0-9._-]+", "-", base.replace("==", "-")).strip("-") or "spec"

    def key(self) -> str:
        """What the environment's content depends on, for its cache key."""
        return self.wheel_digest or " ".join(self.requirement.split())


def _wheel(text: str) -> Spec:
    path = Path(text).expanduser()
    if not path.is_file():
        raise UserError(
            f"SPEC {text}: no such wheel file; give a requirement (tensorrt-cu12==10.16.1.11) or a .whl path"
        )
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return Spec(text, str(path.resolve()), h.hexdigest()[:16])


def parse(text: str) -> Spec:
    """One SPEC: a path ending in .whl, or a requirement pip understands (a name and usually ==VERSION)."""
    text = text.strip()
    if "://" in text:
        raise UserError(f"SPEC {text}: a URL; download the wheel and give its path, or give a requirement")
    if text.endswith(".whl") or "/" in text:
        return _wheel(text)
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        why = " ".join(str(exc).split())  # packaging's message spans lines, with a caret under the fault
        raise UserError(
            f"SPEC {text!r}: not a requirement pip reads ({why}); e.g. tensorrt-rtx-cu13==1.4.0.76"
        ) from None
    req.name = canonicalize_name(req.name)  # tensorrt_rtx_cu13 and tensorrt-rtx-cu13 are one package
    return Spec(text, str(req))


def parse_all(texts: list[str]) -> list[Spec]:
    """The SPECs in order (the first is the base every other is compared with); two or more, no repeats."""
    specs = [parse(t) for t in texts]
    if len(specs) < 2:
        raise UserError(f"give two or more SPECs to compare (got {len(specs)}), e.g. "
                        "tensorrt-rtx-cu13==1.4.0.76 tensorrt-rtx-cu13==1.7.1.116")  # fmt: skip
    seen: dict[str, str] = {}
    for s in specs:
        if s.key() in seen:
            raise UserError(f"SPEC {s.text} repeats {seen[s.key()]}: give each version once")
        seen[s.key()] = s.text
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise UserError(f"SPECs {', '.join(texts)} name the same files ({', '.join(labels)}): give distinct versions")
    return specs
