"""What the TensorRT execution path uses of TensorRT, read from the code itself (an AST walk).

The execution path is everything that runs once an engine exists: the runtime, deserialisation, the
execution context, the I/O queries, execute_async_v2/v3, the engine inspector and the logger class;
plus the timing cache's import and export, which only full TensorRT on a GPU runs (SCOPE below). The walk gives every attribute, method and enum member the code reaches on a TensorRT
object, with the number of arguments each call passes, so the contract test can hold every one of them
against NVIDIA's real modules. A new call on a TensorRT object shows up here without anyone listing it.

Which expressions are TensorRT objects is inferred, from a few roots (the module, passed as `trt` or
held as `self.trt`; parameters named `engine`, `runtime`, `severity`) and the return types in RETURNS.
A variable assigned from a TensorRT method the walk cannot type, and then used, is an error
(`Usage.untyped`): it would hide calls from the contract, so it must be added to RETURNS (whose entries
the contract test checks against the real modules' own signatures).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "bench" / "backends" / "tensorrt"

MODULE = "<module>"  # the type of the TensorRT module itself

# file -> the functions and methods of the execution path in it (qualified names; "*" = the whole file)
SCOPE: dict[str, tuple[str, ...]] = {
    "execution.py": ("*",),
    "build.py": (
        "created",
        "deserialize",
        "import_timing_cache",
        "EngineBuilder.record_layer_info",
        "EngineBuilder.set_timing_cache",
        "serialized_timing_cache",
    ),
    "backend.py": (
        "_TensorRTAdapter._runtime_object",
        "_TensorRTAdapter._check_runtime_accepts",
        "_TensorRTAdapter.prepare",
    ),
    "capture.py": ("make_logger",),
}

# parameters that hold TensorRT objects, by name, wherever they appear in SCOPE
PARAMS: dict[str, str] = {
    "trt": MODULE,
    "engine": "ICudaEngine",
    "runtime": "Runtime",
    "severity": "ILogger.Severity",
    "config": "IBuilderConfig",
    "timing_cache": "ITimingCache",
}

# (type, method) -> type of the object it returns
RETURNS: dict[tuple[str, str], str] = {
    ("Runtime", "deserialize_cuda_engine"): "ICudaEngine",
    ("ICudaEngine", "create_execution_context"): "IExecutionContext",
    ("ICudaEngine", "create_engine_inspector"): "EngineInspector",
    ("IBuilderConfig", "create_timing_cache"): "ITimingCache",
}


@dataclass(frozen=True)
class Use:
    """One use of TensorRT: ``owner.member``; ``nargs`` is what a call passes, counting ``self``
    (None: not called, or not countable)."""

    owner: str  # a class path in the module ("ICudaEngine", "ILogger.Severity") or MODULE
    member: str
    nargs: int | None
    where: str  # file:line

    @property
    def key(self) -> tuple[str, str]:
        return (self.owner, self.member)


@dataclass
class Usage:
    uses: list[Use]
    untyped: list[str]  # TensorRT results used without a type: add them to RETURNS

    def members(self) -> set[tuple[str, str]]:
        return {u.key for u in self.uses}


def _cls(t: str | None) -> str | None:
    """The class path of a class-object type ("cls:ILogger" -> "ILogger"), else None."""
    return t[4:] if t and t.startswith("cls:") else None


class _Walker(ast.NodeVisitor):
    def __init__(self, file: str, self_types: dict[str, str], func_returns: dict[str, str]) -> None:
        self.file = file
        self.env: dict[str, str] = {}
        self.self_types = self_types  # "self.x" -> type, shared by a class's methods
        self.func_returns = func_returns  # function name -> type it returns
        self.uses: list[Use] = []
        self.untyped: list[str] = []
        self.tainted: set[str] = set()
        self.returned: str | None = None

    # -- typing ---------------------------------------------------------------------------------
    def typeof(self, node: ast.AST) -> str | None:
        text = ast.unparse(node)
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.Attribute):
            if text in self.self_types:
                return self.self_types[text]
            base = self.typeof(node.value)
            if base == MODULE:
                return f"cls:{node.attr}"
            if _cls(base) and node.attr[:1].isupper() and node.attr != node.attr.upper():
                return f"cls:{_cls(base)}.{node.attr}"  # a nested class (ILogger.Severity), not an enum member
            return None
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "created" and node.args and isinstance(node.args[0], ast.Lambda):
                return self.typeof(node.args[0].body)
            ctor = _cls(self.typeof(f))
            if ctor:
                return ctor
            if isinstance(f, ast.Attribute):
                owner = self.typeof(f.value)
                if owner and not _cls(owner) and owner != MODULE:
                    return RETURNS.get((owner, f.attr))
                if ast.unparse(f.value) == "self":
                    return self.func_returns.get(f.attr)
            if isinstance(f, ast.Name):
                return self.func_returns.get(f.id)
        if isinstance(node, ast.Lambda):
            return self.typeof(node.body)
        return None

    def _trt_call_without_type(self, node: ast.AST) -> bool:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            return False
        owner = self.typeof(node.func.value)
        return bool(owner) and owner != MODULE and not _cls(owner) and self.typeof(node) is None

    # -- recording ------------------------------------------------------------------------------
    def _use(self, owner: str, member: str, nargs: int | None, node: ast.AST) -> None:
        self.uses.append(Use(owner, member, nargs, f"{self.file}:{node.lineno}"))

    @staticmethod
    def _count(call: ast.Call) -> int | None:
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        return len(call.args) + len(call.keywords)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for arg in node.args.args:
            if arg.arg in PARAMS:
                self.env[arg.arg] = PARAMS[arg.arg]
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """A subclass of a TensorRT class (the logger): each method it defines overrides TensorRT's."""
        bases = [_cls(self.typeof(b)) for b in node.bases]
        for base in filter(None, bases):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                    self._use(base, item.name, len(item.args.args), item)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        t = self.typeof(node.value)
        for target in node.targets:
            text = ast.unparse(target)
            if t is not None:
                (self.self_types if text.startswith("self.") else self.env)[text] = t
            elif self._trt_call_without_type(node.value):
                self.tainted.add(text)

    def visit_Return(self, node: ast.Return) -> None:
        self.generic_visit(node)
        if node.value is not None and self.returned is None:
            self.returned = self.typeof(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("hasattr", "getattr") and len(node.args) >= 2:
            owner, name = self.typeof(node.args[0]), node.args[1]
            if owner and isinstance(name, ast.Constant) and isinstance(name.value, str):
                self._use(_cls(owner) or owner, name.value, None, node)
        if isinstance(f, ast.Attribute):
            owner = self.typeof(f.value)
            if owner:
                n = self._count(node)
                if _cls(owner):  # called on the class: a constructor call's `self` is implicit, an unbound one's is not
                    self._use(_cls(owner), f.attr, n, node)
                elif owner != MODULE:
                    self._use(owner, f.attr, None if n is None else n + 1, node)
                elif f.attr[:1].isupper():  # trt.Runtime(logger): the class's __init__, plus self
                    self._use(MODULE, f.attr, None, node)
                    self._use(f.attr, "__init__", None if n is None else n + 1, node)
                else:
                    self._use(MODULE, f.attr, n, node)
                for a in node.args:
                    self.visit(a)
                for k in node.keywords:
                    self.visit(k.value)
                self.visit(f.value)
                return
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = self.typeof(node.value)
        if owner:
            self._use(_cls(owner) or owner, node.attr, None, node)
        elif ast.unparse(node.value) in self.tainted:
            self.untyped.append(f"{self.file}:{node.lineno}: {ast.unparse(node.value)} (add its method to RETURNS)")
        self.generic_visit(node)


def _scoped(tree: ast.Module, names: tuple[str, ...]) -> list[tuple[str, ast.AST, str | None]]:
    """(qualified name, node, class name) of each function in scope."""
    found: list[tuple[str, ast.AST, str | None]] = []
    whole = "*" in names
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and (whole or node.name in names):
            found.append((node.name, node, None))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                qual = f"{node.name}.{item.name}" if isinstance(item, ast.FunctionDef) else None
                if qual and (whole or qual in names):
                    found.append((qual, item, node.name))
    missing = set(names) - {"*"} - {q for q, _, _ in found}
    if missing:
        raise LookupError(f"trt_usage.SCOPE names what the code no longer has: {sorted(missing)}")
    return found


def execution_path_usage(scope: dict[str, tuple[str, ...]] | None = None, pkg: Path = PKG) -> Usage:
    """Every use of TensorRT in the execution path (fixed point over the functions' return types)."""
    scope = scope or SCOPE
    trees = {file: ast.parse((pkg / file).read_text(), filename=file) for file in scope}
    funcs = [(file, *f) for file, names in scope.items() for f in _scoped(trees[file], names)]
    self_types: dict[str, dict[str, str]] = {}
    func_returns: dict[str, str] = {}
    for _ in range(5):  # types flow from one function to another through returns and self attributes
        uses: list[Use] = []
        untyped: list[str] = []
        before = (dict(func_returns), {k: dict(v) for k, v in self_types.items()})
        for file, qual, node, cls in funcs:
            walker = _Walker(file, self_types.setdefault(f"{file}:{cls}", {"self.trt": MODULE}), func_returns)
            walker.visit(node)
            uses += walker.uses
            untyped += walker.untyped
            if walker.returned:
                func_returns[qual.split(".")[-1]] = walker.returned
        if (func_returns, self_types) == before:
            break
    unique = {(u.owner, u.member, u.nargs): u for u in uses}
    return Usage(sorted(unique.values(), key=lambda u: (u.owner, u.member, u.nargs or 0)), sorted(set(untyped)))
