"""One task x one agent: network, gateway, agent phase, verifier phase, run directory.

    result = run_task(renderer, "arith", "1", "oracle", RunOptions(out_dir=Path("runs")))

Faults become a status, not an exception: an image that cannot start, an agent
that times out, a verifier that writes no reward, a gateway that dies. Bad
input raises UsageError before anything is written. Whatever a run creates
(containers, networks, the snapshot image) is removed in `finally`, on
errors and on Ctrl-C/SIGTERM too. No global state: a batch runner may call
run_task from several threads (build images first with `ensure_images`,
then pass build=False).

Statuses: passed (reward >= 1.0), failed (scored below 1.0), timeout (the
agent hit its limit and was killed; the verifier still scores what it left,
`reward` says how far it got, `passed` is false), error (the run could not be
scored: an image that cannot start, a gateway that stopped, no reward, a
verifier timeout, Ctrl-C). The first fault found is the message.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from bakectl import __version__
from bakectl.engine import containers as ops
from bakectl.errors import BakectlError
from bakectl.render.renderer import Renderer
from bakectl.results.rundir import write_json
from bakectl.runner.gateway_ctl import annotate_fixture
from bakectl.runner.phases import (
    DryExecutor,
    RunState,
    after_agent,
    agent_phase,
    cleanup,
    setup,
    verdict,
    verifier_phase,
)
from bakectl.runner.spec import RunOptions, RunSpec, TaskResult, ensure_images, prepare
from bakectl.signals import signals_deferred, sigterm_interrupts

__all__ = ["RunOptions", "TaskResult", "ensure_images", "execute", "prepare", "run_task"]


def execute(spec: RunSpec) -> TaskResult:
    """Run a prepared task: every docker object it makes is gone when this returns."""
    o = spec.options
    if o.dry_run:
        x: ops.Executor = DryExecutor(echo=sys.stdout)
    else:
        x = ops.Executor(echo=o.echo)
        spec.dir.create(gateway=o.gateway is not None)
        if o.gateway:
            o.gateway.prepare_host()
    for w in spec.warnings:
        if x.echo is not None:
            print(f"bakectl: warning: {w}", file=sys.stderr if o.dry_run else x.echo)
    st = RunState()
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    interrupted = False
    with sigterm_interrupts():
        try:
            if setup(spec, x, st):
                st.timings["setup"] = round(time.monotonic() - t0, 3)
                _check_cancel(o)
                agent_phase(spec, x, st)
                after_agent(spec, x, st)
                _check_cancel(o)
                if st.agent_started:
                    verifier_phase(spec, x, st)
            elif spec.names.gateway in st.containers:
                log = spec.dir.gateway / "gateway.log"
                x(ops.logs(spec.names.gateway), phase="setup", output=log)
        except _Cancelled:
            st.fail("interrupted")  # a batch's Ctrl-C, seen in this worker thread
        except KeyboardInterrupt:
            interrupted = True
            st.fail("interrupted")
        except BakectlError as exc:
            st.fail(exc.message)
        finally:
            with signals_deferred():
                cleanup(spec, x, st)
                result = _finish(spec, st, x, started_at, time.monotonic() - t0)
    if interrupted:
        raise KeyboardInterrupt
    return result


class _Cancelled(Exception):
    pass


def _check_cancel(o: RunOptions) -> None:
    if o.cancel is not None and o.cancel.is_set():
        raise _Cancelled


def _finish(
    spec: RunSpec, st: RunState, x: ops.Executor, started_at: datetime, seconds: float
) -> TaskResult:
    o = spec.options
    status, message = verdict(spec, st)
    if o.dry_run:
        status, message = "dry-run", ""
    result = TaskResult(
        run_id=spec.run_id,
        benchmark=spec.benchmark.name,
        task=spec.task.id,
        agent=spec.agent.name,
        model=o.model,
        status=status,
        reward=st.reward,
        passed=status == "passed",
        message=message,
        run_dir=None if o.dry_run else spec.dir.root,
        duration_sec=seconds,
    )
    if o.dry_run:
        return result
    st.timings["total"] = round(seconds, 3)
    if o.gateway is not None and st.agent_started:
        problem = annotate_fixture(
            o.gateway,
            spec.dir.gateway,
            bakectl_version=__version__,
            benchmark=spec.benchmark.name,
            task=spec.task.id,
            agent=spec.agent.name,
            agent_version=spec.agent.spec.version,
            data_revision=spec.benchmark.spec.version,
            image_digests={k: v["id"] for k, v in st.digests.items() if k != "snapshot"},
            reward=st.reward,
            model=o.model,
        )
        if problem:
            spec.warnings.append(problem)
    write_json(
        spec.dir.run_json,
        {
            "run_id": spec.run_id,
            "bakectl_version": __version__,
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "benchmark": spec.benchmark.name,
            "task": spec.task.id,
            "agent": spec.agent.name,
            "agent_version": spec.agent.spec.version,
            "data_revision": spec.benchmark.spec.version,
            "model": o.model,
            "images": st.digests,
            "gateway": o.gateway.describe() if o.gateway else None,
            "limits": {
                "agent_timeout_sec": spec.agent_timeout,
                "verifier_timeout_sec": spec.verifier_timeout,
                "cpus": spec.cpus,
                "memory_mb": spec.task.spec.environment.memory_mb,
            },
            "commands": x.records,
            "timings": st.timings,
            "exit_codes": st.exit_codes,
            "agent_timed_out": st.agent_timed_out,
            "trace": st.trace.name if st.trace else None,
            "warnings": spec.warnings + st.notes,
            "fault_kind": st.fault_kind or None,
            "status": status,
            "message": message,
        },
    )
    data = result.to_json()
    data.pop("run_dir")
    write_json(spec.dir.result_json, data)
    return result


def run_task(
    renderer: Renderer,
    benchmark: str,
    task_id: str,
    agent: str,
    options: RunOptions | None = None,
) -> TaskResult:
    """Validate, build what is missing (unless options.build is False), run, clean up."""
    options = options or RunOptions()
    spec = prepare(renderer, benchmark, task_id, agent, options)
    ensure_images(renderer, spec.targets, build=options.build, dry_run=options.dry_run)
    return execute(spec)
