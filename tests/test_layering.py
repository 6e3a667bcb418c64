"""Import layering: data flows ``geo`` → ``isochrones`` → ``planning`` → ``api``, never back.

Every ``import``/``from … import`` in every module of the four packages is read with :mod:`ast` (also
imports inside functions and under ``TYPE_CHECKING``, since a lazy import is still a dependency), and
no module may import a package of a later layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The layers, lowest first; a module may import its own layer and the ones before it.
LAYERS: tuple[str, ...] = ("geo", "isochrones", "planning", "api")


def _imported_packages(path: Path, package: str) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute or relative import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".", 1)[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside its own top-level package
                found.add((node.lineno, package))
            elif node.module:
                found.add((node.lineno, node.module.split(".", 1)[0]))
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_every_layer_has_modules() -> None:
    for package in LAYERS:
        assert (ROOT / package / "__init__.py").is_file(), package
        assert len(_modules(package)) > 1, package


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_from_a_later_layer(package: str) -> None:
    rank = LAYERS.index(package)
    later = set(LAYERS[rank + 1 :])
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in _modules(package)
        for line, target in sorted(_imported_packages(path, package))
        if target in later
    ]
    assert not bad, "imports against the layering geo → isochrones → planning → api:\n" + "\n".join(bad)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The parser catches an import hidden in a function and resolves a relative one to its package."""
    module = tmp_path / "m.py"
    module.write_text(
        "from __future__ import annotations\n"
        "from . import sibling\n"
        "def f():\n"
        "    import planning.coverage\n"
        "    from api.state import x\n"
        "    return x\n",
        encoding="utf-8",
    )
    assert _imported_packages(module, "isochrones") == {
        (1, "__future__"),
        (2, "isochrones"),
        (4, "planning"),
        (5, "api"),
    }
