"""Score again what a job kept, without running the agent: `bakectl score JOB`.

    results = rescore_path(catalog, Path("runs/<job_id>"))     # or one attempt directory
    for r in results: print(r.line())

For each attempt (tasks/<task>/attempt-<k>/ of the job, every k: each is its own sample
of pass@k), the verifier runs as `run` would have run it after the agent, through the
same RunPlan (runner.phases.verify_kept): the attempt's eval image (run.json
`images.eval`, by image id when the store still has it, else by ref) started as the task
image defines it (`images.base`: its ENTRYPOINT, USER, WORKDIR; a keep-alive, an init,
its healthcheck and sidecars, on a run network as the task asks), its `artifacts/` copied
over the workdir (files the agent deleted stay deleted) and its declared artifacts back at
their paths, then the task's [verifier] environment_mode: shared (Harbor's default: the
task's CURRENT tests/ copied to /tests, writable, `docker exec` as the verifier user with
[verifier] env; a scorer fix needs no new agent run), separate (the verifier's own image,
only artifacts cross) or snapshot. The new result goes BESIDE the old one, never over
it; report and gate count the newest:

    attempt-<k>/rescore-<UTC timestamp>/
      result.json   a ResultRecord (rescored_at set), its status from verdict.decide
      run.json      a RunRecord: the image, every command, timings, exit code
      score.json    the named rewards, their source file, the tests' hash
      verifier/container.log, verifier/logs/

The status is decided again by `verdict.decide` over the new verifier result, with what
the re-score cannot change carried over: an agent timeout, and a fault of the run that is
not the verifier's (a replay miss stays an error: its artifacts are not the agent's work).
An engine that does not answer is said so (exit 1), never reported as a missing image.

Every container and network is labelled dev.bakectl.run=<rescore id> and removed when
scoring ends, on errors and Ctrl-C too. `verify_kept_work` is the shared piece: the local
command runner (bakectl.runner.local, --agent-cmd) scores with it as well.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bakectl.catalog import Benchmark, Task
from bakectl.catalog.models import Agent, AgentSpec
from bakectl.engine import containers as ops
from bakectl.engine.plan import Step
from bakectl.errors import BakectlError, UsageError
from bakectl.render.hashing import hash_tree
from bakectl.results.records import (
    CommandRecord,
    Fault,
    ImageRef,
    JobRecord,
    ResultRecord,
    RunRecord,
    Tokens,
    is_pass,
    primary_reward,
    read_record,
    write_record,
)
from bakectl.results.report import check_path, find_one_job, newest_result
from bakectl.results.rundir import RunDir, read_rewards, write_json
from bakectl.results.verdict import AgentSeen, VerifierSeen, decide
from bakectl.signals import sigterm_interrupts

if TYPE_CHECKING:
    from bakectl.runner.spec import RunSpec

RESCORE_PREFIX = "rescore-"


# -- the verifier over kept work -----------------------------------------------------------


@dataclass
class Verification:
    reward: float | None = None  # the primary reward
    rewards: dict[str, float] = field(default_factory=dict)  # named, as the verifier wrote them
    problem: str = ""  # why there is no reward (or an error that stopped scoring)
    bad_reward: bool = False  # a reward file was written but does not parse
    fault: Fault | None = None  # what stopped it: a timeout, an environment that never started
    exit_code: int | None = None
    seconds: float = 0.0
    images: dict[str, dict] = field(default_factory=dict)  # role -> {"ref", "id"} as it ran

    @property
    def error(self) -> str:
        return self.fault.message if self.fault else ""


def kept_work_spec(
    bench: Benchmark,
    task: Task,
    agent: str,
    run_id: str,
    root: Path,
    images: dict[str, str],
    *,
    cpus: float | None = None,
    echo: TextIO | None = sys.stderr,
    dry_run: bool = False,
) -> RunSpec:
    """The RunSpec of a verifier over kept work, with `images` pinned ({"eval": ref, "base":
    ref}: the attempt's own images; no "base" for a run that did not record it). The agent
    is its name alone: it does not run, and no solution is mounted."""
    from bakectl.runner.spec import RunOptions, RunSpec

    options = RunOptions(
        out_dir=root.parent, run_id=run_id, run_dir=root, echo=echo, dry_run=dry_run
    )
    task_cpus = task.spec.environment.cpus
    return RunSpec(
        benchmark=bench,
        task=task,
        agent=Agent(spec=AgentSpec(name=agent), dir=task.dir),
        eval_image=_pinned_target(images["eval"]),
        gateway_image=None,
        options=options,
        run_id=run_id,
        names=ops.Names(run_id),
        dir=RunDir(root),
        agent_timeout=task.spec.agent.timeout_sec,
        verifier_timeout=task.spec.verifier.timeout_sec,
        cpus=min(cpus or task_cpus, float(os.cpu_count() or 1)),
        pinned=images,
    )


def _pinned_target(ref: str):
    """The ImageTarget slot of a spec whose images are pinned: never built or rendered
    (spec.eval_ref and spec.base_ref answer from the pins)."""
    from bakectl.render.renderer import ImageTarget

    return ImageTarget(
        target="pinned", kind="eval", path=(ref,), digest="", context=Path(), dockerfile_text=""
    )


def verify_kept_work(x: ops.Executor, spec: RunSpec, artifacts: Path) -> Verification:
    """Run the task's verifier over `artifacts` as `run` would have after the agent
    (runner.phases.verify_kept: the task's verifier mode, shared by default); every
    container and network is gone when this returns."""
    from bakectl.runner.phases import RunState, verify_kept

    st = RunState()
    started = time.monotonic()
    for d in (spec.dir.agent_logs, spec.dir.verifier_logs):  # bind-mounted: they must exist
        d.mkdir(parents=True, exist_ok=True)
    try:
        verify_kept(spec, x, st, artifacts)
    finally:
        seconds = round(time.monotonic() - started, 3)
    v = Verification(
        fault=st.fault,
        exit_code=st.exit_codes.get("verifier"),
        seconds=seconds,
        images=st.digests,
    )
    if st.verifier_ran and (st.fault is None or st.fault.kind == "verifier_timeout"):
        v.rewards, v.problem, v.bad_reward = st.rewards, st.reward_problem, st.reward_bad
        v.reward = primary_reward(v.rewards)
    return v


def score_record(logs: Path, reward: float | None, tests: Path) -> dict[str, Any]:
    """score.json: the reward, where it came from, the named scores, which tests made it."""
    source = next((n for n in ("reward.txt", "reward.json") if (logs / n).is_file()), None)
    rewards, _, _ = read_rewards(logs)
    return {
        "reward": reward,
        "passed": is_pass(reward),
        "source": source,
        "scores": rewards or None,
        "tests_sha256": hash_tree(tests),
    }


# -- finding the attempts of a job ------------------------------------------------------------


def _run_of(attempt: Path) -> RunRecord:
    return read_record(attempt / "run.json", RunRecord)


def task_runs(path: Path, tasks: list[str] | None = None) -> list[Path]:
    """The attempt directories to score: every attempt-<k>/ with a run.json of the job's
    tasks (or of `tasks`), or PATH itself when it is one attempt directory."""
    path = Path(path)
    check_path(path)
    if (path / "run.json").is_file() and not (path / "job.json").is_file():
        run = _run_of(path)
        if tasks and run.task not in tasks:
            raise UsageError(
                f"{path} is an attempt of task {run.task!r}, not {', '.join(tasks)}",
                "drop --tasks for one attempt directory",
            )
        return [path]
    job_dir = find_one_job(path)
    job = read_record(job_dir / "job.json", JobRecord)
    wanted = tasks if tasks is not None else job.task_ids
    unknown = [t for t in wanted if t not in job.task_ids]
    if unknown:
        raise UsageError(
            f"job {job_dir} has no task {', '.join(unknown)}",
            f"its tasks: {', '.join(job.task_ids[:20]) or 'none'}",
        )
    found: list[Path] = []
    for task in wanted:
        for k in range(1, job.attempts + 1):
            attempt = job_dir / "tasks" / task / f"attempt-{k}"
            if (attempt / "run.json").is_file():
                found.append(attempt)
    if not found:
        raise UsageError(f"job {job_dir} holds no attempt yet", "wait for the job to run")
    return found


# -- rescoring --------------------------------------------------------------------------------


@dataclass
class Rescore:
    run_dir: Path
    out_dir: Path | None
    benchmark: str
    task: str
    agent: str
    old_status: str | None
    old_reward: float | None
    attempt: int = 1
    status: str = "error"
    reward: float | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return (self.old_status, self.old_reward) != (self.status, self.reward)

    def line(self) -> str:
        """arith/1#2 x oracle: passed 1 -> failed 0 (changed) -> runs/<job>/.../rescore-.../"""

        def cell(status: str | None, reward: float | None) -> str:
            return f"{status or '-'}" + (f" {reward:g}" if reward is not None else "")

        which = f"#{self.attempt}" if self.attempt > 1 else ""
        out = f"{self.benchmark}/{self.task}{which} x {self.agent}: "
        out += f"{cell(self.old_status, self.old_reward)} -> {cell(self.status, self.reward)}"
        if self.changed:
            out += " (changed)"
        if self.message and self.status not in ("passed", "failed"):
            out += f" [{self.message}]"
        if self.out_dir is not None:
            out += f" -> {self.out_dir}"
        return out


def _rescore_dir(run_dir: Path, now: datetime) -> Path:
    base = RESCORE_PREFIX + now.strftime("%Y%m%dT%H%M%SZ")
    cand, n = run_dir / base, 1
    while cand.exists():
        n += 1
        cand = run_dir / f"{base}-{n}"
    return cand


ENGINE_VERSION = Step(("docker", "version", "--format", "{{.Server.Version}}"), mutates=False)


def engine_down(x: ops.Executor) -> str | None:
    """Why the engine does not answer (its own words), None when it does."""
    res = x(ENGINE_VERSION, phase="setup", record=False, timeout=30)
    return None if res.ok else res.last_error_line()


def _engine_error(why: str) -> BakectlError:
    """The one way bakectl says the engine is down (engine.docker.engine_error)."""
    from bakectl.engine.docker import engine_error

    return engine_error(why)


def _pick_image(x: ops.Executor, images: dict[str, ImageRef], key: str) -> str | None:
    """The exact image that ran (by id) if the store still has it, else its ref."""
    ev = images.get(key)
    if ev is None:
        return None
    for cand in (ev.id, ev.ref):
        if cand and x(ops.image_id(cand), phase="setup", record=False).ok:
            return cand
    return None


def _carried_fault(old: ResultRecord | None) -> Fault | None:
    """A fault of the run that a new verifier cannot undo (not the verifier's own)."""
    if old is None or old.fault is None:
        return None
    if old.fault.kind.startswith("verifier_") or old.fault.kind == "agent_timeout":
        return None
    return old.fault


def rescore_run(catalog, run_dir: Path, *, echo: TextIO | None = sys.stderr) -> Rescore:
    """Score one attempt directory again with the task's current tests/."""
    run_dir = Path(run_dir).resolve()
    run = _run_of(run_dir)
    old_path, _ = newest_result(run_dir)
    old = read_record(Path(old_path), ResultRecord) if old_path is not None else None
    bench = catalog.benchmark(run.benchmark)
    task = catalog.task(run.benchmark, run.task)
    rs = Rescore(
        run_dir=run_dir,
        out_dir=None,
        benchmark=run.benchmark,
        task=run.task,
        agent=run.agent,
        attempt=run.attempt,
        old_status=old.status if old else None,
        old_reward=old.reward if old else None,
    )
    artifacts = RunDir(run_dir).artifacts
    x = ops.Executor(echo=echo)
    # A local run (--agent-cmd, bakectl.runner.local) is scored in its task image.
    local = "eval" not in run.images and "verifier" in run.images
    key = "verifier" if local else "eval"
    image = _pick_image(x, run.images, key)
    if image is None:
        why = engine_down(x)
        if why is not None:
            raise _engine_error(why)
        ref = run.images[key].ref if key in run.images else None
        raise UsageError(
            f"{run_dir}: its eval image {ref or '(not recorded)'} is not in docker's store",
            f"build it again: bakectl build eval {run.benchmark} --agent {rs.agent}"
            + ("" if bench.shared else f" --task-id {run.task}"),
        )
    if not artifacts.is_dir() or "agent" not in run.exit_codes:
        raise UsageError(
            f"{run_dir}: its agent never ran, so it kept no artifacts to score",
            "run the task again: bakectl run ...",
        )
    started_at = datetime.now(UTC)
    out = _rescore_dir(run_dir, started_at)
    rid = f"{run.run_id}-{out.name}"
    # The attempt's own images: its eval image and the task image it was built on (its
    # ENTRYPOINT, USER, WORKDIR); a local run's environment image is both.
    base = run.images.get("base") if not local else run.images[key]
    pins = {"eval": image, **({"base": base.id or base.ref} if base is not None else {})}
    if base is not None and not x(ops.image_id(pins["base"]), phase="setup", record=False).ok:
        pins["base"] = base.ref
    spec = kept_work_spec(
        bench, task, run.agent, rid, out, pins, cpus=run.limits.get("cpus"), echo=echo
    )
    rd = RunDir(out)
    out.mkdir()
    kept = run_dir / "task-artifacts"
    if kept.is_dir():  # the declared artifacts go back where the agent left them
        shutil.copytree(kept, out / "task-artifacts", symlinks=True)
    v = Verification()
    fault: Fault | None = None
    interrupted = False
    try:
        with sigterm_interrupts():
            v = verify_kept_work(x, spec, artifacts)
    except KeyboardInterrupt:
        interrupted = True
        fault = Fault.of("interrupted", "interrupted during the re-score")
    except BakectlError as exc:
        fault = Fault.of("engine", exc.message)
    if fault is None and v.fault is not None:
        if v.fault.kind == "verifier_timeout":
            verifier = VerifierSeen(timed_out=True, exit_code=v.exit_code)
        else:
            why = engine_down(x)
            fault = Fault.of("engine_unreachable", why) if why else v.fault
            verifier = None
    else:
        verifier = VerifierSeen(
            rewards=v.rewards,
            reward=v.reward,
            problem=v.problem,
            bad_reward=v.bad_reward,
            exit_code=v.exit_code,
        )
    timed_out = old is not None and old.status == "timeout"
    agent = AgentSeen(
        exit_code=run.exit_codes.get("agent"),
        timed_out=timed_out,
        timeout_sec=run.limits.get("agent_timeout_sec"),
        stderr_tail=old.agent_stderr_tail if old else "",
    )
    verdict = decide(agent=agent, verifier=verifier, fault=fault or _carried_fault(old))
    finished = datetime.now(UTC)
    rs.status, rs.message, rs.reward, rs.out_dir = verdict.status, verdict.message, v.reward, out
    # The re-score's identity, the same in its run.json and its result.json.
    who = dict(
        run_id=rid,
        job_id=run.job_id,
        benchmark=run.benchmark,
        task=run.task,
        agent=run.agent,
        attempt=run.attempt,
    )
    write_record(
        rd.run_json,
        RunRecord(
            **who,
            images={
                role: ImageRef(ref=d["ref"], id=d.get("id"))
                for role, d in v.images.items()
                if d.get("ref")
            }
            or {"verifier": ImageRef(ref=image)},
            commands=[
                CommandRecord(line=c["command"], exit_code=c["exit_code"], seconds=c["seconds"])
                for c in x.records
            ],
            exit_codes={"verifier": v.exit_code},
            timings={"verifier": v.seconds},
            limits=run.limits,
            notes=[f"a re-score of {run.run_id} with the tests at {task.tests_dir}"],
        ),
    )
    write_record(
        rd.result_json,
        ResultRecord(
            **who,
            agent_version=old.agent_version if old else None,
            model=old.model if old else None,
            status=verdict.status,
            fault=verdict.fault,
            reward=v.reward if verdict.status != "error" else None,
            rewards=v.rewards if verdict.status != "error" else {},
            passed=verdict.status == "passed",
            message=verdict.message,
            agent_exit_code=run.exit_codes.get("agent"),
            verifier_exit_code=v.exit_code,
            agent_stderr_tail=old.agent_stderr_tail if old else "",
            tokens=old.tokens if old else Tokens(),
            # What the attempt cost stays its own; the re-score's time is beside it.
            timings={**(old.timings if old else {}), "rescore": v.seconds},
            started_at=started_at.isoformat(timespec="seconds"),
            finished_at=finished.isoformat(timespec="seconds"),
            rescored_at=finished.isoformat(timespec="seconds"),
        ),
    )
    write_json(out / "score.json", score_record(rd.verifier_logs, v.reward, task.tests_dir))
    if interrupted:
        raise KeyboardInterrupt
    return rs


def rescore_path(
    catalog,
    path: Path,
    tasks: list[str] | None = None,
    *,
    echo: TextIO | None = sys.stderr,
    on_row=None,
) -> list[Rescore]:
    """Rescore one attempt directory, or every attempt of a job. In a job, an attempt that
    cannot be rescored (its image is gone, its task left the catalog) is an error row and
    the others go on; a single attempt raises instead. An engine that does not answer
    stops it all (exit 1)."""
    runs = task_runs(path, tasks)
    out: list[Rescore] = []
    for run_dir in runs:
        try:
            rs = rescore_run(catalog, run_dir, echo=echo)
        except UsageError as exc:
            if len(runs) == 1:
                raise
            run = _run_of(run_dir)
            rs = Rescore(
                run_dir=run_dir,
                out_dir=None,
                benchmark=run.benchmark,
                task=run.task,
                agent=run.agent,
                attempt=run.attempt,
                old_status=None,
                old_reward=None,
                message=exc.message,
            )
        out.append(rs)
        if on_row is not None:
            on_row(rs)
    return out
