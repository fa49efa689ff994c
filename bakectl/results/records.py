"""The typed records bakectl writes: one model per file, one writer, one reader.

    <out>/<job_id>/
      job.json                          JobRecord: what was asked, fully resolved (resume reads it)
      tasks/<task>/attempt-<k>/
        run.json                        RunRecord: what ran (images, commands, exit codes, owner)
        result.json                     ResultRecord: status, fault, rewards, tokens, timings
        rescore-<time>/result.json      ResultRecord of a re-score (the newest one counts)
      summary.json                      SummaryRecord: counts, pass rate, pass@k, metrics
      gate.json                         GateRecord: a comparison with a baseline job
    <bundle>/manifest.json              BundleManifest: what a bundle holds and how to rebuild it

Every record carries `kind` and `schema_version`. `read_record` refuses a file of
another kind or version with an error naming both, before validating the rest, so a
reader never guesses at a file it does not understand. `write_record` writes through a
temporary file and a rename: a reader never sees half a record.

JSON Schemas generated from these models live in docs/schemas/ (`python -m
bakectl.results.records docs/schemas` regenerates them; a test fails when they drift).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bakectl.errors import UsageError

SCHEMA_VERSION = 1
PASS_THRESHOLD = 1.0

Status = Literal["passed", "failed", "timeout", "error", "invalid"]
# passed/failed: the verifier scored the run. timeout: the agent ran out of time.
# error: an infrastructure fault (see Fault.kind); never the agent's failure.
# invalid: the task could not be run as asked (its image failed to build, bad task input).

FaultKind = Literal[
    # the model gateway
    "replay_miss",  # a request the fixture does not hold
    "replay_exhausted",  # more requests than the fixture recorded
    "upstream_unreachable",  # record/passthrough could not reach the provider
    "upstream_error",  # the provider answered 5xx / refused
    "gateway_died",  # the gateway container stopped during the run
    "gateway_start",  # the gateway never became healthy
    "fixture_corrupt",  # a replay fixture or its provenance.json does not parse
    # the engine
    "engine_unreachable",  # dockerd does not answer
    "engine",  # a docker command failed for a reason outside the task (transient)
    "network",  # the run's network could not be created (address pools, limits)
    "image_build",  # the task's or agent's image failed to build
    "image_missing",  # an image the run needs is not in the store
    "container_start",  # the environment container did not start
    # the task
    "healthcheck",  # the environment never became healthy
    "sidecar",  # a compose sidecar failed to start, never became healthy, or exited
    "agent_timeout",  # the agent ran past its timeout (status: timeout)
    "verifier_timeout",  # the verifier ran past its timeout
    "verifier_no_reward",  # the verifier wrote neither reward.txt nor reward.json
    "verifier_bad_reward",  # a reward file that does not parse, or a non-finite value
    "task_invalid",  # the task cannot run as asked (status invalid: no solve.sh for the oracle)
    # bakectl itself
    "interrupted",  # Ctrl-C / SIGTERM / batch cancel
    "internal",  # a bug in bakectl
]

# Faults worth another try under --retries: the same inputs may well succeed.
# A gateway that died (OOM, docker) or was slow to become healthy on a loaded host is the
# run's conditions, not the task's: it is retried too.
TRANSIENT_KINDS: frozenset[str] = frozenset(
    {"engine", "network", "upstream_unreachable", "gateway_died", "gateway_start"}
)

MAX_MESSAGE = 2000  # characters of a message kept in a record or printed


def cut(text: str, limit: int = MAX_MESSAGE) -> str:
    """Messages from agents and verifiers are unbounded; records and terminals are not."""
    if len(text) <= limit:
        return text
    return text[: limit - 40] + f"... [{len(text) - limit + 40} more characters cut]"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Record(_Model):
    """Base of every file bakectl writes."""

    KIND: ClassVar[str] = ""
    SORTED: ClassVar[bool] = False  # keys sorted on write (a bundle is byte-for-byte stable)
    kind: str
    schema_version: int = SCHEMA_VERSION


class Fault(_Model):
    kind: FaultKind
    message: str
    transient: bool = False

    @classmethod
    def of(cls, kind: FaultKind, message: str) -> Fault:
        return cls(kind=kind, message=cut(message), transient=kind in TRANSIENT_KINDS)


class Tokens(_Model):
    """What the gateway counted from the provider's usage fields."""

    input: int = 0
    output: int = 0
    cached: int = 0
    requests: int = 0


class Owner(_Model):
    """The process that owns a run's containers: `prune` leaves live owners alone."""

    host: str
    pid: int
    started_at: float  # the owner process's start time (epoch seconds)


class ModelSource(_Model):
    kind: Literal["none", "replay", "replay_dir", "record", "record_dir", "passthrough"] = "none"
    # fixture dir (replay, record), or a folder of per-task ones (replay_dir, record_dir)
    location: str | None = None
    upstream: str | None = None  # record / passthrough


