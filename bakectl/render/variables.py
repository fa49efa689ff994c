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

BUILTIN_DEFAULTS = {
    "REGISTRY": "bakectl",
    "TAG": "",
    "DEBIAN_IMAGE": "debian:bookworm-slim",
    "PYTHON_IMAGE": "python:3.11-slim-bookworm",
}
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
    return values
