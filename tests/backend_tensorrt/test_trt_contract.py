"""The execution path held against NVIDIA's real modules, never a fake.

Every attribute, method and enum member the execution path reaches on a TensorRT object (derived from
the code by trt_usage.py) must exist in each real module, and each call must pass an argument count one
of the module's own signatures accepts (pybind11 docstrings). A use the module lacks is allowed only
where the features detected from that same module switch its code path off (GUARDS): e.g.
execute_async_v2 is absent from 10.x and 11.x, whose features choose v3.

Real modules here (installed by `nox -s tests`, see pyproject.toml [tool.scale-bench.trt-contract]):
- TensorRT's lean runtime 11.4.0.106 and 10.16.1.11 (`tensorrt_lean_bindings`, one folder each under
  .cache/trt-contract, imported in a subprocess: both install the same module name);
- TensorRT-RTX (`tensorrt_rtx`, the `rtx` extra);
- TensorRT 8.6.1's bindings wheel: its extension module cannot be imported (it needs libnvinfer.so.8, which
  no registry here has), so the names are looked up among the extension's own strings. pybind11 builds
  signatures at import time, from C++ types, so 8.6's argument counts cannot be read without importing
  it: only the names are checked there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from pybind_signatures import signatures
from trt_generations import TRT10, TRT11, TRT86
from trt_usage import MODULE, RETURNS, SCOPE, Use, execution_path_usage

from bench.backends.tensorrt import features as feat

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DIR = ROOT / ".cache" / "trt-contract"
PROBE = Path(__file__).with_name("trt_module_probe.py")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["scale-bench"]["trt-contract"]

# The real modules, by the install group that holds each (None: installed in this environment)
MODULES = {
    "lean-11": ("tensorrt_lean_bindings", "lean-11", "11.4.0.106"),
    "lean-10": ("tensorrt_lean_bindings", "lean-10", "10.16.1.11"),
    "rtx": ("tensorrt_rtx", None, None),
}


def _v2(f: feat.TrtFeatures) -> bool:
    return feat.run_api_skip_reason(f, "v2") is None


def _v3(f: feat.TrtFeatures) -> bool:
    return feat.run_api_skip_reason(f, "v3") is None


def _inspector(f: feat.TrtFeatures) -> bool:
    return feat.can_inspect_built_engine(f, "a GPU")


def _timing_cache(f: feat.TrtFeatures) -> bool:
    """Modules are probed as flavour 'tensorrt', so TensorRT-RTX, whose bindings have the same timing cache
    API (as no-ops), holds the argument counts of the full API's path."""
    return f.has_timing_cache


# use -> (the code path it lies on, whether the module's features take that path)
GUARDS: dict[tuple[str, str], tuple[str, Callable[[feat.TrtFeatures], bool]]] = {
    ("IExecutionContext", "execute_async_v2"): ("--trt-api v2", _v2),
    ("ICudaEngine", "num_bindings"): ("--trt-api v2", _v2),
    ("ICudaEngine", "get_binding_index"): ("v2 or shapes by binding", lambda f: _v2(f) or not f.has_tensor_api),
    ("ICudaEngine", "get_binding_shape"): ("shapes by binding", lambda f: feat.shape_query(f) == "bindings"),
    ("ICudaEngine", "get_tensor_shape"): ("shapes by tensor name", lambda f: feat.shape_query(f) == "tensor"),
    ("IExecutionContext", "execute_async_v3"): ("--trt-api v3", _v3),
    ("IExecutionContext", "set_tensor_address"): ("--trt-api v3", _v3),
    ("ICudaEngine", "create_engine_inspector"): ("engine inspector", _inspector),
    ("EngineInspector", "get_engine_information"): ("engine inspector", _inspector),
    (MODULE, "LayerInformationFormat"): ("engine inspector", _inspector),
    ("LayerInformationFormat", "JSON"): ("engine inspector", _inspector),
    # a builder's config: absent from the lean runtimes, which build nothing and time no tactics
    ("IBuilderConfig", "create_timing_cache"): ("timing cache", _timing_cache),
    ("IBuilderConfig", "set_timing_cache"): ("timing cache", _timing_cache),
    ("ITimingCache", "serialize"): ("timing cache", _timing_cache),
}

