"""Validated descriptors: benchmark.yaml, task.toml, agent.yaml."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from bakectl.catalog.naming import familiar_ref

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
# knobs (the chat agent's BAKECTL_MAX_TURNS) and pass. The one list: runner/spec.py reads it.
RESERVED_ENV = frozenset(
    {
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_API_BASE",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "BAKECTL_MODEL",
        "BAKECTL_ATTEMPT",
        "BAKECTL_PHASE",
        "BAKECTL_WORKDIR",
        "BAKECTL_UPSTREAM_API_KEY",
        "BAKECTL_GATEWAY_RULES",
        "BAKECTL_INSTRUCTION",
        "BAKECTL_AGENT_LOG_DIR",
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

    limits: RunLimits = RunLimits()  # bakectl/runner/limits.py: pids, log_mb, artifacts_mb, ...


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
    needs_model: bool = False  # a model agent: a run without a model source is refused
    # Environment variable names passed from the run into the agent (allow-list).
    env: list[EnvName] = []
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


class _Loose(_Checked):
    # Harbor's task.toml grows fields: accept them, and let `unsupported_fields` name
    # every one bakectl does not honour, so nothing is ignored silently.
    model_config = ConfigDict(extra="allow", frozen=True)


# -- task.toml: Harbor's task config, field by field ----------------------------------------
# Defaults are Harbor's (harbor.models.task.config), except where bakectl needs a number
# (cpus, memory_mb, agent timeout_sec) and Harbor leaves it to the environment provider.

NetworkMode = Literal["public", "no-network", "allowlist"]


def _uid_to_str(value):
    # Harbor takes a name or a uid; one type keeps the error on a bad value simple.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


User = Annotated[str, BeforeValidator(_uid_to_str)]


class AgentLimits(_Loose):
    timeout_sec: Seconds = 600.0
    user: User | None = None  # None: the image's USER (root when it sets none), as Harbor
    network_mode: NetworkMode | None = None  # a phase override of [environment] network_mode
    allowed_hosts: list[str] | None = None


class VerifierLimits(_Loose):
    timeout_sec: Seconds = 600.0
    env: dict[str, str] = {}
    user: User | None = None
    # shared: in the agent's container after the agent (Harbor's default); separate: a
    # container of its own, only artifacts cross; snapshot: bakectl's stricter mode, a
    # fresh container from a commit of the agent's.
    environment_mode: Literal["shared", "separate", "snapshot"] | None = None
    environment: EnvironmentLimits | None = None
    network_mode: NetworkMode | None = None
    allowed_hosts: list[str] | None = None
    collect: list[dict] = []

    @property
    def mode(self) -> str:
        if self.environment_mode:
            return self.environment_mode
        return "separate" if self.environment is not None else "shared"


class SolutionSpec(_Loose):
    env: dict[str, str] = {}


class Healthcheck(_Loose):
    """Docker HEALTHCHECK semantics: healthy at the first pass; `retries` consecutive
    failures after the start period make it unhealthy."""

    command: str
    interval_sec: float = Field(default=5.0, gt=0)
    timeout_sec: float = Field(default=30.0, gt=0)
    start_period_sec: float = Field(default=0.0, ge=0)
    start_interval_sec: float = Field(default=5.0, gt=0)
    retries: int = Field(default=3, ge=1)


class EnvironmentLimits(_Loose):
    build_timeout_sec: Seconds = 600.0
    docker_image: str | None = None
    os: Literal["linux", "windows"] = "linux"
    cpus: Cpus = 1
    memory_mb: MemoryMb = 2048
    storage_mb: int | None = Field(default=None, gt=0)
    gpus: int | None = Field(default=None, ge=0)
    gpu_types: list[str] | None = None
    env: dict[str, str] = {}
    healthcheck: Healthcheck | None = None
    workdir: str | None = Field(default=None, pattern=r"^/")
    # Deprecated in Harbor for network_mode, still read: false = no-network.
    allow_internet: bool | None = None
    network_mode: NetworkMode | None = None
    allowed_hosts: list[str] | None = None
    mcp_servers: list[dict] = []
    skills_dir: str | None = None
    tpu: dict | None = None

    @property
    def network(self) -> str:
        """The resolved baseline: network_mode, else allow_internet, else public."""
        if self.network_mode is not None:
            return self.network_mode
        if self.allow_internet is False:
            return "no-network"
        return "public"


VerifierLimits.model_rebuild()


class Artifact(_Loose):
    source: str = Field(pattern=r"^/")
    destination: str | None = None
    exclude: list[str] = []
    service: str | None = None


class TaskSpec(_Loose):
    version: str = "1.0"
    schema_version: str | None = None
    metadata: dict = {}
    task: dict | None = None  # [task] package info (name, authors, ...): metadata
    source: str | None = None
    agent: AgentLimits = AgentLimits()
    verifier: VerifierLimits = VerifierLimits()
    environment: EnvironmentLimits = EnvironmentLimits()
    solution: SolutionSpec = SolutionSpec()
    artifacts: list[str | Artifact] = []
    steps: list[dict] | None = None
    multi_step_reward_strategy: str | None = None
    bakectl: BakectlTable = BakectlTable()  # [bakectl.limits]: overrides of runner/limits.py

    @property
    def artifact_entries(self) -> list[Artifact]:
        return [Artifact(source=a) if isinstance(a, str) else a for a in self.artifacts]


# Fields a task may set that bakectl reads but does not (yet) act on, with why. Anything
# else not declared above is a misspelling or a newer Harbor field: warned too.
UNSUPPORTED = {
    "environment.storage_mb": "no disk quota on this engine (as Harbor's docker environment)",
    "environment.build_timeout_sec": "bakectl builds every image in one bake graph",
    "environment.gpu_types": "bakectl does not pick GPU types",
    "environment.mcp_servers": "bakectl does not start MCP servers",
    "environment.skills_dir": "bakectl does not copy agent skills",
    "environment.tpu": "no TPUs",
    "environment.allowed_hosts": "allowlist networks are not supported (no-network is used)",
    "agent.allowed_hosts": "allowlist networks are not supported (no-network is used)",
    "agent.network_mode": "per-phase networks are not supported: [environment]'s applies",
    "verifier.network_mode": "per-phase networks are not supported: [environment]'s applies",
    "verifier.collect": "collect commands in compose services are not run",
    "verifier.environment.cpus": "a separate verifier gets [environment]'s cpus",
    "verifier.environment.memory_mb": "a separate verifier gets [environment]'s memory_mb",
    "verifier.environment.healthcheck": "a separate verifier is not health-checked",
    "verifier.environment.workdir": "a separate verifier works in [environment]'s workdir",
    "verifier.allowed_hosts": "allowlist networks are not supported (no-network is used)",
    "steps": "multi-step tasks are not supported (only the top-level task runs)",
    "multi_step_reward_strategy": "multi-step tasks are not supported",
}


def _set_paths(model: BaseModel, prefix: str = "") -> list[tuple[str, BaseModel | None]]:
    """Every field the file set, as dotted paths, with extras marked by a None model."""
    out: list[tuple[str, BaseModel | None]] = []
    for name in sorted(model.model_fields_set):
        value = getattr(model, name)
        out.append((prefix + name, model))
        if isinstance(value, BaseModel):
            out += _set_paths(value, f"{prefix}{name}.")
    for name in sorted(model.model_extra or {}):
        out.append((prefix + name, None))
    return out


def unsupported_fields(spec: TaskSpec) -> list[str]:
    """What `validate` warns about in a task.toml: fields set that bakectl does not
    honour (with why), and fields Harbor does not define (misspellings)."""
    from difflib import get_close_matches

    notes: list[str] = []
    for path, owner in _set_paths(spec):
        if owner is None:
            if path.startswith("metadata.") or path.startswith("task."):
                continue
            parent, _, leaf = path.rpartition(".")
            known = _known_fields(spec, parent)
            close = get_close_matches(leaf, known, n=1)
            hint = (
                f" (did you mean {'.'.join(filter(None, [parent, close[0]]))!r}?)" if close else ""
            )
            what = "section" if isinstance(_raw(spec, path), dict) else "field"
            notes.append(f"unknown {what} {path!r}{hint}: not a Harbor task.toml {what}, ignored")
        elif path in UNSUPPORTED and not _is_default(owner, path):
            notes.append(f"field {path!r} is not supported: {UNSUPPORTED[path]}")
        elif path == "environment.network_mode" and spec.environment.network_mode == "allowlist":
            notes.append(f"field {path!r} = 'allowlist' is not supported: run as no-network")
        elif path == "environment.os" and spec.environment.os != "linux":
            notes.append(f"field {path!r} = {spec.environment.os!r} is not supported: linux only")
    for a in spec.artifact_entries:
        if a.service not in (None, "main"):
            notes.append(f"artifact {a.source!r}: service {a.service!r} is not supported")
    return notes


def _is_default(owner: BaseModel, path: str) -> bool:
    """A field set to what it is anyway (Harbor's task template writes
    `build_timeout_sec = 600.0` and `mcp_servers = []` into every task) asks for nothing."""
    name = path.rpartition(".")[2]
    field = type(owner).model_fields[name]
    return not field.is_required() and getattr(owner, name) == field.get_default(
        call_default_factory=True
    )


def _known_fields(spec: TaskSpec, parent: str) -> list[str]:
    model: BaseModel = spec
    for part in filter(None, parent.split(".")):
        model = getattr(model, part, None)
        if not isinstance(model, BaseModel):
            return []
    return list(type(model).model_fields)


def _raw(spec: TaskSpec, path: str):
    obj = spec
    for part in path.split("."):
        obj = (
            (obj.model_extra or {}).get(part)
            if isinstance(obj, BaseModel) and part in (obj.model_extra or {})
            else getattr(obj, part, None)
        )
    return obj


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
