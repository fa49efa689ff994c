"""A run before it runs: options, the validated spec (names, images, limits), the result.

`prepare` checks the input and creates nothing; bad input raises UsageError
there, before any file or docker object exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from bakectl.catalog import Agent, Benchmark, Task
from bakectl.catalog.models import RESERVED_ENV
from bakectl.engine import containers as ops
from bakectl.errors import BakectlError, UsageError
from bakectl.render.renderer import ImageTarget, Renderer
from bakectl.results.records import Fault, ResultRecord
from bakectl.results.rundir import RunDir, new_run_id
from bakectl.runner.gateway_ctl import GatewayConfig

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass
class RunOptions:
    model: str | None = None
    gateway: GatewayConfig | None = None  # None: no gateway, the agent gets no model URL
    timeout_sec: float | None = None  # overrides task.toml [agent].timeout_sec
    out_dir: Path = Path("runs")
    build: bool = True  # build missing images; False: UsageError naming them
    dry_run: bool = False  # print every command, run nothing that changes state
    run_id: str | None = None  # default: new_run_id(...)
    echo: TextIO | None = field(default_factory=lambda: sys.stderr)  # where `$ cmd` lines go
    # Set by a batch on Ctrl-C: a run stops at its next phase boundary (no verifier
    # on a killed agent) and cleans up; it is a worker thread, so no signal reaches it.
    cancel: threading.Event | None = None
    run_dir: Path | None = None  # default: out_dir/run_id (a job's attempt-<k>/)
    job_id: str = ""  # the job this run is an attempt of
    attempt: int = 1


@dataclass
class TaskResult:
    """One attempt's outcome as the runner hands it on: its ResultRecord (None under
    --dry-run) and where it lives."""

    run_id: str
    benchmark: str
    task: str
    agent: str
    model: str | None
    status: str  # passed | failed | timeout | error | invalid  ("dry-run" under --dry-run)
    reward: float | None
    passed: bool
    message: str
    run_dir: Path | None
    duration_sec: float
    record: ResultRecord | None = None

    @classmethod
    def of(cls, record: ResultRecord, run_dir: Path | None) -> TaskResult:
        return cls(
            run_id=record.run_id,
            benchmark=record.benchmark,
            task=record.task,
            agent=record.agent,
            model=record.model,
            status=record.status,
            reward=record.reward,
            passed=record.passed,
            message=record.message,
            run_dir=run_dir,
            duration_sec=record.timings.get("total", 0.0),
            record=record,
        )

    @property
    def fault(self) -> Fault | None:
        return self.record.fault if self.record else None

    def to_json(self) -> dict:
        if self.record is not None:
            return {**self.record.model_dump(mode="json"), "run_dir": str(self.run_dir or "")}
        data = asdict(self)
        data.pop("record")
        data["run_dir"] = str(self.run_dir) if self.run_dir else None
        return data

    def line(self) -> str:
        """arith/1 x oracle: passed reward=1.0 (12.3s) -> runs/<id>"""
        out = f"{self.benchmark}/{self.task} x {self.agent}: {self.status}"
        if self.reward is not None:
            out += f" reward={_fmt(self.reward)}"
        if self.fault is not None and self.status == "error":
            out += f" [{self.fault.kind}: {self.message}]"
        elif self.message:  # a timeout, an agent's non-zero exit beside a score
            out += f" [{self.message}]"
        out += f" ({self.duration_sec:.1f}s)"
        if self.run_dir:
            out += f" -> {_display(self.run_dir)}"
        return out


@dataclass
class RunSpec:
    """A validated run, before anything is created."""

    benchmark: Benchmark
    task: Task
    agent: Agent
    eval_image: ImageTarget
    gateway_image: ImageTarget | None
    options: RunOptions
    run_id: str
    names: ops.Names
    dir: RunDir
    agent_timeout: float
    verifier_timeout: float
    cpus: float
    warnings: list[str] = field(default_factory=list)
    # role (eval, base) -> the exact image to run: a re-score runs the attempt's own images
    pinned: dict[str, str] = field(default_factory=dict)

    @property
    def eval_ref(self) -> str:
        return self.pinned.get("eval") or self.eval_image.image

    @property
    def base_ref(self) -> str | None:
        """The task's environment image (its ENTRYPOINT, USER, WORKDIR); None when a
        pinned eval image ran without one recorded (a run before run.json kept it)."""
        if self.pinned:
            return self.pinned.get("base")
        return self.eval_image.deps[0].image if self.eval_image.deps else self.eval_image.image

    @property
    def targets(self) -> list[ImageTarget]:
        return [self.eval_image] + ([self.gateway_image] if self.gateway_image else [])


def _fmt(reward: float) -> str:
    text = f"{reward:.4g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _display(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


# -- preparing ------------------------------------------------------------------------------


def check_timeout(timeout_sec: float | None) -> None:
    if timeout_sec is not None and timeout_sec <= 0:
        raise UsageError(f"--timeout {timeout_sec:g} must be above 0", "e.g. --timeout 600")


class FixtureCorrupt(BakectlError):
    """A replay fixture whose provenance.json does not parse: the run is an error
    (fault fixture_corrupt), never a replay that silently misses every request."""


def replay_provenance(options: RunOptions) -> dict:
    """provenance.json of the fixture a replaying run answers from; {} when there is
    none or the run does not replay. FixtureCorrupt when it does not parse."""
    from bakectl.gateway import FixtureError, read_provenance

    gateway = options.gateway
    if gateway is None or gateway.mode != "replay" or gateway.fixture is None:
        return {}
    try:
        return read_provenance(gateway.fixture)
    except FixtureError as exc:
        raise FixtureCorrupt(
            f"replay fixture {gateway.fixture}: {exc.message}",
            "re-record the fixture, or restore its provenance.json",
        ) from None


def with_recorded_model(options: RunOptions, provenance: dict) -> RunOptions:
    """Replay is strict on the model too: without --model, the one the fixture recorded."""
    model = provenance.get("model")
    if options.model is None and isinstance(model, str):
        return dataclasses.replace(options, model=model)
    return options


class FixtureMismatch(UsageError):
    """--replay of a fixture recorded for another benchmark, task or agent: bad input that
    refuses the whole job (exit 2), not one task's `invalid`."""


