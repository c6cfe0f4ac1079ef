"""A tiny PEP 517 backend (stdlib only) for the pure-Python ``py3-none-any`` wheel.

It packs ``../fast_axolotl/`` (skipping caches and any compiled file) with core
metadata generated from ``../pyproject.toml``'s ``[project]`` table and the version
from ``../Cargo.toml``'s ``[workspace.package]``: the metadata of the maturin-built
wheels, from the same source. The wheel is reproducible: sorted entries, fixed
permissions, timestamps from ``SOURCE_DATE_EPOCH`` (default 1980-01-01).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
import time
import zipfile
from email.message import Message
from email.policy import EmailPolicy
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "fast_axolotl"
TAG = "py3-none-any"
GENERATOR = "fast-axolotl-pure-backend 1"
# Never in the pure wheel: caches, compiled extensions, build leftovers.
EXCLUDE = re.compile(r"(^|/)__pycache__(/|$)|\.(pyc|pyo|so|pyd|dylib|dll)$")
COMPILED = re.compile(r"\.(so|pyd|dylib|dll)$")

__all__ = ["build_wheel", "get_requires_for_build_wheel", "prepare_metadata_for_build_wheel"]


def _project() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    if project.get("name") != "fast-axolotl":
        raise RuntimeError(f"{ROOT / 'pyproject.toml'} is not fast-axolotl's")
    return project


def cargo_version() -> str:
    with open(ROOT / "Cargo.toml", "rb") as f:
        return str(tomllib.load(f)["workspace"]["package"]["version"])


def _pep440(version: str) -> str:
    # maturin's conversion of the Cargo pre-release forms we might use: 1.0.0-alpha.1 -> 1.0.0a1
    for cargo, pep in (("-alpha.", "a"), ("-beta.", "b"), ("-rc.", "rc"), ("-alpha", "a0"), ("-beta", "b0")):
        version = version.replace(cargo, pep)
    return version


def _metadata() -> str:
    project = _project()
    version = _pep440(cargo_version())
    msg = Message(policy=EmailPolicy(max_line_length=0, linesep="\n", utf8=True))
    msg["Metadata-Version"] = "2.4"
    msg["Name"] = project["name"]
    msg["Version"] = version
    for classifier in project.get("classifiers", []):
        msg["Classifier"] = classifier
    for requirement in project.get("dependencies", []):
        msg["Requires-Dist"] = requirement
    for extra, requirements in sorted(project.get("optional-dependencies", {}).items()):
        for requirement in requirements:
            msg["Requires-Dist"] = f"{requirement} ; extra == '{extra}'"
        msg["Provides-Extra"] = extra
    msg["Summary"] = project["description"]
    if isinstance(project.get("license"), str):
        msg["License-Expression"] = project["license"]
    for name in project.get("license-files", []):
        msg["License-File"] = name
    msg["Requires-Python"] = project["requires-python"]
    for label, url in project.get("urls", {}).items():
        msg["Project-URL"] = f"{label}, {url}"
    readme = project.get("readme")
    if readme:
        if not isinstance(readme, str) or not readme.endswith(".md"):
            raise RuntimeError("only a Markdown readme file name is supported")
        msg["Description-Content-Type"] = "text/markdown; charset=UTF-8; variant=GFM"
        msg.set_payload((ROOT / readme).read_text(encoding="utf-8"))
    return msg.as_string()


def _entry_points() -> str:
    scripts = _project().get("scripts", {})
    if not scripts:
        return ""
    lines = ["[console_scripts]", *(f"{name} = {target}" for name, target in scripts.items())]
    return "\n".join(lines) + "\n"


def _dist_info(version: str) -> str:
    return f"{PACKAGE}-{_pep440(version)}.dist-info"


def _package_files() -> list[tuple[str, Path]]:
    source = ROOT / PACKAGE
    found = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not EXCLUDE.search(rel):
            found.append((rel, path))
    if not any(rel == f"{PACKAGE}/__init__.py" for rel, _ in found):
        raise RuntimeError(f"{source} has no __init__.py")
    return found


def _zip_time() -> tuple[int, int, int, int, int, int]:
    epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)  # zip cannot go before 1980
    return time.gmtime(epoch)[:6]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _dist_info_files(version: str) -> list[tuple[str, bytes]]:
    dist_info = _dist_info(version)
    wheel = f"Wheel-Version: 1.0\nGenerator: {GENERATOR}\nRoot-Is-Purelib: true\nTag: {TAG}\n"
    files = [(f"{dist_info}/METADATA", _metadata().encode()), (f"{dist_info}/WHEEL", wheel.encode())]
    entry_points = _entry_points()
    if entry_points:
        files.append((f"{dist_info}/entry_points.txt", entry_points.encode()))
    for name in _project().get("license-files", []):  # PEP 639: dist-info/licenses/<path>
        files.append((f"{dist_info}/licenses/{name}", (ROOT / name).read_bytes()))
    return files


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    version = cargo_version()
    for name, data in _dist_info_files(version):
        target = Path(metadata_directory) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return _dist_info(version)


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    version = cargo_version()
    name = f"{PACKAGE}-{_pep440(version)}-{TAG}.whl"
    entries = [(rel, path.read_bytes()) for rel, path in _package_files()]
    entries += _dist_info_files(version)
    record_name = f"{_dist_info(version)}/RECORD"
    record = [f"{rel},{_record_hash(data)},{len(data)}" for rel, data in entries]
    entries.append((record_name, ("\n".join([*record, f"{record_name},,"]) + "\n").encode()))

    target = Path(wheel_directory) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = _zip_time()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, data in entries:
            if COMPILED.search(rel):
                raise RuntimeError(f"compiled file {rel} must not go into the pure wheel")
            info = zipfile.ZipInfo(rel, date_time=stamp)
            info.external_attr = (0o100644 & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return name