class TaskSource(_Model):
    kind: Literal["catalog", "path", "bundle"] = "catalog"
    location: str | None = None  # catalog root, -p PATH, or the bundle directory
    benchmark: str


class JobRecord(Record):
    """job.json: what was asked, fully resolved, so `--resume JOB` needs no flag."""

    KIND: ClassVar[str] = "job"
    kind: Literal["job"] = "job"
    job_id: str
    created_at: str  # ISO 8601, UTC
    bakectl_version: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    source: TaskSource
    task_ids: list[str]
    agent: str
    agent_version: str | None = None
    agent_cmd: str | None = None  # --agent-cmd (a host command instead of an agent image)
    model: str | None = None
    model_source: ModelSource = ModelSource()
    n_concurrent: int = 1
    attempts: int = 1  # -k: independent attempts per task (pass@k)
    retries: int = 0  # extra tries of an attempt that ended in a transient fault
    agent_timeout_sec: float | None = None  # overrides; None = the task's own
    verifier_timeout_sec: float | None = None
    registry: str | None = None
    set: list[str] = []  # --set overrides passed to bake
    engine: str = "auto"
    no_build: bool = False
    owner: Owner | None = None


class ImageRef(_Model):
    ref: str
    id: str | None = None
    digest: str | None = None


class CommandRecord(_Model):
    """One command a run executed, as a user could rerun it."""

    line: str
    exit_code: int | None = None
    seconds: float | None = None
    stderr: str = ""  # the tail of its stderr when it failed


class RunRecord(Record):
    """run.json: what ran."""

    KIND: ClassVar[str] = "run"
    kind: Literal["run"] = "run"
    run_id: str
    job_id: str
    benchmark: str
    task: str
    agent: str
    attempt: int = 1
    images: dict[str, ImageRef] = {}  # role (eval, gateway, verifier, ...) -> image
    commands: list[CommandRecord] = []
    exit_codes: dict[str, int | None] = {}  # phase -> exit code
    timings: dict[str, float] = {}  # phase -> seconds
    limits: dict[str, Any] = {}  # cpus, memory_mb, pids, timeouts as applied
    gateway: ModelSource | None = None
    owner: Owner | None = None
    notes: list[str] = []  # truncations, warnings: what a reader should know


class ResultRecord(Record):
    """result.json: everything a report needs about one attempt, nothing it must re-derive."""

    KIND: ClassVar[str] = "result"
    kind: Literal["result"] = "result"
    run_id: str
    job_id: str
    benchmark: str
    task: str
    agent: str
    agent_version: str | None = None
    model: str | None = None
    attempt: int = 1
    status: Status
    fault: Fault | None = None
    reward: float | None = None  # the primary reward: rewards["reward"], else their mean
    rewards: dict[str, float] = {}  # named metrics as the verifier wrote them
    passed: bool = False
    message: str = ""
    agent_exit_code: int | None = None
    verifier_exit_code: int | None = None
    agent_stderr_tail: str = ""
    tokens: Tokens = Tokens()
    timings: dict[str, float] = {}  # setup, agent, verifier, cleanup, total (seconds)
    started_at: str | None = None
    finished_at: str | None = None
    rescored_at: str | None = None  # set on a re-score's result


class TaskSummary(_Model):
    task: str
    attempts: int
    status: Status | None = None  # the newest attempt's status
    n_passed: int = 0  # attempts that passed (pass@k's c)
    pass_at_k: dict[str, float] = {}  # "1", "k" -> unbiased estimate
    reward: float | None = None  # mean of the scored attempts' primary reward
    rewards: dict[str, float] = {}  # mean of each named metric over scored attempts
    fault: Fault | None = None
    tokens: Tokens = Tokens()
    seconds: float = 0.0
    rescored: bool = False


class SummaryRecord(Record):
    """summary.json: a job at a glance (written at the end of a job, and by `report`)."""

    KIND: ClassVar[str] = "summary"
    kind: Literal["summary"] = "summary"
    job_id: str
    benchmark: str
    agent: str
    model: str | None = None
    n_tasks: int
    attempts: int
    counts: dict[str, int] = {}  # status -> attempts
    pass_rate: float | None = None  # passed / scored attempts
    pass_at_k: dict[str, float] = {}  # mean over tasks
    reward: float | None = None
    metrics: dict[str, float] = {}  # mean of each named metric
    scored: int = 0
    errored: int = 0
    missing: int = 0  # tasks with no result yet
    faults: dict[str, int] = {}  # fault kind -> count
    tokens: Tokens = Tokens()
    seconds: float = 0.0
    tasks: list[TaskSummary] = []
    provenance: dict[str, Any] = {}


class GateCheck(_Model):
    name: str
    ok: bool
    value: float | None = None
    limit: float | None = None
    message: str = ""


class GateRecord(Record):
    """gate.json: a job compared with a baseline, paired per task."""

    KIND: ClassVar[str] = "gate"
    kind: Literal["gate"] = "gate"
    job: str
    baseline: str | None = None
    metric: str = "reward"
    passed: bool
    checks: list[GateCheck] = []
    warnings: list[str] = []


