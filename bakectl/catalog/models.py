"""Validated descriptors: benchmark.yaml, task.toml, agent.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkSpec(_Strict):
    name: str
    description: str = ""
    version: str = "0"
    environment: Literal["shared", "per-task"]
    workdir: str = Field(default="/app", pattern=r"^/[A-Za-z0-9._/-]*$")
    base_image: str = "debian"


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PKG_SPEC = r"^[A-Za-z0-9@._/+-]+(==|@)?[A-Za-z0-9{}._+-]*$"


class AgentInstall(_Strict):
    """How an agent from a package registry is installed, once per version, into its prefix
    (/opt/bakectl/agents/<agent>/<version>). Package specs may say `{version}`: the agent's
    pinned version (or --agent-version)."""

    # native: the package ships a binary (npm platform package); node: a JS CLI run by the
    # Node in the prefix; python: wheels run by the Python in the prefix.
    runtime: Literal["native", "node", "python"]
    npm: list[str] = Field(default=[], max_length=8)  # "name@version" specs, unpacked as is
    pypi: list[str] = Field(default=[], max_length=8)  # "name==version" requirement specs
    node: str | None = Field(default=None, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")
    python: str = Field(default="3.11", pattern=r"^3\.[0-9]+$")  # the wheels' target
    # Paths inside unpacked npm packages to keep (globs, "name/path"); empty: everything.
    keep: list[str] = []
    # Commands the agent runs: name -> path under the prefix.
    bin: dict[str, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> AgentInstall:
        import re

        for spec in self.npm + self.pypi:
            if not re.match(_PKG_SPEC, spec):
                raise ValueError(f"package spec {spec!r} is not name@version / name==version")
        if self.runtime == "python" and not self.pypi:
            raise ValueError("runtime python needs pypi: [...] packages")
        if self.runtime in ("native", "node") and not self.npm:
            raise ValueError(f"runtime {self.runtime} needs npm: [...] packages")
        if self.runtime == "node" and self.node is None:
            raise ValueError("runtime node needs node: <version> (the Node put in the prefix)")
        for name, path in self.bin.items():
            if not re.match(r"^[A-Za-z0-9._-]+$", name) or path.startswith("/") or ".." in path:
                raise ValueError(f"bin {name}: {path!r} must be a relative path in the prefix")
        return self


class AgentGateway(_Strict):
    # Request normalization rules for this agent, applied by the gateway at record and at
    # replay alike; their format is the gateway's (bakectl/gateway/rules.py).
    normalize: dict[str, Any] = {}

    @model_validator(mode="after")
    def _rules_parse(self) -> AgentGateway:
        from bakectl.gateway.rules import parse_rules

        parse_rules(self.normalize, "gateway.normalize")  # RulesError is a ValueError
        return self


class AgentSpec(_Strict):
    name: str
    # The agent's own version; for an installed agent, the upstream release it is pinned to
    # (drives the install, the prefix path and the agent-version label).
    version: str = Field(default="0", pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    description: str = ""
    needs_solution: bool = False
    # Environment variable names passed from the run into the agent (allow-list).
    env: list[str] = []
    # Fixed environment of the eval image (telemetry off, retries, config homes).
    environment: dict[Annotated[str, Field(pattern=_ENV_NAME)], str] = {}
    install: AgentInstall | None = None
    # The command that prints the agent's own version (a start-up cost to compare against).
    version_command: list[str] = []
    gateway: AgentGateway = AgentGateway()

    # True when `version` pins an upstream release (`--agent-version` may override it).
    @property
    def pinned(self) -> bool:
        return self.install is not None


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