def check_fixture_matches(
    provenance: dict, fixture: Path | None, benchmark: str, task: str, agent: str
) -> None:
    """A fixture recorded for another benchmark, task or agent would only miss: say which."""
    wanted = {"benchmark": benchmark, "task": task, "agent": agent}
    for what, value in wanted.items():
        recorded = provenance.get(what)
        if recorded is not None and str(recorded) != value:
            raise FixtureMismatch(
                f"--replay {fixture}: recorded for {what} {recorded!r}, this run is {what} "
                f"{value!r}",
                f"replay the fixture of {benchmark}/{task} x {agent}, or record one with "
                "--record DIR --upstream URL",
            )


def prepare(
    renderer: Renderer, benchmark: str, task_id: str, agent: str, options: RunOptions
) -> RunSpec:
    """Validate the input and resolve images and names; creates nothing."""
    catalog = renderer.catalog
    bench = catalog.benchmark(benchmark)
    task = catalog.task(benchmark, task_id)
    ag = catalog.agent(agent)
    if ag.spec.needs_solution and not (task.solution_dir / "solve.sh").is_file():
        raise UsageError(
            f"agent {agent!r} needs the task's solution, but {task.solution_dir}/solve.sh is missing",
            "add solution/solve.sh to the task, or run another agent",
        )
    provenance = replay_provenance(options)
    if provenance:
        check_fixture_matches(provenance, options.gateway.fixture, bench.name, task.id, ag.name)
        options = with_recorded_model(options, provenance)
    return assemble_spec(
        bench,
        task,
        ag,
        renderer.eval(bench, ag, task),
        renderer.gateway() if options.gateway else None,
        options,
    )


def assemble_spec(
    bench: Benchmark,
    task: Task,
    agent: Agent,
    eval_image: ImageTarget,
    gateway_image: ImageTarget | None,
    options: RunOptions,
    warnings: Sequence[str] = (),
) -> RunSpec:
    """The checks and limits every run shares, wherever its task came from (the
    catalog, or a bundle): timeout, run id and directory, CPUs, warnings."""
    check_timeout(options.timeout_sec)
    run_id = options.run_id or new_run_id(bench.name, task.id, agent.name)
    if not _RUN_ID_RE.match(run_id):
        raise UsageError(f"run id {run_id!r} is not a valid docker name", "use [A-Za-z0-9_.-]")
    rd = RunDir(options.run_dir or options.out_dir.resolve() / run_id)
    if rd.root.exists():
        raise UsageError(f"run directory {rd.root} already exists", "pick another run id or --out")
    env_limits = task.spec.environment
    notes = list(warnings)
    cpus = env_limits.cpus
    host_cpus = os.cpu_count() or 1
    if cpus > host_cpus:
        notes.append(f"task asks for {cpus:g} CPUs; this host has {host_cpus}, using that")
        cpus = float(host_cpus)
    from bakectl.runner.task_checks import check_runnable, task_notes

    check_runnable(task)
    notes += task_notes(task)
    for name in agent.spec.env:
        if name in RESERVED_ENV:
            notes.append(
                f"agent.yaml env {name!r} is set by the runner; the host value is not passed"
            )
    return RunSpec(
        benchmark=bench,
        task=task,
        agent=agent,
        eval_image=eval_image,
        gateway_image=gateway_image,
        options=options,
        run_id=run_id,
        names=ops.Names(run_id),
        dir=rd,
        agent_timeout=options.timeout_sec or task.spec.agent.timeout_sec,
        verifier_timeout=task.spec.verifier.timeout_sec,
        cpus=cpus,
        warnings=notes,
    )


def _build_hint(renderer: Renderer, t: ImageTarget) -> str:
    if t.kind != "eval":
        return "drop --no-build and bakectl builds it first"
    labels = t.labels
    cmd = f"bakectl build eval {labels['dev.bakectl.benchmark']} --agent {labels['dev.bakectl.agent']}"
    if "dev.bakectl.task" in labels:
        cmd += f" --task-id {labels['dev.bakectl.task']}"
    if renderer.vars.get("REGISTRY", "bakectl") != "bakectl":
        cmd += f" --registry {renderer.vars['REGISTRY']}"
    return f"build it: {cmd} (or drop --no-build)"


def ensure_images(
    renderer: Renderer, targets: list[ImageTarget], *, build: bool, dry_run: bool = False
) -> None:
    """Build the images that are missing (one bake graph), or fail naming them."""
    from bakectl.engine.build import Builder, BuildOptions

    builder = Builder(renderer, BuildOptions(dry_run=dry_run))
    missing = builder.missing(targets)
    if not missing:
        return
    if not build:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UsageError(
            f"image {missing[0].image} is not built{more}", _build_hint(renderer, missing[0])
        )
    builder.build_missing(missing)


# -- running --------------------------------------------------------------------------------
