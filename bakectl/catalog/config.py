"""The project's bakectl config file, `bakectl.toml` at the project root (optional).

    [base_images]
    # FROM reference as written  =  the local or mirror image that stands in for it
    "python:3.13-slim@sha256:..." = "mirror.internal/python:3.13-slim"
    "debian:bookworm-slim"        = "debian:bookworm-slim"

It holds what belongs to a machine or a team rather than to a benchmark: a mapping set
here applies to every benchmark and overrides a benchmark.yaml's for the same reference;
`--base-image REF=IMAGE` overrides both.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bakectl.catalog.models import check_base_images
from bakectl.errors import UsageError

CONFIG_FILE = "bakectl.toml"


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base_images: dict[str, str] = {}

    @field_validator("base_images")
    @classmethod
    def _refs(cls, value: dict[str, str]) -> dict[str, str]:
        return check_base_images(value)


def load_config(root: Path) -> ProjectConfig:
    path = root / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ProjectConfig()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text", "save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: malformed TOML: {exc}", "fix the TOML syntax there") from None
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise UsageError(
            f"{path}: field '{field}': {err['msg']}",
            f'{CONFIG_FILE} holds one table, [base_images]: "FROM ref" = "local or mirror image"',
        ) from None
