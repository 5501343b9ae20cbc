"""Clocks, temperature, power and throttle reasons through NVML (nvidia-ml-py); optional.

The only module that imports pynvml. Everything here degrades instead of raising: without the package,
without a driver or in a sandbox that hides NVML, `snapshot` returns {} and `throttle_mask` None, and
a measurement simply records no clocks. Throttle reasons are read as the driver's bit mask and named
with pynvml's own constants.
"""

from __future__ import annotations

import functools
import threading
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"init": None}  # None: not tried; True: usable; str: why not

# Reasons that do not mean the GPU ran slower than it could for this work: it was idle between
# launches, or clocks were set on purpose (application / display clocks).
_BENIGN = ("GpuIdle", "ApplicationsClocksSetting", "DisplayClockSetting")


@functools.cache
def _pynvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def available() -> tuple[bool, str]:
    """Whether NVML answers here, and why not. Initialises NVML once per process."""
    nv = _pynvml()
    if nv is None:
        return False, "nvidia-ml-py (pynvml) is not installed"
    with _LOCK:
        if _STATE["init"] is None:
            try:
                nv.nvmlInit()
                _STATE["init"] = True
            except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
                _STATE["init"] = f"nvmlInit failed: {type(exc).__name__}: {exc}"
    state = _STATE["init"]
    return (True, "ok") if state is True else (False, str(state))


@functools.cache
def _handle(index: int) -> Any:
    return _pynvml().nvmlDeviceGetHandleByIndex(index)  # type: ignore[union-attr]


def reason_bits() -> dict[str, int]:
    """Throttle (clock event) reason name -> bit, from pynvml's constants (newer names first). Read
    once per process: a scan of pynvml's namespace costs ~3 ms, and every measurement asks."""
    return dict(_reason_bits())


@functools.cache
def _reason_bits() -> dict[str, int]:
    nv = _pynvml()
    if nv is None:
        return {}
    bits: dict[str, int] = {}
    for prefix in ("nvmlClocksEventReason", "nvmlClocksThrottleReason"):
        for attr in dir(nv):
            if attr.startswith(prefix):
                name = attr[len(prefix) :]
                value = getattr(nv, attr)
                if name in ("All", "None", "Unknown") or not isinstance(value, int) or value == 0:
                    continue
                bits.setdefault(name, value)
    return bits


def reason_names(mask: int, bits: dict[str, int] | None = None) -> list[str]:
    """Names of the reasons set in ``mask`` (aliases such as HwThermalSlowdown / ThermalSlowdown merged)."""
    bits = reason_bits() if bits is None else bits
    seen: set[int] = set()
    names = []
    for name, bit in sorted(bits.items(), key=lambda kv: kv[1]):
        if mask & bit and bit not in seen:
            seen.add(bit)
            names.append(name)
    return names


def is_throttled(mask: int | None, bits: dict[str, int] | None = None) -> bool | None:
    """Whether a reason other than idle or a deliberate clock setting is active; None when unknown."""
    if mask is None:
        return None
    bits = reason_bits() if bits is None else bits
    benign = 0
    for name in _BENIGN:
        benign |= bits.get(name, 0)
    return bool(mask & ~benign)


def throttle_mask(index: int = 0) -> int | None:
    """The current throttle reason mask, or None when NVML is not usable (cheap: one NVML query)."""
    ok, _ = available()
    if not ok:
        return None
    nv = _pynvml()
    try:
        handle = _handle(index)
        getter = (
            getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or nv.nvmlDeviceGetCurrentClocksThrottleReasons
        )  # type: ignore[union-attr]
        return int(getter(handle))
    except Exception:
        return None


def snapshot(index: int = 0) -> dict[str, Any]:
    """SM/memory clocks (MHz), temperature (C), power (W) and throttle reasons now; {} without NVML."""
    ok, _ = available()
    if not ok:
        return {}
    nv = _pynvml()
    assert nv is not None
    try:
        handle = _handle(index)
    except Exception:
        return {}
    out: dict[str, Any] = {}

    def read(key: str, fn: Any, *args: Any, scale: float = 1.0) -> None:
        try:
            value = fn(handle, *args)
            out[key] = value * scale if scale != 1.0 else value
        except Exception:
            out[key] = None  # not supported on this GPU / in this sandbox

    read("sm_clock_mhz", nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM)
    read("mem_clock_mhz", nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_MEM)
    read("max_sm_clock_mhz", nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_SM)
    read("temperature_c", nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU)
    read("power_w", nv.nvmlDeviceGetPowerUsage, scale=1e-3)  # milliwatts
    mask = throttle_mask(index)
    out["throttle_mask"] = mask
    out["throttle_reasons"] = reason_names(mask) if mask is not None else None
    out["throttled"] = is_throttled(mask)
    return out


def index_for_uuid(uuid: str | None) -> int | None:
    """NVML's index (the host's numbering, which CUDA_VISIBLE_DEVICES does not change) of the GPU with
    this UUID; None without NVML. CUDA's device 0 in a process pinned to GPU 2 is NVML's index 2."""
    ok, _ = available()
    if not ok or not uuid:
        return None
    nv = _pynvml()
    try:
        return int(nv.nvmlDeviceGetIndex(nv.nvmlDeviceGetHandleByUUID(uuid)))  # type: ignore[union-attr]
    except Exception:
        return None


def driver_version() -> str | None:
    """The driver's own version (e.g. '580.159.04'), or None without NVML."""
    ok, _ = available()
    if not ok:
        return None
    try:
        v = _pynvml().nvmlSystemGetDriverVersion()  # type: ignore[union-attr]
    except Exception:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


def device_count() -> int | None:
    """How many GPUs the driver shows on this host (all of them: CUDA_VISIBLE_DEVICES does not apply to
    NVML), or None without NVML."""
    ok, _ = available()
    if not ok:
        return None
    try:
        return int(_pynvml().nvmlDeviceGetCount())  # type: ignore[union-attr]
    except Exception:
        return None
