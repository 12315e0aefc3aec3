"""Modules import only downward (docs/architecture.md): the engine reads no files and never sees
the catalog; only the CLI imports typer; torch appears only in the probe (an edge)."""

import ast
from pathlib import Path

import traintime

SRC = Path(traintime.__file__).parent

LEVEL = {
    "errors": 0,
    "units": 0,
    "specs": 1,
    "measured": 1,
    "families": 1,
    "engine": 2,
    "catalog": 2,
    "results": 3,
    "planner": 3,
    "resolve": 3,
    "estimation": 4,
    "validate": 4,
    "calibration": 4,
    "runrows": 4,
    "compare": 4,
    "economics": 4,
    "reference": 4,
    "report": 5,
    "tables": 5,
    "plots": 5,
    "htmlreport": 5,
    "cli": 6,
    "probe": 6,
    "web": 6,
    "__main__": 6,
}
FORBIDDEN_IN_ENGINE = {"traintime.catalog", "tomllib", "json", "csv", "importlib", "pathlib", "io"}


def _module_key(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_imports_go_down():
    for path in SRC.rglob("*.py"):
        key = _module_key(path)
        if key == "__init__":
            continue
        for name in _imports(path):
            if not name.startswith("traintime.") or name == "traintime":
                continue
            target = name.split(".")[1]
            assert LEVEL[target] <= LEVEL[key], f"{path.name} ({key}) imports {name}"


def test_engine_is_pure():
    for path in (SRC / "engine").rglob("*.py"):
        bad = _imports(path) & FORBIDDEN_IN_ENGINE
        assert not bad, f"{path.name} imports {bad}"


def test_only_cli_imports_typer_and_only_the_probe_imports_torch():
    for path in SRC.rglob("*.py"):
        names = _imports(path)
        if _module_key(path) != "probe":
            assert not any(n == "torch" or n.startswith("torch.") for n in names), path
        if _module_key(path) != "cli":
            assert "typer" not in names, path


def test_engine_tests_use_toy_specs():
    """Engine unit tests build their specs in code (tests/engine/conftest.py): none reads the
    catalog, so retuning a data file cannot break them."""
    tests = Path(__file__).parent / "engine"
    for path in tests.glob("*.py"):
        names = _imports(path)
        assert not {
            n for n in names if n.startswith(("traintime.catalog", "traintime.estimation"))
        }, path
        assert "traintime" not in names or path.name == "conftest.py", path
