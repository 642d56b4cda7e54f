"""The core stays headless: importing it pulls in neither Textual nor aiohttp."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "kiosk.assistant", "kiosk.runtime", "kiosk.cli", "kiosk.events", "kiosk.config", "kiosk.store.sink",
    "kiosk.telemetry.sink", "kiosk.telemetry.metrics", "kiosk.telemetry.otlp", "kiosk.telemetry.cli",
    "kiosk.maint.gate", "kiosk.maint.settings", "kiosk.maint.health", "kiosk.maint.probes", "kiosk.maint.cli",
]  # fmt: skip


def test_core_imports_no_face_libraries():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "bad = [m for m in ('textual', 'aiohttp') if m in sys.modules]\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- the layers contract ------------------------------------------------------------
# faces and wiring -> assistant -> knowledge / llm -> core. A module may import its own
# layer or a lower one, never a higher one. Every import statement counts: at the top,
# inside functions (lazy imports) and under `if TYPE_CHECKING:` (a type-only import is
# still a dependency a reader has to follow, and the way import circles hide).

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

import kiosk  # noqa: E402

LAYERS = {
    0: ("kiosk", "kiosk.errors", "kiosk.paths", "kiosk.vocab", "kiosk.config", "kiosk.events", "kiosk.bus",
        "kiosk.threads", "kiosk.conversation", "kiosk.health", "kiosk.models", "kiosk.areas", "kiosk.text"),
    1: ("kiosk.knowledge", "kiosk.llm"),
    2: ("kiosk.assistant",),
    3: ("kiosk.runtime", "kiosk.cli", "kiosk.__main__", "kiosk.doctor", "kiosk.bench", "kiosk.ui", "kiosk.web",
        "kiosk.speech", "kiosk.store", "kiosk.telemetry", "kiosk.knowledge.cli", "kiosk.knowledge.bench",
        "kiosk.fleet", "kiosk.maint", "kiosk.answer_bench", "kiosk.phrasing_defects", "kiosk.firstrun",
        "kiosk.llm.bench"),
}  # fmt: skip
LAYER_NAMES = {0: "core", 1: "knowledge/llm", 2: "assistant", 3: "faces/wiring"}


def layer_of(module: str) -> int:
    best, found = -1, None
    for layer, prefixes in LAYERS.items():
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), layer
    if found is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return found


def kiosk_modules() -> dict[str, Path]:
    root = Path(kiosk.__file__).parent
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports_of(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported kiosk module, line, under TYPE_CHECKING) for every import statement."""
    tree = ast.parse(path.read_text("utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for child in node.body for n in ast.walk(child)}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from kiosk import events` imports the submodule kiosk.events
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for name in names:
            if name == "kiosk" or name.startswith("kiosk."):
                found.append((name, node.lineno, id(node) in type_only))
    return found


MODULES = kiosk_modules()


def test_every_import_goes_down_the_layers():
    wrong = []
    for module, path in sorted(MODULES.items()):
        mine = layer_of(module)
        for target, line, type_only in imports_of(module, path):
            if layer_of(target) > mine:
                kind = " (under TYPE_CHECKING)" if type_only else ""
                wrong.append(
                    f"{path.relative_to(Path(kiosk.__file__).parent.parent)}:{line} {LAYER_NAMES[mine]} "
                    f"{module} imports {LAYER_NAMES[layer_of(target)]} {target}{kind}"
                )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_contract_sees_type_checking_and_lazy_imports():
    # The prompt builder names Turn only for type checking, and runtime loads the LLM lazily:
    # both must be counted, or the contract would pass by not looking.
    prompt = imports_of("kiosk.llm.prompt", MODULES["kiosk.llm.prompt"])
    assert ("kiosk.conversation", True) in {(m, t) for m, _, t in prompt}
    runtime = {m for m, _, _ in imports_of("kiosk.runtime", MODULES["kiosk.runtime"])}
    assert "kiosk.llm.factory" in runtime  # the LLM backends, loaded lazily
    assert layer_of("kiosk.assistant") > layer_of("kiosk.llm.gate") > layer_of("kiosk.conversation")

