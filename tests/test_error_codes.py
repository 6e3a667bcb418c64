"""The README's error table names exactly the error codes the code can answer, each with its status.

The codes are read from the source, not from a list kept by hand: every error class of
``geo/errors.py`` (its ``code`` and ``status``), every place that raises one with its own ``code=``
(and ``status=``), helpers that pass a ``code`` through to an error class, and the app-wide handlers
of ``api/main.py`` (``_error(status, code, …)``). A code built from a name (``f"invalid_{name}"``)
is matched as a pattern. The README's table (``| status | when | codes |``) must list each pair
once it can be answered, and nothing else, so the section cannot drift from what clients get.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "isochrones", "planning", "api")
OTHER = "other"  # the README's status cell for a code answered with whatever status Starlette raised


def _code_value(node: ast.expr) -> str | None:
    """A constant code, or an f-string code as a pattern (``invalid_*``); None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)
    return None


def _callee(node: ast.Call) -> str | None:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _sources() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for pkg in PACKAGES
        if (ROOT / pkg).is_dir()
        for path in sorted((ROOT / pkg).rglob("*.py"))
    ]


def answered_codes() -> set[tuple[int | str, str]]:
    """Every (HTTP status, error code) the service can answer, read from the source."""
    import geo.errors as errors

    statuses: dict[str, int] = {
        cls.__name__: cls.status
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.SkillCircleError)
    }
    pairs: set[tuple[int | str, str]] = {
        (cls.status, cls.code)
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.SkillCircleError) and cls is not errors.SkillCircleError
    }
    sources = _sources()
    # helpers such as ``_invalid(msg, zh, *, code="…")`` that hand their ``code`` to an error class
    for _, tree in sources:
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            args = fn.args.args + fn.args.kwonlyargs
            if "code" not in [a.arg for a in args]:
                continue
            for call in ast.walk(fn):
                if isinstance(call, ast.Call) and _callee(call) in statuses:
                    given = {k.arg: k.value for k in call.keywords}
                    if isinstance(given.get("code"), ast.Name) and given["code"].id == "code":
                        statuses[fn.name] = statuses[_callee(call)]
                        defaults = dict(zip([a.arg for a in fn.args.kwonlyargs], fn.args.kw_defaults, strict=True))
                        if defaults.get("code") is not None and (default := _code_value(defaults["code"])):
                            pairs.add((statuses[fn.name], default))
    for path, tree in sources:
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            name, given = _callee(call), {k.arg: k.value for k in call.keywords}
            if name in statuses and "code" in given:
                if isinstance(given["code"], ast.Name) and given["code"].id == "code":
                    continue  # a helper passing its own ``code`` on (its callers are read instead)
                code = _code_value(given["code"])
                assert code, f"{path}:{call.lineno}: an error code the README cannot name: {ast.unparse(given['code'])}"
                status = given.get("status")
                assert status is None or isinstance(status, ast.Constant), f"{path}:{call.lineno}: computed status"
                pairs.add((status.value if status is not None else statuses[name], code))
            elif name == "_error" and len(call.args) >= 2 and isinstance(call.args[1], ast.Constant):
                status = call.args[0]
                pairs.add((status.value if isinstance(status, ast.Constant) else OTHER, call.args[1].value))
    return pairs


def readme_codes() -> set[tuple[int | str, str]]:
    """The (status, code) pairs of the README's error table."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| status | when | codes |")
    pairs = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        status, _when, codes = (cell.strip() for cell in line.strip("|").split("|"))
        for code in re.findall(r"`([a-z0-9_]+)`", codes):
            pairs.add((int(status) if status.isdigit() else status, code))
    return pairs


def test_the_readme_error_table_matches_the_codes_the_service_answers() -> None:
    code_side, readme = answered_codes(), readme_codes()
    assert len(code_side) > 50 and len(readme) > 50
    patterns = {(s, c) for s, c in code_side if "*" in c}
    literal = code_side - patterns

    def _covered(pair: tuple[int | str, str]) -> bool:
        return pair in literal or any(s == pair[0] and fnmatch.fnmatchcase(pair[1], c) for s, c in patterns)

    missing = sorted(literal - readme, key=str)
    assert not missing, f"codes the service answers that the README's error table lacks: {missing}"
    unmatched = sorted(
        (p for p in patterns if not any(s == p[0] and fnmatch.fnmatchcase(c, p[1]) for s, c in readme)), key=str
    )
    assert not unmatched, f"code patterns without a README entry: {unmatched}"
    stale = sorted((p for p in readme if not _covered(p)), key=str)
    assert not stale, f"codes (or statuses) in the README's error table that nothing answers: {stale}"


def test_a_known_error_answers_as_the_readme_says(client) -> None:
    """Spot-check against live answers: a code from a class, one raised with its own code, a handler's."""
    readme = readme_codes()
    answers = [
        client.get("/api/v1/nearby", params={"lat": 0, "lon": 0}),  # outside_service_area
        client.get("/api/v1/nearby", params={"lat": 30.75, "lon": 120.76, "mode": "rocket"}),  # unknown_mode
        client.get("/api/v1/no-such-endpoint"),  # not_found (the app-wide handler)
        client.get("/api/v1/nearby", params={"lat": "x", "lon": 120.76}),  # invalid_parameter
    ]
    for r in answers:
        code = r.json()["error"]["code"]
        assert (r.status_code, code) in readme, (r.status_code, code)
