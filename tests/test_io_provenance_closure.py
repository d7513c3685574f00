"""Every source group of :data:`scsc_theory.io.SOURCE_GROUPS` is closed under the package's imports:
a file of a group may import (at module or function level) only files of the same group, or ``io.py``
(file writing; no numbers). Otherwise an edit of an imported file could leave a result marked current."""
import ast
from pathlib import Path

import pytest

from scsc_theory import io as io_mod

PKG = Path(io_mod.__file__).resolve().parent


def _module_file(parts):
    p = PKG.joinpath(*parts)
    if (p / "__init__.py").exists():
        return p / "__init__.py"
    if p.with_suffix(".py").exists():
        return p.with_suffix(".py")
    return None


def package_imports(rel: str) -> set:
    """Package files that ``rel`` imports (every ``import`` / ``from ... import`` statement, any depth),
    including the package ``__init__.py`` files an import executes on the way."""
    f = PKG / rel
    here = list(Path(rel).parent.parts)
    out = set()
    for node in ast.walk(ast.parse(f.read_text())):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                mod = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "scsc_theory":
                mod = node.module.split(".")[1:]
            else:
                continue
            targets = [mod] + [mod + [a.name] for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "scsc_theory"]
        for t in targets:
            for k in range(len(t) + 1):  # the packages' __init__ files run first
                mf = _module_file(t[:k]) if k < len(t) else _module_file(t)
                if mf is not None:
                    out.add(str(mf.relative_to(PKG)))
    return out


def test_import_walker_sees_relative_and_function_level_imports():
    deps = package_imports("correction.py")
    assert "faithful.py" in deps  # imported inside a function
    assert "families/gaussian.py" in deps and "families/__init__.py" in deps
    assert "motion/physics.py" in package_imports("effective_gamma_motion.py")


@pytest.mark.parametrize("group", sorted(io_mod.SOURCE_GROUPS))
def test_source_group_is_closed_under_imports(group):
    files = set(io_mod.source_files([group]))
    # the package __init__'s re-exports are not used by the areas (none imports ``from scsc_theory import``)
    missing = {dep: rel for rel in files if rel.endswith(".py") and rel != "__init__.py"
               for dep in package_imports(rel) if dep not in files and dep != "io.py"}
    assert not missing, f"group {group!r} lacks files its own files import: {missing}"


def test_no_area_imports_the_package_reexports():
    """The closure above skips the package __init__'s own imports; that is sound only while no module
    outside the core imports names from the package root."""
    for rel in io_mod.source_files(["motion", "digits", "effective_gamma"]):
        if rel.endswith(".py") and rel != "__init__.py":
            for node in ast.walk(ast.parse((PKG / rel).read_text())):
                if isinstance(node, ast.ImportFrom):
                    assert not (node.level == len(Path(rel).parts) and node.module is None
                                and any(a.name[0].isupper() for a in node.names)), rel
                    assert node.module != "scsc_theory", rel


def test_no_module_changes_numerical_settings_at_import():
    """Module-level ``jax.config.update`` / environment writes would make results depend on import order."""
    for f in PKG.rglob("*.py"):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # runs when called, not at import
            src = ast.unparse(node)
            assert "config.update" not in src and "environ[" not in src and "setdefault" not in src.split("(")[0], f


def test_restamp_only_when_the_code_is_byte_identical(tmp_path, monkeypatch):
    import subprocess

    pkg = tmp_path / "scsc_theory"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "b.py").write_text("y = 2\n")
    git = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    commit = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr(io_mod, "_package_dir", lambda: pkg)
    monkeypatch.setattr(io_mod, "SOURCE_GROUPS", {"g": ("a.py",)})
    old = dict(io_mod.provenance(["g"]), git_commit=commit)
    monkeypatch.setattr(io_mod, "SOURCE_GROUPS", {"g": ("a.py", "b.py")})  # the group is redefined
    assert io_mod.provenance_status(old)[0]
    new = io_mod.restamp(old, "b.py joined the group")
    assert not io_mod.provenance_status(new)[0] and new["restamped"]["previous"] == old and new["git_commit"] == commit
    (pkg / "b.py").write_text("y = 3\n")  # a code change is not a redefinition
    with pytest.raises(ValueError, match="b.py differs"):
        io_mod.restamp(old, "b.py joined the group")
