"""Validated descriptors: benchmark.yaml, task.toml, agent.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkSpec(_Strict):
    name: str
    description: str = ""
    version: str = "0"
    environment: Literal["shared", "per-task"]
    workdir: str = Field(default="/app", pattern=r"^/[A-Za-z0-9._/-]*$")
    base_image: str = "debian"


class AgentSpec(_Strict):
    name: str
    version: str = "0"
    description: str = ""
    needs_solution: bool = False
    needs_model: bool = False  # a model agent: a run without a model source is refused
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
    dir: Path

    @property
    def name(self) -> str:
        return self.spec.name

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


class Agent(BaseModel):
    model_config = ConfigDict(frozen=True)
    spec: AgentSpec
    dir: Path

    @property
    def name(self) -> str:
        return self.spec.name
