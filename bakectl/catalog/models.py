"""Validated descriptors: benchmark.yaml, task.toml, agent.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bakectl.catalog.naming import familiar_ref


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_base_images(mapping: dict[str, str]) -> dict[str, str]:
    """FROM reference as written -> the image that stands in for it (a local or mirror ref,
    or `docker-image://REF`). Both sides must be image references."""
    for ref, image in mapping.items():
        if familiar_ref(ref) is None:
            raise ValueError(f"{ref!r} is not an image reference (NAME[:TAG][@sha256:HEX])")
        if familiar_ref(image.removeprefix("docker-image://")) is None:
            raise ValueError(f"{ref!r} maps to {image!r}, which is not an image reference")
    return mapping


class BenchmarkSpec(_Strict):
    # In containers/ the name must equal the directory; a folder given with -p may omit it.
    name: str | None = None
    description: str = ""
    version: str = "0"
    # Harbor tasks each bring their own environment/: per-task unless a benchmark says shared.
    environment: Literal["shared", "per-task"] = "per-task"
    workdir: str = Field(default="/app", pattern=r"^/[A-Za-z0-9._/-]*$")
    base_image: str = "debian"
    # FROM references (tags, digests, registry prefixes) -> local or mirror images, applied
    # as bake named contexts; the task's Dockerfile stays as it is.
    base_images: dict[str, str] = {}

    @field_validator("base_images")
    @classmethod
    def _refs(cls, value: dict[str, str]) -> dict[str, str]:
        return check_base_images(value)


class AgentSpec(_Strict):
    name: str
    version: str = "0"
    description: str = ""
    needs_solution: bool = False
    # Environment variable names passed from the run into the agent (allow-list).
    env: list[str] = []


class _Loose(BaseModel):
    # Harbor's task.toml grows fields; keep the ones bakectl uses, accept the rest.
    model_config = ConfigDict(extra="allow", frozen=True)


class AgentLimits(_Loose):
    timeout_sec: float = Field(default=600.0, gt=0)


class VerifierLimits(_Loose):
    timeout_sec: float = Field(default=300.0, gt=0)


class EnvironmentLimits(_Loose):
    cpus: float = Field(default=1, gt=0)
    memory_mb: int = Field(default=2048, gt=0)
    allow_internet: bool = False


class TaskSpec(_Loose):
    version: str = "1.0"
    metadata: dict = {}
    agent: AgentLimits = AgentLimits()
    verifier: VerifierLimits = VerifierLimits()
    environment: EnvironmentLimits = EnvironmentLimits()


class Benchmark(BaseModel):
    model_config = ConfigDict(frozen=True)
    spec: BenchmarkSpec
    dir: Path  # benchmark.yaml and a shared environment/ sit here
    tasks: Path | None = None  # the folder of task folders; default dir/tasks

    @property
    def name(self) -> str:
        return self.spec.name or self.dir.name

    @property
    def tasks_dir(self) -> Path:
        return self.tasks or self.dir / "tasks"

    @property
    def shared(self) -> bool:
        return self.spec.environment == "shared"

    @property
    def env_dir(self) -> Path:
        return self.dir / "environment"


class Task(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    benchmark: str
    spec: TaskSpec
    dir: Path

    @property
    def env_dir(self) -> Path:
        return self.dir / "environment"

    @property
    def instruction(self) -> Path:
        return self.dir / "instruction.md"

    @property
    def tests_dir(self) -> Path:
        return self.dir / "tests"

    @property
    def solution_dir(self) -> Path:
        return self.dir / "solution"

    @property
    def docker_image(self) -> str | None:
        """`[environment] docker_image`: a prebuilt image the task runs in (no Dockerfile)."""
        value = getattr(self.spec.environment, "docker_image", None)
        return value or None


class Agent(BaseModel):
    model_config = ConfigDict(frozen=True)
    spec: AgentSpec
    dir: Path

    @property
    def name(self) -> str:
        return self.spec.name
