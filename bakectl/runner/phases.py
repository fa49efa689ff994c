"""The phases of one run: setup (network, gateway), agent, collect, verifier, cleanup.

Each phase records what it created in `RunState`, so cleanup removes exactly
that, and turns faults into `RunState.error` instead of raising.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from bakectl.engine import containers as ops
from bakectl.results.rundir import read_reward
from bakectl.results.score import Verification, status_of
from bakectl.runner.gateway_ctl import agent_env, collect_trace, wait_healthy
from bakectl.runner.spec import RESERVED_ENV, RunSpec


@dataclass
class RunState:
    """What a run has created and learned so far."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    digests: dict[str, dict] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""
    agent_started: bool = False
    agent_timed_out: bool = False
    reward: float | None = None
    reward_problem: str = ""
    trace: Path | None = None

    def fail(self, message: str) -> None:
        if not self.error:  # the first fault is the cause; later ones follow from it
            self.error = message


class DryExecutor(ops.Executor):
    """Prints every command (read-only ones too) and pretends each succeeded."""

    def __call__(self, step, *, phase, timeout=None, output=None, record=True):
        line = step.shell() + (f" > {output} 2>&1" if output else "")
        if step.note:
            print(f"# {step.note}", file=self.echo)
        print(f"$ {line}", file=self.echo)
        fake = {"wait": "0\n", "container": "running 0\n"}.get(step.argv[1], "")
        return ops.Outcome(step, 0, fake)


def _image_id(x: ops.Executor, ref: str) -> str | None:
    res = x(ops.image_id(ref), phase="setup", record=False)
    return (res.stdout.strip() or None) if res.ok else None


def setup(spec: RunSpec, x: ops.Executor, st: RunState) -> bool:
    n, gw = spec.names, spec.options.gateway
    st.digests["eval"] = {"ref": spec.eval_image.image, "id": _image_id(x, spec.eval_image.image)}
    st.networks.append(n.network)
    if not x(ops.network_create(n, n.network, internal=True), phase="setup").ok:
        st.fail("could not create the run's network (see run.json commands)")
        return False
    if gw is None or spec.gateway_image is None:
        return True
    ref = spec.gateway_image.image
    st.digests["gateway"] = {"ref": ref, "id": _image_id(x, ref)}
    if gw.needs_egress:
        st.networks.append(n.egress)
        if not x(ops.network_create(n, n.egress, internal=False), phase="setup").ok:
            st.fail("could not create the gateway's egress network")
            return False
    st.containers.append(n.gateway)
    if gw.rules is None and spec.agent.spec.gateway.normalize:
        # The agent's normalization rules (agent.yaml gateway.normalize), at record and replay.
        gw = dataclasses.replace(gw, rules=spec.agent.spec.gateway.normalize)
    res = x(gw.run_step(n, ref, spec.dir.gateway), phase="setup")
    if not res.ok:
        st.fail(f"the gateway container could not start: {res.last_error_line()}")
        return False
    if gw.needs_egress and not x(ops.network_connect(n.egress, n.gateway), phase="setup").ok:
        st.fail("could not connect the gateway to its egress network")
        return False
    why = wait_healthy(x, n)
    if why:
        st.fail(f"{why}; see gateway/gateway.log")
        return False
    return True


def _agent_env(spec: RunSpec) -> list[tuple[str, str | None]]:
    env: list[tuple[str, str | None]] = []
    if spec.options.gateway:
        env += agent_env()
    if spec.options.model:
        env.append(("BAKECTL_MODEL", spec.options.model))
    # agent.yaml `env:` names, their values taken from the host by docker itself.
    env += [(name, None) for name in spec.agent.spec.env if name not in RESERVED_ENV]
    return env