USAGE = execution_path_usage()


def _missing_real_module(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}: CI must hold the execution path against it (nox -s tests installs it)")
    pytest.skip(f"{why}: `nox -s tests` installs it into .cache/trt-contract")


@cache
def _probe(name: str) -> dict:
    module, group, _version = MODULES[name]
    path = [str(ROOT)]
    if group is not None:
        folder = CONTRACT_DIR / group
        if not folder.is_dir():
            return {"missing": f"{folder} is not there"}
        path.insert(0, str(folder))
    queries = sorted({u.key for u in USAGE.uses} | set(RETURNS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run([sys.executable, str(PROBE), module, "tensorrt"], input=json.dumps(queries), env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    if done.returncode != 0:
        if f"No module named '{module}'" in done.stderr:
            return {"missing": f"{module} is not installed"}
        raise AssertionError(f"probing {module} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def probe(name: str) -> dict:
    found = _probe(name)
    if "missing" in found:
        _missing_real_module(f"the real module for {name}: {found['missing']}")
    return found


def _features(found: dict) -> feat.TrtFeatures:
    return feat.TrtFeatures(**found["features"])


def _active(use: Use, f: feat.TrtFeatures) -> bool:
    guard = GUARDS.get(use.key)
    return guard is None or guard[1](f)


# ---- the usage itself ----------------------------------------------------------------------------


def test_the_execution_path_is_read_whole() -> None:
    """The walk types every TensorRT result it sees used, and finds the calls the path is known to make."""
    assert USAGE.untyped == []
    keys = USAGE.members()
    for expected in [("Runtime", "deserialize_cuda_engine"), ("IExecutionContext", "execute_async_v3"),
                     ("IExecutionContext", "execute_async_v2"), ("IExecutionContext", "set_tensor_address"),
                     ("ICudaEngine", "create_execution_context"), ("ILogger", "log")]:  # fmt: skip
        assert expected in keys
    calls = {u.key: u.nargs for u in USAGE.uses if u.nargs is not None}
    assert calls[("IExecutionContext", "execute_async_v2")] == 3  # self, bindings, stream
    assert calls[("IExecutionContext", "execute_async_v3")] == 2  # self, stream
    # the timing cache's import and export (full TensorRT on a GPU), held against every module that has them
    assert calls[("IBuilderConfig", "create_timing_cache")] == 2  # self, blob
    assert calls[("IBuilderConfig", "set_timing_cache")] == 3  # self, cache, ignore_mismatch
    assert calls[("ITimingCache", "serialize")] == 1


def test_a_new_call_cannot_escape_the_walk(tmp_path: Path) -> None:
    (tmp_path / "new.py").write_text(
        "def run(engine, trt):\n"
        "    ctx = engine.create_execution_context()\n"
        "    ctx.enqueue_v4(1, 2)\n"
        "    thing = engine.brand_new_query()\n"
        "    thing.size\n"
        "    return trt.DataType.FLOAT\n"
    )
    usage = execution_path_usage({"new.py": ("run",)}, pkg=tmp_path)
    assert ("IExecutionContext", "enqueue_v4", 3) in {(u.owner, u.member, u.nargs) for u in usage.uses}
    assert ("ICudaEngine", "brand_new_query") in usage.members()
    assert ("DataType", "FLOAT") in usage.members()
    assert usage.untyped and "thing" in usage.untyped[0]


def test_every_guard_names_a_use_the_path_still_makes() -> None:
    assert set(GUARDS) <= USAGE.members(), set(GUARDS) - USAGE.members()


def test_the_scope_covers_every_module_of_the_execution_path() -> None:
    assert {"execution.py", "build.py", "backend.py", "capture.py"} <= set(SCOPE)


# ---- against each real module ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_the_real_module_is_the_one_named(name: str) -> None:
    found = probe(name)
    module, group, version = MODULES[name]
    assert found["module"] == module
    if group is not None:
        assert found["version"] == version
        assert str(CONTRACT_DIR / group) in found["file"]


@pytest.mark.parametrize("name", list(MODULES))
def test_every_use_exists_with_the_argument_count_the_code_passes(name: str) -> None:
    found = probe(name)
    f = _features(found)
    problems = []
    for use in USAGE.uses:
        if not _active(use, f):
            continue
        member = found["members"][f"{use.owner}.{use.member}"]
        where = f"{use.owner}.{use.member} ({use.where})"
        if not member["exists"]:
            problems.append(f"{where}: missing, and no feature detected from {found['version']} turns its path off")
            continue
        if use.nargs is None:
            continue
        if member["kind"] == "property":
            problems.append(f"{where}: called, but it is a property")
            continue
        sigs = signatures(use.member, member["doc"])
        if not sigs:
            problems.append(f"{where}: its docstring states no signature: {member['doc']!r:.200}")
        elif not any(s.accepts(use.nargs) for s in sigs):
            problems.append(f"{where}: the code passes {use.nargs} arguments (with self), the module takes {sigs}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(MODULES))
def test_the_types_the_walk_assumes_are_the_modules_own(name: str) -> None:
    found = probe(name)
    f = _features(found)
    for (owner, method), returned in RETURNS.items():
        use = next(u for u in USAGE.uses if u.key == (owner, method))
        if not _active(use, f):
            continue
        sigs = signatures(method, found["members"][f"{owner}.{method}"]["doc"])
        assert sigs and all(s.returns.split(".")[-1] == returned for s in sigs), (owner, method, sigs)


@pytest.mark.parametrize("name", list(MODULES))
def test_the_module_can_run_engines_by_some_api(name: str) -> None:
    f = _features(probe(name))
    assert _v3(f), f"{name}: neither execute_async_v3 nor set_tensor_address"
    assert feat.run_api(f, None) == "v3" and not _v2(f)  # 10.x, 11.x, RTX: v3 only


# ---- the hand-written generations against what the real modules say ----------------------------

# Features a runtime-only module speaks for: execution, data types, builder precision flags (the lean
# runtimes carry the BuilderFlag enum). Builder-side probes (Builder, INetworkDefinition, IBuilderConfig,
# ITensor) are absent from a lean module and cannot be compared.
RUNTIME_FIELDS = ("has_execute_v2", "has_execute_v3", "has_bindings_api", "has_tensor_api", "has_bf16",
                  "has_fp16_flag", "has_bf16_flag", "has_int8_flag", "always_strongly_typed")  # fmt: skip


@pytest.mark.parametrize(("name", "described"), [("lean-10", TRT10), ("lean-11", TRT11)])
def test_the_generation_descriptions_match_the_real_runtimes(name: str, described: feat.TrtFeatures) -> None:
    f = probe(name)["features"]
    differ = {k: (f[k], getattr(described, k)) for k in RUNTIME_FIELDS if f[k] != getattr(described, k)}
    assert not differ, f"real {name} vs trt_generations (real, described): {differ}"


def test_the_lean_runtime_has_no_usable_inspector() -> None:
    """The lean runtimes have ICudaEngine.create_engine_inspector but bind no EngineInspector (its return
    type reads 'nvinfer1::IEngineInspector'): detection says no inspector, so the path never calls it."""
    for name in ("lean-10", "lean-11"):
        found = probe(name)
        assert found["members"]["ICudaEngine.create_engine_inspector"]["exists"]
        assert not found["features"]["has_inspector"]


# ---- TensorRT 8.6.1: names among the extension module's strings -----------------------------------


def _bindings_86() -> bytes:
    group, (requirement,) = next(iter(CONFIG["download"].items()))
    wheels = sorted((CONTRACT_DIR / group).glob("tensorrt_bindings-8.6.1-*.whl"))
    if not wheels:
        _missing_real_module(f"the {requirement} wheel ({CONTRACT_DIR / group} has none)")
    with zipfile.ZipFile(wheels[0]) as whl:
        (so,) = [n for n in whl.namelist() if n.endswith(".so")]
        return whl.read(so)


def _has_string(blob: bytes, name: str) -> bool:
    """``name`` ends a C string of the extension. Not a whole string: the linker merges a string into the
    tail of a longer one (8.6.1's "set_dynamic_range" is the end of "reset_dynamic_range")."""
    return f"{name}\0".encode() in blob


def test_every_name_the_86_path_uses_is_in_the_real_86_extension() -> None:
    """8.6's defaults are v2 with a bindings list and shapes by tensor name (TRT86 in trt_generations):
    every name of every path 8.6 takes, v2 included, must be a string of the real extension module."""
    blob = _bindings_86()
    names = {u.member for u in USAGE.uses if _active(u, TRT86) and u.member not in ("__init__", "__name__")}
    names |= {u.owner.split(".")[-1] for u in USAGE.uses if u.owner != MODULE}
    assert {"execute_async_v2", "num_bindings", "get_binding_index", "execute_async_v3"} <= names
    missing = sorted(n for n in names if not _has_string(blob, n))
    assert not missing, f"not in tensorrt_bindings 8.6.1's extension: {missing}"
    assert not _has_string(blob, "execute_async_v4") and not _has_string(blob, "get_tensor_shapes")  # it can fail


def test_the_86_description_is_backed_by_the_real_86_extension() -> None:
    """Each feature TRT86 claims is probed by detect() through names the real 8.6.1 module has."""
    import ast
    import inspect

    blob = _bindings_86()
    tree = ast.parse(inspect.getsource(feat.detect))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "TrtFeatures")
    checked = []
    for kw in call.keywords:
        probes = [(a.args[0].value, a.args[1].value) for a in ast.walk(kw.value)
                  if isinstance(a, ast.Call) and getattr(a.func, "id", "") == "has"
                  and all(isinstance(x, ast.Constant) for x in a.args)]  # fmt: skip
        if probes and getattr(TRT86, kw.arg) is True:
            for owner, member in probes:
                assert _has_string(blob, owner) and _has_string(blob, member), (kw.arg, owner, member)
                checked.append(kw.arg)
    assert len(set(checked)) >= 10, checked


# ---- the lean runtime, created for real -----------------------------------------------------------

RUNTIME_SCRIPT = """
import gc, json, sys
from bench.backends.tensorrt.build import created
from bench.backends.tensorrt.capture import MessageLog, TensorRTError, make_logger
from bench.backends.tensorrt.importer import import_trt
from bench.gpu.cuda import gpu_available

trt = import_trt("tensorrt-lean")
messages = MessageLog()
gpu, _ = gpu_available()
try:
    runtime = created(lambda: trt.Runtime(make_logger(trt, messages)), messages, "Runtime")
    result = {"gpu": gpu, "created": True, "error": None}
    del runtime
except TensorRTError as exc:
    result = {"gpu": gpu, "created": False, "error": str(exc)}
gc.collect()
print(json.dumps(result))
"""


@pytest.mark.parametrize("name", ["lean-11", "lean-10"])
def test_a_runtime_tensorrt_fails_to_create_is_refused_and_never_crashes_the_process(name: str) -> None:
    """Without a usable CUDA driver the lean runtime logs "CUDA initialization failure" and still returns a
    Runtime that crashes the process when used or destroyed. The adapter's `created` must turn that into
    TensorRT's message and the process must live on (exit 0). With a GPU, the Runtime is simply created."""
    folder = CONTRACT_DIR / MODULES[name][1]
    if not folder.is_dir():
        _missing_real_module(f"the real module for {name}: {folder} is not there")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", RUNTIME_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["gpu"]:
        assert result["created"], result
    else:
        assert not result["created"] and "CUDA initialization failure" in result["error"], result
