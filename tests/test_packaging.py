"""Release metadata agrees everywhere: Cargo.toml, pyproject.toml, the package's
``__version__``, the conda-forge recipe (``recipe/recipe.yaml``), the cibuildwheel
table and the pure-wheel build (``fallback/``).

Reads repository files only (none of it needs the native extension). The recipe is
checked as YAML against the v1 keys it relies on, and rendered by rattler-build itself
(``py-rattler-build``, offline) when that is installed (``nox -s build`` installs it).
Skips when PyYAML or a TOML parser is missing, or when run from an sdist (no ``recipe/``).
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipe" / "recipe.yaml"
FALLBACK = ROOT / "fallback"

if not RECIPE.exists():  # e.g. the tests/ of an sdist
    pytest.skip("recipe/recipe.yaml is not here (not a repository checkout)", allow_module_level=True)


def _toml(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return _toml(ROOT / "pyproject.toml")


@pytest.fixture(scope="module")
def recipe() -> dict[str, Any]:
    # `${{ ... }}` expressions are plain YAML strings.
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return data


def _cargo_version() -> str:
    return str(_toml(ROOT / "Cargo.toml")["workspace"]["package"]["version"])


def _package_version() -> str:
    tree = ast.parse((ROOT / "fast_axolotl" / "_version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise AssertionError("no __version__ in fast_axolotl/_version.py")


def _split(spec: str) -> tuple[str, str]:
    """``"numpy>=1.24"`` or ``"numpy >=1.24"`` -> ``("numpy", ">=1.24")``."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", spec)
    assert match, spec
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _plain(items: list[Any]) -> list[str]:
    """The unconditional entries of a requirements list."""
    return [item for item in items if isinstance(item, str)]


def _conditional(items: list[Any]) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)]


def test_versions_agree(recipe: dict[str, Any]) -> None:
    cargo = _cargo_version()
    assert recipe["context"]["version"] == cargo == _package_version()
    assert recipe["package"]["version"] == "${{ version }}"
    assert _toml(ROOT / "rust" / "python" / "Cargo.toml")["package"]["version"] == {"workspace": True}


def test_installed_distribution_version_if_any() -> None:
    try:
        installed = importlib.metadata.version("fast-axolotl")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fast-axolotl is not installed")
    assert installed == _cargo_version()


def test_recipe_source_is_the_pypi_sdist(recipe: dict[str, Any], pyproject: dict[str, Any]) -> None:
    assert recipe["context"]["name"] == pyproject["project"]["name"]
    assert recipe["package"]["name"] == "${{ name }}"
    source = recipe["source"]
    assert source["url"].startswith("https://pypi.org/packages/source/f/fast-axolotl/")
    assert source["url"].endswith("/fast_axolotl-${{ version }}.tar.gz")
    assert isinstance(source["sha256"], str), "quote the sha256 (YAML reads a hash of digits as a number)"
    assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]), source["sha256"]


def test_recipe_build_is_abi3(recipe: dict[str, Any]) -> None:
    assert recipe["schema_version"] == 1
    build = recipe["build"]
    assert build["skip"] == "is_abi3 and not is_python_min"
    assert "is_abi3" in build["python"]["version_independent"]
    script = " ".join(build["script"]["content"])
    assert "-m pip install . -vv --no-deps --no-build-isolation" in script
    assert "cargo-bundle-licenses --format yaml --output THIRDPARTY.yml" in script
    host = recipe["requirements"]["host"]
    assert {"if": "is_abi3", "then": "python-abi3"} in _conditional(host)


def test_recipe_python_min_matches_requires_python(recipe: dict[str, Any], pyproject: dict[str, Any]) -> None:
    assert pyproject["project"]["requires-python"] == f">={recipe['context']['python_min']}"


