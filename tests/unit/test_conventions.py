"""Conventions checked over the source tree: event names and declared dependencies."""

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from tests.conftest import ROOT

SOURCES = sorted((ROOT / "src" / "fashion_pubsub").rglob("*.py"))
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9_.-]+")


def _calls(name: str) -> list[tuple[Path, ast.Call]]:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name:
                found.append((path, node))
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_logged_event_name_is_snake_case() -> None:
    calls = _calls("log_event")
    assert calls
    bad = [
        f"{path.relative_to(ROOT)}:{call.lineno} {call.args[1].value!r}"
        for path, call in calls
        if isinstance(call.args[1], ast.Constant) and not _SNAKE.match(str(call.args[1].value))
    ]
    assert not bad, bad


def test_every_imported_third_party_package_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    declared = {_normalise(_REQUIREMENT_NAME.match(r)[0]) for r in requirements}
    providers = metadata.packages_distributions()
    missing = set()
    for path in SOURCES:
        for _, name in _imports(path):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "fashion_pubsub":
                continue
            # A namespace package (google) is provided by many; the full name tells which.
            dists = providers.get(top, [top]) if top != "google" else _google(name)
            if not declared & {_normalise(d) for d in dists}:
                missing.add(f"{name} ({path.relative_to(ROOT)})")
    assert not missing, sorted(missing)


def _google(module: str) -> list[str]:
    """The distribution behind one module of the shared `google` namespace."""
    folder = module.split(".")[1]
    owners = [
        dist.metadata["Name"]
        for dist in metadata.distributions()
        if any(str(file).startswith(f"google/{folder}/") for file in dist.files or [])
    ]
    return owners or [module]


def test_nothing_in_src_or_bench_imports_the_tests() -> None:
    """The package and the benchmark scripts run without the tests folder (a user's
    install has none); helpers both need live in the package (model/tiny.py)."""
    scripts = sorted((ROOT / "bench").glob("*.py"))
    importers = []
    for path in [*SOURCES, *scripts]:
        for line, name in _imports(path):
            if name.split(".")[0] == "tests":
                importers.append(f"{path.relative_to(ROOT)}:{line}")
    assert not importers, importers


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`, nested ones included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
