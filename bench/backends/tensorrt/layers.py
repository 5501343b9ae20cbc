"""The layers and tactics of a built engine, read from what TensorRT says about it, and their digest.

TensorRT describes a built engine in two places, with the same names: the engine inspector
(`get_engine_information(LayerInformationFormat.JSON)`, which needs a deserialised engine, so a GPU the
engine runs on) and, at the end of a build with DETAILED profiling verbosity, a VERBOSE log message
(TensorRT-RTX: "Layers:" followed by one line per layer in the inspector's one-line form; TensorRT 8.x and
10.x: "Engine Layer Information:" with "Layer(TYPE): NAME, Tactic: 0x..., ..."). Ahead-of-time builds
have only the log.

Each layer is reduced to (name, type, tactic), the tactic being its kernel's name where TensorRT gives one
(`TacticName`) and its tactic id otherwise (`TacticValue`, or "Tactic:" in the 8.x/10.x log). Tensor
formats are left out: the two sources spell them differently, and a format TensorRT changes shows up as a
reformat layer, which is a layer of its own. The digest of that list says whether two engines run the
same kernels; `reformat_layers` names the layers TensorRT added to change a tensor's format.

The 8.x/10.x builder log gives tactic ids where the inspector gives kernel names, so a digest read from
that log matches only digests read from the same kind of log (`source` says which). Rows that executed
on a GPU all read the inspector.

Pure text processing: no TensorRT import, so any module (a report) may read stored layer information.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

INSPECTOR = "engine inspector"
BUILDER_LOG = "builder log"

# RTX "Layers:" lines / the inspector's one-line form: "Name: N, LayerType: T, ..., TacticName: K, StreamId: 0, ..."
_ONELINE = re.compile(r"^\s*Name: (?P<name>.*?), LayerType: (?P<type>[^,]*)(?P<rest>.*)$")
_TACTIC_NAME = re.compile(r", TacticName: (?P<v>.*?)(?=, [A-Z][A-Za-z]*: |$)")
_TACTIC_VALUE = re.compile(r", TacticValue: (?P<v>[^,]*)")
# 8.x/10.x "Engine Layer Information:" lines: "Layer(Scale): (Unnamed Layer* 0) [Scale], Tactic: 0x..., x[...] -> y[...]"
_LAYER_LINE = re.compile(r"^\s*Layer\((?P<type>[^)]*)\): (?P<name>.*?), Tactic: (?P<tactic>[^,\s]*)")


@dataclass(frozen=True)
class Layer:
    name: str
    type: str
    tactic: str  # kernel name, else tactic id; "" where TensorRT gave neither

    def label(self) -> str:
        """'kgen __myl_MulAdd_0x0847af...' (type and tactic, the name left out: it is often long)."""
        return f"{self.type} {self.tactic}".strip()


@dataclass(frozen=True)
class EngineLayers:
    layers: tuple[Layer, ...]
    source: str  # INSPECTOR | BUILDER_LOG

    @property
    def digest(self) -> str | None:
        """16 hex digits over every layer's (name, type, tactic), in engine order; None without layers."""
        if not self.layers:
            return None
        blob = json.dumps([[x.name, x.type, x.tactic] for x in self.layers], separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def reformat_layers(self) -> tuple[Layer, ...]:
        return tuple(x for x in self.layers if "reformat" in x.type.lower() or x.name.startswith("Reformatting"))


def _from_json_layer(item: object) -> Layer | None:
    if isinstance(item, str):  # LAYER_NAMES_ONLY verbosity: names, no tactics
        return Layer(item, "", "")
    if not isinstance(item, dict):
        return None
    tactic = item.get("TacticName") or item.get("TacticValue") or ""
    return Layer(str(item.get("Name", "")), str(item.get("LayerType", "")), str(tactic))


def from_inspector_json(text: str) -> EngineLayers | None:
    """The layers of `get_engine_information(JSON)` ({"Layers": [...], "Bindings": [...]}); None if the text
    is not that."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    items = value.get("Layers") if isinstance(value, dict) else None
    if not isinstance(items, list):
        return None
    layers = tuple(x for x in map(_from_json_layer, items) if x is not None)
    return EngineLayers(layers, INSPECTOR)


def from_log_table(text: str) -> EngineLayers | None:
    """The layers of the layer table a build logs (either form); None where no line reads as a layer."""
    layers = []
    for line in text.splitlines():
        m = _ONELINE.match(line)
        if m:
            rest = m.group("rest")
            named, valued = _TACTIC_NAME.search(rest), _TACTIC_VALUE.search(rest)
            tactic = (named.group("v") if named else "") or (valued.group("v") if valued else "")
            layers.append(Layer(m.group("name"), m.group("type").strip(), tactic.strip()))
            continue
        m = _LAYER_LINE.match(line)
        if m:
            layers.append(Layer(m.group("name"), m.group("type"), m.group("tactic")))
    return EngineLayers(tuple(layers), BUILDER_LOG) if layers else None


def from_layer_info(layer_info: str | None) -> EngineLayers | None:
    """The layers of a row's `layer_info`: the inspector's JSON, or the harness's wrapper around a logged
    table ({"source": "builder log ...", "format": "text", "layers": TEXT}); None if neither."""
    if not layer_info:
        return None
    try:
        value = json.loads(layer_info)
    except (TypeError, ValueError):
        return from_log_table(layer_info)
    if isinstance(value, dict) and value.get("format") == "text" and isinstance(value.get("layers"), str):
        return from_log_table(value["layers"])
    return from_inspector_json(layer_info)