def test_recipe_build_requirements(recipe: dict[str, Any], pyproject: dict[str, Any]) -> None:
    build = recipe["requirements"]["build"]
    for needed in ('${{ compiler("c") }}', '${{ compiler("rust") }}', '${{ stdlib("c") }}', "cargo-bundle-licenses"):
        assert needed in _plain(build), needed
    (cross,) = [c for c in _conditional(build) if c["if"] == "build_platform != host_platform"]
    assert "cross-python_${{ host_platform }}" in cross["then"]
    # maturin: the same range as pyproject's build-system, in host (and for cross builds)
    (backend,) = [_split(r) for r in pyproject["build-system"]["requires"] if _split(r)[0] == "maturin"]
    host = dict(_split(r) for r in _plain(recipe["requirements"]["host"]))
    assert host["maturin"] == backend[1]
    assert {"python", "pip"} <= host.keys()
    assert dict(_split(r) for r in cross["then"] if r.startswith("maturin"))["maturin"] == backend[1]


def test_recipe_run_requirements_match_pyproject(recipe: dict[str, Any], pyproject: dict[str, Any]) -> None:
    run = dict(_split(r) for r in _plain(recipe["requirements"]["run"]))
    assert run.pop("python") == ""
    assert run == dict(_split(r) for r in pyproject["project"]["dependencies"])


def test_recipe_tests(recipe: dict[str, Any]) -> None:
    tests = recipe["tests"]
    python = [t["python"] for t in tests if "python" in t]
    assert python and "fast_axolotl" in python[0]["imports"] and python[0]["pip_check"] is True
    scripts = [t["script"] for t in tests if "script" in t]
    native = [
        s for s in scripts if isinstance(s, dict) and any("IMPLEMENTATION == 'native'" in c for c in s["content"])
    ]
    assert native, "no test asserts that the native extension is in use"
    assert native[0]["env"]["FAST_AXOLOTL_IMPL"] == "native"


def test_recipe_about(recipe: dict[str, Any], pyproject: dict[str, Any]) -> None:
    about = recipe["about"]
    assert (
        about["license"]
        == pyproject["project"]["license"]
        == _toml(ROOT / "Cargo.toml")["workspace"]["package"]["license"]
    )
    files = about["license_file"] if isinstance(about["license_file"], list) else [about["license_file"]]
    assert "THIRDPARTY.yml" in files
    assert about["summary"] == pyproject["project"]["description"]
    for name in files:
        if name != "THIRDPARTY.yml":  # generated during the build
            assert (ROOT / name).is_file(), f"license_file {name} is not in the repository"


def test_cibuildwheel_covers_the_platforms(pyproject: dict[str, Any]) -> None:
    cibw = pyproject["tool"]["cibuildwheel"]
    assert set(cibw["build"]) == {"cp310-*", "cp311-*", "cp312-*", "cp313-*"}
    assert {"pp*", "cp3??t-*", "*-musllinux_i686", "*-win32"} <= set(cibw["skip"])
    assert set(cibw["linux"]["archs"]) == {"x86_64", "aarch64"}
    assert "rustup" in cibw["linux"]["before-all"]
    assert cibw["linux"]["environment"]["PATH"].startswith("$HOME/.cargo/bin:")
    assert set(cibw["macos"]["archs"]) == {"x86_64", "arm64"}
    assert "MACOSX_DEPLOYMENT_TARGET" in cibw["macos"]["environment"]
    assert cibw["windows"]["archs"] == ["AMD64"]
    assert any("rustup" in step for step in cibw["macos"]["before-all"]) and "rustup" in cibw["windows"]["before-all"]
    assert cibw["test-environment"] == {"FAST_AXOLOTL_IMPL": "native"}
    assert "pytest {project}/tests" in cibw["test-command"]
    assert {"pytest", "numpy", "pyarrow"} <= set(cibw["test-requires"])
    assert cibw["audit-command"].startswith("abi3audit --strict")
    # no "musllinux-*-image"/"manylinux-*-image" pin: cibuildwheel's defaults (manylinux_2_28, musllinux_1_2)


