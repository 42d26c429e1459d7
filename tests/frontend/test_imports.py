"""Presentation imports plain functions only: no page module imports an API layer (DRF views,
serializers, schema), and no module of ours imports another module's private (``_name``) names.

Read from the source with ``ast``, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.conftest import REPO

PACKAGES = ("costwatch", "alerts", "ingest", "frontend")
DRF = ("rest_framework", "drf_spectacular")
# Imports still to go, each owned by another part of issue 17; an entry that no longer matches an
# import fails the test, so it is removed once that work lands.
STILL_TO_GO: set[tuple[str, str]] = set()


def _sources(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(), filename=str(path))


def _module_of(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _imports(path: str, tree: ast.Module) -> Iterator[tuple[str, list[str]]]:
    """(module, names) per import statement; a relative import is resolved against ``path``.
    ``from a import b`` yields module ``a`` with names ``["b"]`` (b may be a submodule)."""
    package = _module_of(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            yield module, [alias.name for alias in node.names]


def _drf_modules() -> set[str]:
    """Our modules that are an API layer: every one that imports DRF or drf-spectacular."""
    return {
        _module_of(path)
        for path, tree in _sources(*PACKAGES)
        if any(module.split(".")[0] in DRF for module, _ in _imports(path, tree))
    }


def test_our_api_layer_is_the_modules_that_import_drf() -> None:
    api_layer = _drf_modules()
    assert {
        "costwatch.usage.api",
        "costwatch.usage.serializers",
        "costwatch.usage.dimensions_api",
        "costwatch.savings.api",
        "alerts.api",
        "costwatch.projects.api",
    } <= api_layer
    assert not any(module.startswith("frontend") for module in api_layer)


def test_pages_import_no_api_layer() -> None:
    api_layer = _drf_modules()
    found = set()
    for path, tree in _sources("frontend"):
        for module, names in _imports(path, tree):
            for imported in (module, *(f"{module}.{name}" for name in names)):
                if (
                    imported.split(".")[0] in DRF
                    or imported in api_layer
                    or imported.rsplit(".", 1)[-1] in {"api", "serializers"}
                ):
                    found.add((path, imported))
    assert found == STILL_TO_GO


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for path, tree in _sources(*PACKAGES):
        for module, names in _imports(path, tree):
            if module.split(".")[0] in PACKAGES:
                found += [
                    f"{path}: from {module} import {name}"
                    for name in names
                    if name.startswith("_") and not name.startswith("__")
                ]
    assert found == []
