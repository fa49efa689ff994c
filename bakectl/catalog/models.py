"""Validated descriptors: benchmark.yaml, task.toml, agent.yaml."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# -- numbers: finite, and within what the engine accepts -----------------------------------

MAX_NUMBER = 2**53  # beyond this a JSON reader loses precision; no limit is this large
MAX_SECONDS = 7 * 24 * 3600.0  # a week: past it, a timeout is a typo (and overflows timers)
MAX_CPUS = 1024.0
MIN_CPUS = 0.01  # docker's --cpus resolution
MIN_MEMORY_MB = 6  # docker refuses --memory below 6 MiB
MAX_MEMORY_MB = 4 * 1024 * 1024  # 4 TiB

Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
Cpus = Annotated[float, Field(ge=MIN_CPUS, le=MAX_CPUS)]
MemoryMb = Annotated[int, Field(ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)]


class _Checked(BaseModel):
    """Every descriptor model: numbers are finite (no inf/nan, from TOML or YAML or a
    string) and no number field is beyond MAX_NUMBER, whatever its own bounds say."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _numbers_in_range(self):
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value) or abs(value) > MAX_NUMBER:
                shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:20]}..."
                raise ValueError(f"{name} = {shown} is out of range (at most 2**53)")
        return self


class _Strict(_Checked):
    model_config = ConfigDict(extra="forbid")


# -- environment names a descriptor may pass to an agent ---------------------------------------

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Set by the runner or the runtime for the agent (the gateway's address and placeholder
# keys, the model, the task's paths), or host configuration and the gateway's upstream
# key: a descriptor naming one would override or leak it. Other BAKECTL_ names are agent
# knobs (the chat agent's BAKECTL_MAX_TURNS) and pass.
RESERVED_ENV = frozenset(
    {
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_API_BASE",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "BAKECTL_MODEL",
        "BAKECTL_WORKDIR",
        "BAKECTL_INSTRUCTION",
        "BAKECTL_AGENT_LOG_DIR",
        "BAKECTL_UPSTREAM_API_KEY",
        "BAKECTL_ROOT",
        "BAKECTL_BUILD_DIR",
        "BAKECTL_REGISTRY",
    }
)


def check_env_name(name: str) -> str:
    if not ENV_NAME_RE.match(name):
        raise ValueError(
            f"{name[:80]!r} is not an environment variable name (letters, digits, '_'; "
            "no '=value': values come from the host)"
        )
    if name in RESERVED_ENV:
        raise ValueError(f"{name} is set by the runner (gateway address, keys, model)")
    return name


EnvName = Annotated[str, AfterValidator(check_env_name)]


# -- limits an agent cannot exceed: overrides of bakectl/runner/limits.py's defaults --------
# benchmark.yaml `limits:` and task.toml `[bakectl.limits]` take the same fields; a task's
# value wins over its benchmark's, which wins over the default. None: not set here.


class RunLimits(_Strict):
    pids: int | None = Field(default=None, ge=8, le=1 << 22)  # docker run --pids-limit
    log_mb: float | None = Field(default=None, gt=0, le=1 << 20)  # each container log kept
    artifacts_mb: float | None = Field(default=None, gt=0, le=1 << 24)  # workdir + /logs/agent
    reward_min: float | None = None  # the declared reward range; outside it: a note
    reward_max: float | None = None

    @model_validator(mode="after")
    def _range_in_order(self):
        lo, hi = self.reward_min, self.reward_max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"reward_min {lo:g} is above reward_max {hi:g}")
        return self


class BakectlTable(_Strict):
    """task.toml's [bakectl] table: what bakectl adds to Harbor's fields."""

    limits: RunLimits = RunLimits()


class BenchmarkSpec(_Strict):
    name: str
    description: str = ""
    version: str = "0"
    environment: Literal["shared", "per-task"]
    workdir: str = Field(default="/app", pattern=r"^/[A-Za-z0-9._/-]*$")
    base_image: str = "debian"
    limits: RunLimits = RunLimits()  # bakectl/runner/limits.py: pids, log_mb, artifacts_mb, ...


class AgentSpec(_Strict):
    name: str
    version: str = "0"
    description: str = ""
    needs_solution: bool = False
    # Environment variable names passed from the run into the agent (allow-list).
    env: list[EnvName] = []


class _Loose(_Checked):
    # Harbor's task.toml grows fields; keep the ones bakectl uses, accept the rest.
    model_config = ConfigDict(extra="allow")


class AgentLimits(_Loose):
    timeout_sec: Seconds = 600.0


class VerifierLimits(_Loose):
    timeout_sec: Seconds = 300.0


class EnvironmentLimits(_Loose):
    cpus: Cpus = 1
    memory_mb: MemoryMb = 2048
    allow_internet: bool = False


class TaskSpec(_Loose):
    version: str = "1.0"
    metadata: dict = {}
    agent: AgentLimits = AgentLimits()
    verifier: VerifierLimits = VerifierLimits()
    environment: EnvironmentLimits = EnvironmentLimits()
    bakectl: BakectlTable = BakectlTable()  # [bakectl.limits]: overrides of runner/limits.py


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