def test_fallback_builds_the_same_distribution(tmp_path: Path, pyproject: dict[str, Any]) -> None:
    assert _toml(FALLBACK / "pyproject.toml")["build-system"]["build-backend"] == "pure_backend"
    spec = importlib.util.spec_from_file_location("pure_backend", FALLBACK / "pure_backend.py")
    assert spec and spec.loader
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    name = backend.build_wheel(str(tmp_path))
    assert name == f"fast_axolotl-{_cargo_version()}-py3-none-any.whl"
    with zipfile.ZipFile(tmp_path / name) as zf:
        names = zf.namelist()
        metadata = zf.read(f"fast_axolotl-{_cargo_version()}.dist-info/METADATA").decode()
        entry_points = zf.read(f"fast_axolotl-{_cargo_version()}.dist-info/entry_points.txt").decode()
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
    assert {"fast_axolotl/__init__.py", "fast_axolotl/py.typed", "fast_axolotl/_native.pyi"} <= set(names)
    assert any(n.startswith("fast_axolotl/data/") for n in names)
    project = pyproject["project"]
    assert f"Name: {project['name']}\n" in metadata
    assert f"License-Expression: {project['license']}\n" in metadata
    assert f"Requires-Python: {project['requires-python']}\n" in metadata
    for dependency in project["dependencies"]:
        assert f"Requires-Dist: {dependency}\n" in metadata
    assert "fast-axolotl = fast_axolotl.__main__:main" in entry_points


# conda-forge's global pinning supplies these; the values only need to be plausible.
CONDA_FORGE_VARIANT = {
    "c_compiler": ["gcc"],
    "c_compiler_version": ["14"],
    "c_stdlib": ["sysroot"],
    "c_stdlib_version": ["2.17"],
    "rust_compiler": ["rust"],
    "rust_compiler_version": ["1.89"],
    "python_min": ["3.10"],
    "is_abi3": [True],
    "is_python_min": [True],
    "python": ["3.10.* *_cpython"],
}


def test_recipe_renders_with_rattler_build(pyproject: dict[str, Any]) -> None:
    """rattler-build itself (py-rattler-build, offline) parses and renders the recipe
    for linux-64; the rendered package agrees with pyproject.toml."""
    rb = pytest.importorskip("rattler_build")
    variants = rb.Stage0Recipe.from_file(str(RECIPE)).render(rb.VariantConfig(CONDA_FORGE_VARIANT))
    assert len(variants) == 1
    rendered = variants[0].recipe.to_dict()
    assert rendered["package"] == {"name": pyproject["project"]["name"], "version": _cargo_version()}
    assert rendered["build"]["python"] == {"version_independent": True}
    requirements = rendered["requirements"]
    assert "python-abi3" in requirements["host"]
    assert {"rust_linux-64 1.89.*", "cargo-bundle-licenses"} <= set(requirements["build"])
    run = dict(_split(r) for r in requirements["run"])
    assert run.pop("python") == ""
    assert run == dict(_split(r) for r in pyproject["project"]["dependencies"])
    assert rendered["about"]["license"] == pyproject["project"]["license"]
    (imports,) = [t["python"]["imports"] for t in rendered["tests"] if "python" in t]
    assert imports == ["fast_axolotl"]


def test_cibuildwheel_table_matches_its_schema(pyproject: dict[str, Any]) -> None:
    """cibuildwheel's own JSON schema (shipped in the package) accepts the table."""
    import importlib.resources
    import json

    pytest.importorskip("cibuildwheel")
    jsonschema = pytest.importorskip("jsonschema")
    schema_file = importlib.resources.files("cibuildwheel") / "resources" / "cibuildwheel.schema.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(pyproject["tool"]["cibuildwheel"], schema)
    with pytest.raises(jsonschema.ValidationError):  # the schema does reject unknown keys
        jsonschema.validate({**pyproject["tool"]["cibuildwheel"], "no-such-option": 1}, schema)
