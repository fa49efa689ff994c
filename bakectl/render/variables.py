"""Bake variables a user overrides (REGISTRY, TAG, base images).

docker-bake.hcl at the project root declares them with defaults; bakectl reads
those defaults so the tags it computes equal the ones bake computes, and
environment variables override both, as they do for bake itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bakectl.data import BAKE_DEFAULTS
from bakectl.errors import UsageError

BUILTIN_DEFAULTS = {
    "REGISTRY": "bakectl",
    "TAG": "",
    "DEBIAN_IMAGE": "debian:bookworm-slim",
    "PYTHON_IMAGE": "python:3.11-slim-bookworm",
}
# A reference's name without its tag (distribution/reference): an optional
# `host[:port]` first, then lowercase path components.
_HOST = r"(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAMESPACE_RE = re.compile(rf"(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*|{_HOST}")
_VAR_RE = re.compile(r'variable\s+"(\w+)"\s*\{\s*default\s*=\s*"([^"]*)"\s*\}', re.S)


def hcl_defaults(hcl: Path) -> dict[str, str]:
    try:
        return dict(_VAR_RE.findall(hcl.read_text()))
    except FileNotFoundError:
        return {}


def resolve(root: Path, overrides: dict[str, str] | None = None) -> dict[str, str]:
    hcl = root / "docker-bake.hcl"  # else the defaults bakectl ships (bakectl/data)
    values = {**BUILTIN_DEFAULTS, **hcl_defaults(hcl if hcl.is_file() else BAKE_DEFAULTS)}
    for key in values:
        if key in os.environ:
            values[key] = os.environ[key]
    if os.environ.get("BAKECTL_REGISTRY"):
        values["REGISTRY"] = os.environ["BAKECTL_REGISTRY"]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values["REGISTRY"] = values["REGISTRY"].rstrip("/") or BUILTIN_DEFAULTS["REGISTRY"]
    check_namespace(values["REGISTRY"])
    return values


def check_namespace(value: str) -> str:
    """Every command checks the image namespace up front, so a bad one fails before
    anything is rendered, built or pushed (not at the first `docker push`)."""
    bare_host = "/" not in value and ("." in value or ":" in value or value == "localhost")
    if not _NAMESPACE_RE.fullmatch(value) or (
        "/" not in value and not bare_host and value != value.lower()
    ):
        raise UsageError(
            f"invalid image namespace {value!r} (--registry, REGISTRY or BAKECTL_REGISTRY)",
            "write HOST[:PORT]/PATH with a lowercase path, e.g. 127.0.0.1:5000/evals or "
            "ghcr.io/acme/evals; or a local name such as 'bakectl'",
        )
    return value


def local_namespaces(root: Path) -> list[str]:
    """Namespaces a tested image may already carry here: REGISTRY from the environment,
    docker-bake.hcl's default and the built-in one. Push and release look for the
    content tag under these before building anything."""
    found = [
        os.environ.get("REGISTRY", ""),
        hcl_defaults(root / "docker-bake.hcl").get("REGISTRY", ""),
        BUILTIN_DEFAULTS["REGISTRY"],
    ]
    return [ns.rstrip("/") for ns in dict.fromkeys(found) if ns and _NAMESPACE_RE.fullmatch(ns)]
