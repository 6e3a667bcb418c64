"""The code's layout: import layering, and the README's module map.

Data flows ``geo`` → ``isochrones`` → ``planning`` → ``api``, never back. Every ``import``/``from …
import`` in every module of the four packages is read with :mod:`ast` (also imports inside functions
and under ``TYPE_CHECKING``, since a lazy import is still a dependency), and no module may import a
package of a later layer. The README's module map lists exactly the packages and modules there are.
"""

from __future__ import annotations

import ast
import re
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


def _module_map() -> list[str]:
    """The paths in the first column of the README's "Module map" tables, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Module map", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)


def _code_map() -> set[str]:
    """Every package folder (with a trailing ``/``) and every module but ``__init__.py`` of the four
    packages; migration scripts are one entry, their folder."""
    found: set[str] = set()
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            found.add(rel.parent.as_posix() + "/")
            if path.name != "__init__.py" and rel.parent.as_posix() != "geo/migrations/versions":
                found.add(rel.as_posix())
    return found


def test_readme_module_map_matches_the_code() -> None:
    listed = _module_map()
    assert len(listed) == len(set(listed)), "a module is listed twice in the README's module map"
    missing = sorted(_code_map() - set(listed))
    stale = sorted(set(listed) - _code_map())
    assert not missing, f"add to the README's module map (with its one job): {missing}"
    assert not stale, f"the README's module map lists what is not in the code: {stale}"