def agent_phase(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    n, task = spec.names, spec.task
    mounts = [
        ops.Mount(task.instruction.resolve(), "/task/instruction.md", readonly=True),
        ops.Mount(spec.dir.agent_logs, "/logs/agent"),
    ]
    if spec.agent.spec.needs_solution:
        mounts.append(ops.Mount(task.solution_dir.resolve(), "/solution", readonly=True))
    step = ops.container_run(
        n,
        n.agent,
        spec.eval_image.image,
        user="agent",
        network=n.network,
        cpus=spec.cpus,
        memory_mb=task.spec.environment.memory_mb,
        mounts=mounts,
        env=_agent_env(spec),
        args=["agent"],
    )
    st.containers.append(n.agent)
    started = time.monotonic()
    res = x(step, phase="agent")
    if not res.ok:
        st.fail(f"the agent container could not start: {res.last_error_line()}")
        return
    st.agent_started = True
    code, st.agent_timed_out = ops.wait_bounded(x, n.agent, spec.agent_timeout, "agent")
    st.exit_codes["agent"] = code
    st.timings["agent"] = round(time.monotonic() - started, 3)


def after_agent(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    """Check and stop the gateway, keep its trace; keep the agent's output and workdir."""
    n, gw, dry = spec.names, spec.options.gateway, spec.options.dry_run
    if gw is not None and n.gateway in st.containers:
        res = x(ops.state(n.gateway), phase="collect")
        words = res.stdout.split()
        if res.ok and words and words[0] != "running":
            code = words[1] if len(words) > 1 else "?"
            st.fail(
                f"the gateway stopped during the run ({words[0]}, exit code {code}); "
                "see gateway/gateway.log"
            )
        st.exit_codes["gateway"] = ops.exit_code(words[1]) if len(words) > 1 else None
        x(ops.stop(n.gateway), phase="collect")  # SIGTERM: it finishes the fixture and summary
        x(ops.logs(n.gateway), phase="collect", output=spec.dir.gateway / "gateway.log")
        if not dry:
            st.trace = collect_trace(spec.dir.gateway, spec.dir.trace)
    if st.agent_started or n.agent in st.containers:
        x(ops.logs(n.agent), phase="collect", output=spec.dir.agent_output)
    if st.agent_started:
        x(
            ops.copy_out(n.agent, spec.benchmark.spec.workdir, spec.dir.artifacts),
            phase="collect",
        )


def verifier_phase(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    n, task = spec.names, spec.task
    started = time.monotonic()
    st.images.append(n.snapshot)
    res = x(ops.commit(n, n.agent, n.snapshot), phase="verifier")
    if not res.ok:
        st.fail(f"could not snapshot the agent's container: {res.last_error_line()}")
        return
    st.digests["snapshot"] = {"ref": n.snapshot, "id": res.stdout.strip() or None}
    step = ops.container_run(
        n,
        n.verifier,
        n.snapshot,
        user="0",
        network="none",
        cpus=spec.cpus,
        memory_mb=task.spec.environment.memory_mb,
        mounts=[
            ops.Mount(task.tests_dir.resolve(), "/tests", readonly=True),
            ops.Mount(spec.dir.verifier_logs, "/logs/verifier"),
        ],
        entrypoint=ops.RUNTIME_ENTRYPOINT,
        args=["verify"],
    )
    st.containers.append(n.verifier)
    res = x(step, phase="verifier")
    if not res.ok:
        st.fail(f"the verifier container could not start: {res.last_error_line()}")
        return
    code, timed_out = ops.wait_bounded(x, n.verifier, spec.verifier_timeout, "verifier")
    if timed_out:
        st.fail(f"the verifier timed out after {spec.verifier_timeout:g} s")
    st.exit_codes["verifier"] = code
    x(ops.logs(n.verifier), phase="verifier", output=spec.dir.verifier_output)
    st.timings["verifier"] = round(time.monotonic() - started, 3)
    if not spec.options.dry_run:
        st.reward, st.reward_problem = read_reward(spec.dir.verifier_logs)


def cleanup(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    started = time.monotonic()
    if st.containers:
        x(ops.remove_containers(st.containers), phase="cleanup")
    if st.images:
        x(ops.remove_images(st.images), phase="cleanup")
    if st.networks:
        x(ops.remove_networks(st.networks), phase="cleanup")
    st.timings["cleanup"] = round(time.monotonic() - started, 3)


def verdict(spec: RunSpec, st: RunState) -> tuple[str, str]:
    v = Verification(
        reward=st.reward,
        problem=st.reward_problem,
        error=st.error,
        exit_code=st.exit_codes.get("verifier"),
    )
    return status_of(v, st.agent_timed_out, f"the agent timed out after {spec.agent_timeout:g} s")
