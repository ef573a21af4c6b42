"""The layout of the tree: which package may import which, and what each role's install provides.

The import graph runs one way: protocol <- hardware, mqttlink <- gateway, server <- shouwang.
Every import statement of every package is read with ast (also those inside functions), so an
arrow the wrong way fails here rather than as a cycle at run time.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
NOT_PACKAGES = {"tests", "bench", "docs", "requirements", "node_modules", "build"}

# What each package may import from the project, lowest first.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "protocol": frozenset(),
    "firmware": frozenset(),  # MicroPython, runs on the device: imports its own flat modules only
    "hardware": frozenset({"protocol"}),
    "mqttlink": frozenset({"protocol"}),
    "gateway": frozenset({"protocol", "hardware", "mqttlink"}),
    "server": frozenset({"protocol", "hardware", "mqttlink"}),
    "shouwang": frozenset({"protocol", "hardware", "mqttlink", "gateway", "server"}),
}
# The pip extras whose installs must provide a package's third-party imports (base always).
ROLE_EXTRAS: dict[str, tuple[str, ...]] = {
    "protocol": (),
    "hardware": (),
    "mqttlink": ("gateway", "server"),  # used by both roles: what both extras provide
    "gateway": ("gateway",),
    "server": ("server",),
    "shouwang": ("gateway", "server"),  # the demo and the local stack run both roles
}


def packages() -> list[str]:
    """Top-level folders of the repository that hold Python code."""
    return sorted(
        d.name
        for d in REPO.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d.name not in NOT_PACKAGES and any(d.rglob("*.py"))
    )


def python_files(package: str) -> Iterator[Path]:
    yield from sorted(p for p in (REPO / package).rglob("*.py") if "node_modules" not in p.parts)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file; relative imports are skipped."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def upward_imports(package: str, project: set[str]) -> list[str]:
    allowed = MAY_IMPORT[package] | {package}
    found = []
    for path in python_files(package):
        for line, module in imported_modules(path):
            top = module.partition(".")[0]
            if top in project and top not in allowed:
                found.append("%s:%d imports %s" % (path.relative_to(REPO), line, module))
    return found


def test_every_package_has_a_place_in_the_graph() -> None:
    assert set(packages()) <= set(MAY_IMPORT), "add the new package to MAY_IMPORT and ROLE_EXTRAS"


def test_no_loose_module_at_the_root() -> None:
    assert sorted(p.name for p in REPO.glob("*.py")) == []


@pytest.mark.parametrize("package", packages())
def test_no_import_points_upward(package: str) -> None:
    assert upward_imports(package, set(MAY_IMPORT)) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    source = "def f():\n    from shouwang.cli import main\n    import server.app\n    from . import sibling\n"
    (tmp_path / "mod.py").write_text(source, encoding="utf-8")
    assert list(imported_modules(tmp_path / "mod.py")) == [(2, "shouwang.cli"), (3, "server.app")]


# Third-party imports against the declared dependencies


def _extra_requirements(extra: str) -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]


def role_requirements(extras: Iterable[str]) -> list[Requirement]:
    """Base dependencies plus those of the extras, with the project's own extras expanded."""
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in _extra_requirements(extra):
            if canonicalize_name(req.name) == "shouwang":
                todo.extend(req.extras)
            else:
                reqs.append(req)
    return reqs


def installed_closure(reqs: Iterable[Requirement]) -> set[str]:
    """Canonical names of the distributions that installing ``reqs`` brings (as installed here)."""
    todo, found = list(reqs), set[str]()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue  # not for this platform; the lock test checks what must be there
        found.add(name)
        for text in dist.requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in req.extras or {""}):
                todo.append(child)
    return found


def third_party_imports(package: str) -> dict[str, str]:
    """Top-level module -> first place it is imported, for modules outside stdlib and the project."""
    own = set(MAY_IMPORT) | {p.stem for p in (REPO / "firmware").glob("*.py")}
    found: dict[str, str] = {}
    for path in python_files(package):
        for line, module in imported_modules(path):
            top = module.partition(".")[0]
            if top not in own and top not in sys.stdlib_module_names:
                found.setdefault(top, "%s:%d" % (path.relative_to(REPO), line))
    return found


@pytest.mark.parametrize("package", [p for p in packages() if p != "firmware"])
def test_a_role_install_provides_what_its_packages_import(package: str) -> None:
    extras = ROLE_EXTRAS[package]
    if package == "mqttlink":
        provided = set.intersection(*(installed_closure(role_requirements([e])) for e in extras))
    else:
        provided = installed_closure(role_requirements(extras))
    module_dists = packages_distributions()
    missing = {
        module: where
        for module, where in third_party_imports(package).items()
        if not {canonicalize_name(d) for d in module_dists.get(module, [])} & provided
    }
    assert missing == {}, "declare these in pyproject.toml (base or %s): %s" % (extras, missing)


def test_a_gateway_install_brings_no_server_framework() -> None:
    gateway = installed_closure(role_requirements(["gateway"]))
    assert gateway & {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic"} == set()