class BundleTaskEntry(_Model):
    eval_target: str  # the bake target of the task's eval image
    fixture: str | None = None  # fixtures/<task>, the replay fixture the bundle holds
    recorded: dict[str, Any] | None = None  # status, reward, model of the bundled run


class BundleManifest(Record):
    """A bundle's manifest.json: where it came from, its tasks, how to rebuild its images,
    and the sha256 of every other file in it (bakectl.bundle)."""

    KIND: ClassVar[str] = "bakectl-bundle"
    SORTED: ClassVar[bool] = True
    kind: Literal["bakectl-bundle"] = "bakectl-bundle"
    bakectl_version: str
    git_commit: str | None = None
    created_at: str  # the run's started_at, or SOURCE_DATE_EPOCH / the last commit's time
    command: list[str]  # the bundle command line, its output directory as "<bundle>"
    source: dict[str, Any] = {}  # {"kind": "job", "job_id": ...} or the catalog selection
    benchmark: dict[str, Any]  # the benchmark descriptor (BenchmarkSpec)
    agent: dict[str, Any]  # the agent descriptor (AgentSpec)
    registry: str = "bakectl"
    tasks: dict[str, BundleTaskEntry]
    gateway_target: str = "gateway"
    rebuild: str  # the bake command that rebuilds the images, from the bundle directory
    environment: dict[str, Any] = {}  # variable names; values only with --capture-env
    warnings: list[str] = []
    files: dict[str, str] = {}  # path -> sha256 of every file but this one


RecordT = TypeVar("RecordT", bound=Record)

ALL_RECORDS: tuple[type[Record], ...] = (
    JobRecord,
    RunRecord,
    ResultRecord,
    SummaryRecord,
    GateRecord,
    BundleManifest,
)


def register(model: type[RecordT]) -> type[RecordT]:
    """Records defined elsewhere (the bundle manifest) join the schema set."""
    global ALL_RECORDS
    if model not in ALL_RECORDS:
        ALL_RECORDS = (*ALL_RECORDS, model)
    return model


def write_record(path: Path, record: Record) -> None:
    if record.SORTED:
        text = json.dumps(
            record.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False
        )
    else:
        text = record.model_dump_json(indent=2)
    write_atomic(path, text + "\n")


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename it: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_record(path: Path, model: type[RecordT]) -> RecordT:
    """The one reader: refuses other kinds and versions with an error naming both."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such file", f"is {path.parent} a bakectl job directory?"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}", "check the path") from None
    return parse_record(raw, model, str(path))


def parse_record(raw: bytes | str, model: type[RecordT], where: str) -> RecordT:
    # The common case in one step (pydantic parses the JSON itself: a report reads 10,000
    # of these); whatever it refuses goes the careful way below, which names the problem.
    try:
        record = model.model_validate_json(raw)
        if record.schema_version == SCHEMA_VERSION:
            return record
    except ValidationError:
        pass
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise UsageError(
            f"{where}: not valid JSON ({exc})", "the file is damaged; rerun what wrote it"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{where}: not a bakectl {model.KIND} record", _hint(model))
    kind, version = data.get("kind"), data.get("schema_version")
    if kind != model.KIND:
        raise UsageError(
            f"{where}: a record of kind {kind!r}, expected {model.KIND!r}", _hint(model)
        )
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{where}: {model.KIND} record schema_version {version!r}; this bakectl reads "
            f"version {SCHEMA_VERSION}",
            "use the bakectl version that wrote it, or rerun the job",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(
            f"{where}: {model.KIND} record field {loc}: {first['msg']}",
            "the file is damaged or hand-edited; rerun what wrote it",
        ) from None


def _hint(model: type[Record]) -> str:
    return f"bakectl reads {model.KIND}.json files that bakectl wrote"


# -- rewards --------------------------------------------------------------------------------

Rewards = Annotated[dict[str, float], Field()]


def primary_reward(rewards: dict[str, float]) -> float | None:
    """Harbor's convention: the metric named `reward`, else the mean of all metrics."""
    if not rewards:
        return None
    if "reward" in rewards:
        return rewards["reward"]
    return sum(rewards.values()) / len(rewards)


def is_pass(reward: float | None) -> bool:
    return reward is not None and math.isfinite(reward) and reward >= PASS_THRESHOLD


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from n attempts of which c passed
    (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed as a stable product."""
    if k <= 0 or n <= 0 or k > n:
        raise ValueError(f"pass@k needs 0 < k <= n (n={n}, k={k})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


# -- schemas --------------------------------------------------------------------------------


def schemas() -> dict[str, dict[str, Any]]:
    """{file name: JSON Schema} for every record, as checked in under docs/schemas/."""
    return {f"{m.KIND}.schema.json": m.model_json_schema() for m in ALL_RECORDS}


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = folder / name
        write_atomic(path, json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m bakectl.results.records docs/schemas
    import sys

    for p in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(p)
