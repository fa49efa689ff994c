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

from bakectl import __version__
from bakectl.engine import containers as ops
from bakectl.errors import BakectlError
from bakectl.render.renderer import Renderer
from bakectl.results.records import primary_reward
from bakectl.results.verdict import VerifierSeen, decide
from bakectl.runner.gateway_ctl import annotate_fixture
from bakectl.runner.outcome import (
    AttemptId,
    Ran,
    model_source,
    now_iso,
    seen_agent,
    seen_gateway,
    write_attempt,
)
from bakectl.runner.phases import (
    RunState,
    after_agent,
    agent_phase,
    cleanup,
    setup,
    verifier_phase,
)
from bakectl.runner.spec import RunOptions, RunSpec, TaskResult, ensure_images, prepare
from bakectl.signals import signals_deferred, sigterm_interrupts

__all__ = ["RunOptions", "TaskResult", "ensure_images", "execute", "prepare", "run_task"]


def execute(spec: RunSpec) -> TaskResult:
    """Run a prepared task: every docker object it makes is gone when this returns."""
    o = spec.options
    if o.dry_run:
        x = ops.Executor.dry(sys.stdout)
    else:
        x = ops.Executor(echo=o.echo)
        spec.dir.create(gateway=o.gateway is not None)
        if o.gateway:
            o.gateway.prepare_host()
    for w in spec.warnings:
        if x.echo is not None:
            print(f"bakectl: warning: {w}", file=sys.stderr if o.dry_run else x.echo)
    st = RunState()
    started_at = now_iso()
    t0 = time.monotonic()
    interrupted = False
    with sigterm_interrupts():
        try:
            if setup(spec, x, st):
                st.timings["setup"] = round(time.monotonic() - t0, 3)
                _check_cancel(o, st)
                agent_phase(spec, x, st)
                _seen_cancel(o, st)  # in the agent's phase, before collecting renames it
                after_agent(spec, x, st)
                _check_cancel(o, st)
                if st.agent_started:
                    verifier_phase(spec, x, st)
            elif spec.names.gateway in st.containers:
                log = spec.dir.gateway / "gateway.log"
                x(ops.logs(spec.names.gateway), phase="setup", output=log)
        except _Cancelled:
            pass  # a job's Ctrl-C, seen in this worker thread at a phase boundary
        except KeyboardInterrupt:
            interrupted = True
            st.stopped_in = st.stopped_in or st.phase
        except BakectlError as exc:
            st.fail(exc.message)
        finally:
            with signals_deferred():
                _seen_cancel(o, st)  # e.g. a setup that failed because its container was killed
                if st.stopped_in is not None:
                    st.stopped()
                cleanup(spec, x, st)
                result = _finish(spec, st, x, started_at, time.monotonic() - t0)
    if interrupted:
        raise KeyboardInterrupt
    return result


class _Cancelled(Exception):
    pass


def _seen_cancel(o: RunOptions, st: RunState) -> bool:
    """Whether the job was cancelled; the first time, remember the phase it was seen in
    (the phase the stop cut short: its commands return early once the job's containers
    are killed)."""
    if o.cancel is None or not o.cancel.is_set():
        return False
    if st.stopped_in is None:
        st.stopped_in = st.phase
    return True


def _check_cancel(o: RunOptions, st: RunState) -> None:
    if _seen_cancel(o, st):
        raise _Cancelled


def _finish(
    spec: RunSpec, st: RunState, x: ops.Executor, started_at: str, seconds: float
) -> TaskResult:
    o = spec.options
    who = AttemptId(
        run_id=spec.run_id,
        job_id=o.job_id,
        benchmark=spec.benchmark.name,
        task=spec.task.id,
        agent=spec.agent.name,
        attempt=o.attempt,
        agent_version=spec.agent.spec.version,
        model=o.model,
    )
    if o.dry_run:
        return TaskResult(
            who.run_id,
            who.benchmark,
            who.task,
            who.agent,
            o.model,
            "dry-run",
            None,
            False,
            "",
            None,
            seconds,
        )
    gateway = tokens = None
    if o.gateway is not None and st.agent_started:
        gateway, tokens = seen_gateway(spec.dir.gateway, st.trace)
    agent = seen_agent(
        st.exit_codes.get("agent"), st.agent_timed_out, spec.agent_timeout, spec.dir.agent_output
    )
    verifier = None
    if st.verifier_ran:
        verifier = VerifierSeen(
            rewards=st.rewards,
            reward=primary_reward(st.rewards),
            problem=st.reward_problem,
            bad_reward=st.reward_bad,
            exit_code=st.exit_codes.get("verifier"),
        )
    verdict = decide(agent=agent, verifier=verifier, gateway=gateway, fault=st.fault)
    notes = list(spec.warnings) + st.notes  # the run model's own (artifacts not collected)
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
            reward=primary_reward(st.rewards),
            model=o.model,
        )
        if problem:
            notes.append(problem)
    ran = Ran(
        images=st.digests,
        commands=x.records,
        exit_codes=st.exit_codes,
        timings=st.timings,
        limits={
            "agent_timeout_sec": spec.agent_timeout,
            "verifier_timeout_sec": spec.verifier_timeout,
            "cpus": spec.cpus,
            "memory_mb": spec.task.spec.environment.memory_mb,
        },
        gateway=model_source(o.gateway),
        notes=notes,
        started_at=started_at,
    )
    record = write_attempt(
        spec.dir.root,
        who,
        verdict,
        ran=ran,
        rewards=st.rewards,
        agent=agent,
        verifier_exit_code=st.exit_codes.get("verifier"),
        tokens=tokens,
        seconds=seconds,
    )
    return TaskResult.of(record, spec.dir.root)


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
