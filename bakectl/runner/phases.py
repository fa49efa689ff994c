"""The phases of one run, following the task as Harbor defines it.

    setup      images' configs, the run network (a pool subnet; none at all for an
               offline task with no gateway and no sidecar to reach), the gateway, the
               environment container (the task image's own ENTRYPOINT, a keep-alive
               command, an init), its healthcheck
    agent      `docker exec` into the environment container as the task's agent user
    collect    the gateway's trace, the workdir, the task's declared artifacts
    verifier   shared: /tests copied into the same container, `docker exec` as the
               verifier user; separate: a container of the verifier's own image, only
               artifacts cross; snapshot: a fresh container from a commit of the agent's
    cleanup    everything the run created, also on errors and Ctrl-C

The commands come from a `RunPlan` built before anything runs (`--dry-run` prints it).
Each phase records what it created in `RunState`, so cleanup removes exactly that, and
turns faults into `RunState.fault` (a typed Fault) instead of raising.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from bakectl.engine import containers as ops
from bakectl.results.records import Fault, FaultKind
from bakectl.results.rundir import read_rewards
from bakectl.runner import limits
from bakectl.runner.compose import Compose, Sidecar, load_compose
from bakectl.runner.compose import build_step as compose_build
from bakectl.runner.compose import run_step as compose_run
from bakectl.runner.gateway_ctl import agent_env, collect_trace, wait_healthy
from bakectl.runner.spec import RESERVED_ENV, RunSpec

LOGS = {"agent": "/logs/agent", "verifier": "/logs/verifier", "artifacts": "/logs/artifacts"}
TESTS, SOLUTION, INSTRUCTION = "/tests", "/solution", "/task/instruction.md"
RUNTIME = ops.RUNTIME_ENTRYPOINT
HEALTH_POLL = 0.2
NO_NETWORK = "none"


@dataclass
class RunState:
    """What a run has created and learned so far."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    subnets: list[int] = field(default_factory=list)  # pool indices to give back
    images: list[str] = field(default_factory=list)
    digests: dict[str, dict] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    fault: Fault | None = None
    agent_started: bool = False
    agent_timed_out: bool = False
    verifier_ran: bool = False
    rewards: dict[str, float] = field(default_factory=dict)
    reward_problem: str = ""
    reward_bad: bool = False
    trace: Path | None = None
    notes: list[str] = field(default_factory=list)
    plan: RunPlan | None = None
    phase: str = "setup"  # the phase running now (each phase names itself as it starts)
    stopped_in: str | None = None  # the phase a Ctrl-C/SIGTERM/cancel was first seen in

    @property
    def error(self) -> str:
        return self.fault.message if self.fault else ""

    def fail(self, message: str, kind: FaultKind = "engine") -> None:
        if self.fault is None:  # the first fault is the cause; later ones follow from it
            self.fault = Fault.of(kind, message)

    def stopped(self) -> None:
        """Ctrl-C, SIGTERM or a job's cancel stopped the run in `stopped_in`: that is the
        fault. What the stop brought about (the killed environment container, a docker
        exec cut short) follows from it and is kept as a note, never the cause."""
        if self.fault is not None and self.fault.kind == "interrupted":
            return
        if self.fault is not None:
            self.notes.append(f"also: {self.fault.message}")
        where = PHASE_NAMES.get(self.stopped_in or self.phase, self.stopped_in or self.phase)
        self.fault = Fault.of("interrupted", f"interrupted during {where}")


# How an interrupt's message names each phase.
PHASE_NAMES = {
    "setup": "setup",
    "agent": "the agent phase",
    "collect": "the collect phase (after the agent)",
    "verifier": "the verifier phase",
    "cleanup": "cleanup",
}


# -- the image as its Dockerfile defined it ----------------------------------------------


@dataclass(frozen=True)
class ImageConfig:
    """What `docker image inspect` says the task's environment image runs as."""

    id: str | None = None
    entrypoint: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    healthcheck: bool = False

    @classmethod
    def parse(cls, line: str) -> ImageConfig:
        ident, _, raw = line.strip().partition(" ")
        try:
            cfg = json.loads(raw) or {}
        except ValueError:
            cfg = {}
        hc = cfg.get("Healthcheck") or {}
        return cls(
            id=ident or None,
            entrypoint=tuple(cfg.get("Entrypoint") or ()),
            user=cfg.get("User") or "",
            workdir=cfg.get("WorkingDir") or "",
            healthcheck=bool(hc.get("Test")) and hc.get("Test") != ["NONE"],
        )


_KNOWN: dict[str, ImageConfig] = {}  # tags are content hashes: an image's config never changes


def inspect_images(x: ops.Executor, refs: list[str]) -> list[ImageConfig]:
    """One `docker image inspect` for every image a run needs (missing ones: empty);
    images already seen by this process are not asked again (a batch runs one image
    many times)."""
    if all(ref in _KNOWN for ref in refs):
        return [_KNOWN[ref] for ref in refs]
    got = _inspect(x, refs)
    for ref, cfg in zip(refs, got, strict=True):
        if cfg.id is not None and ":h" in ref:  # only bakectl's content-hashed tags
            _KNOWN[ref] = cfg
    return got


def _inspect(x: ops.Executor, refs: list[str]) -> list[ImageConfig]:
    res = x(ops.image_configs(*refs), phase="setup", record=False)
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    if res.ok and len(lines) == len(refs):
        return [ImageConfig.parse(ln) for ln in lines]
    if res.ok and not lines:  # a dry run: nothing is known, nothing to ask again
        return [ImageConfig() for _ in refs]
    out = []
    for ref in refs:  # one is missing: ask one by one so the others are still known
        r = x(ops.image_configs(ref), phase="setup", record=False)
        out.append(ImageConfig.parse(r.stdout) if r.ok and r.stdout.strip() else ImageConfig())
    return out


# -- env tables ---------------------------------------------------------------------------

_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def resolve_env(table: dict[str, str]) -> list[tuple[str, str | None]]:
    """A task.toml env table as Harbor reads it: `${VAR}` and `${VAR:-default}` take the
    host's value. `K = "${K}"` passes the host's value by name, so no printed line holds it."""
    out: list[tuple[str, str | None]] = []
    for key, value in table.items():
        m = _TEMPLATE.fullmatch(value)
        if m and m.group(1) == key and m.group(2) is None and key in os.environ:
            out.append((key, None))
            continue
        out.append(
            (key, _TEMPLATE.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value))
        )
    return out


# -- the plan -----------------------------------------------------------------------------


@dataclass
class RunPlan:
    """Everything a run will do, decided before it starts. Steps that depend on what
    the engine answers at run time (a pool subnet) are filled in as they run."""

    network: str
    internal: bool
    workdir: str
    agent_user: str | None
    verifier_user: str | None
    verifier_mode: str
    environment: ops.Step
    health: bool
    agent: ops.Step
    verifier: ops.Step
    artifacts: list[tuple[str, str]]  # (container path, path under the run's task-artifacts/)
    verifier_image: str | None = None  # separate/snapshot: the image the verifier runs in
    verifier_build: Path | None = None  # separate with tests/Dockerfile: its context
    sidecars: list[Sidecar] = field(default_factory=list)  # compose services besides main
    entrypoint: tuple[str, ...] = ()  # the task image's own ENTRYPOINT

    def describe(self) -> list[str]:
        net = "internal (no route out; the gateway is on it)" if self.internal else "reaches out"
        where = f"a /{ops.subnet_pool().prefix} from {ops.subnet_pool().network}"
        if self.network == NO_NETWORK:
            net, where = "offline with nothing to reach (no gateway, no sidecar)", "loopback only"
        lines = [
            f"# network: {self.network}, {net}, {where}",
            f"# environment: {self.environment.shell()}",
            f"# healthcheck: {'wait until healthy' if self.health else 'none'}",
            f"# agent: {self.agent.shell()}",
            f"# verifier ({self.verifier_mode}): {self.verifier.shell()}",
        ]
        for src, dest in self.artifacts:
            lines.append(f"# artifact: {src} -> task-artifacts/{dest}")
        for sc in self.sidecars:
            lines.append(f"# sidecar {sc.service}: {sc.image} (on the run network as {sc.service})")
        return lines


def _workdir(spec: RunSpec, image: ImageConfig) -> str:
    """[environment] workdir, else the benchmark's when it names one, else the image's
    WORKDIR (Harbor's default), else /."""
    env = spec.task.spec.environment
    if env.workdir:
        return env.workdir
    if "workdir" in spec.benchmark.spec.model_fields_set:
        return spec.benchmark.spec.workdir
    return image.workdir or spec.benchmark.spec.workdir or "/"


def _user(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _agent_env(spec: RunSpec, workdir: str) -> list[tuple[str, str | None]]:
    env: list[tuple[str, str | None]] = [(ops.PHASE_VAR, "agent"), ("BAKECTL_WORKDIR", workdir)]
    if spec.options.gateway:
        env += agent_env()
    if spec.options.model:
        env.append(("BAKECTL_MODEL", spec.options.model))
    env.append(("BAKECTL_ATTEMPT", str(spec.options.attempt)))  # attempt k of -k (pass@k)
    # agent.yaml `env:` names, their values taken from the host by docker itself.
    env += [(name, None) for name in spec.agent.spec.env if name not in RESERVED_ENV]
    if spec.agent.spec.needs_solution:  # the oracle: [solution] env, and only it
        env += resolve_env(spec.task.spec.solution.env)
    return env


def _artifact_paths(spec: RunSpec) -> list[tuple[str, str]]:
    out = []
    for a in spec.task.spec.artifact_entries:
        if a.service not in (None, "main"):
            continue
        dest = (a.destination or a.source).lstrip("/") or "root"
        out.append((a.source, dest))
    return out


def task_compose(spec: RunSpec) -> Compose | None:
    task = spec.task
    env_dir = task.env_dir if task.env_dir.is_dir() else spec.benchmark.env_dir
    return load_compose(env_dir, f"bakectl-sidecar/{spec.benchmark.name}-{task.id}".lower())


def plan_run(spec: RunSpec, eval_cfg: ImageConfig, base: ImageConfig) -> RunPlan:
    n, task = spec.names, spec.task
    tenv = task.spec.environment
    compose = task_compose(spec)
    workdir = _workdir(spec, base)
    internal = tenv.network != "public"
    # No network at all (Harbor's network_mode none) when nothing is there to reach: an
    # offline task with no gateway and no sidecar needs no network of its own.
    network = n.network
    if internal and spec.options.gateway is None and not (compose and compose.sidecars):
        network = NO_NETWORK
    mounts = [
        ops.Mount(task.instruction.resolve(), INSTRUCTION, readonly=True),
        ops.Mount(spec.dir.agent_logs, LOGS["agent"]),
        ops.Mount(spec.dir.verifier_logs, LOGS["verifier"]),
        ops.Mount(spec.dir.root / "task-artifacts", LOGS["artifacts"]),
    ]
    if spec.agent.spec.needs_solution:
        mounts.append(ops.Mount(task.solution_dir.resolve(), SOLUTION, readonly=True))
    health = None
    if tenv.healthcheck is not None:
        hc = tenv.healthcheck
        health = ops.Health(
            hc.command,
            hc.interval_sec,
            hc.timeout_sec,
            hc.start_period_sec,
            hc.start_interval_sec,
            hc.retries,
        )
    # The eval image sets bakectl's runtime as its ENTRYPOINT and USER agent; the
    # environment container runs as the task's own image defined it instead.
    ep = list(base.entrypoint)
    environment = ops.container_run(
        n,
        n.environment,
        spec.eval_ref,
        user=base.user or "0",
        network=network,
        cpus=spec.cpus,
        memory_mb=tenv.memory_mb,
        mounts=mounts,
        env=[
            ("BAKECTL_WORKDIR", workdir),
            *resolve_env(tenv.env),
            *(compose.main_env if compose else ()),
        ],
        entrypoint=ep[0] if ep else "",
        args=ep[1:] + ops.KEEP_ALIVE,
        init=True,
        workdir=workdir,
        health=health,
        limit_flags=limits.run_flags(limits.for_run(spec.benchmark, task)),
    )
    agent_user = _user(task.spec.agent.user)
    agent = ops.exec_step(
        n.environment,
        [RUNTIME, "agent"],
        user=agent_user,
        workdir=workdir,
        env=_agent_env(spec, workdir),
    )
    v = task.spec.verifier
    mode = v.mode
    verifier_user = _user(v.user)
    target = n.environment if mode == "shared" else n.verifier
    verifier = ops.exec_step(
        target,
        ["bash", f"{TESTS}/test.sh"],
        user=verifier_user,
        workdir=workdir,
        env=[(ops.PHASE_VAR, "verifier"), *resolve_env(v.env)],
    )
    plan = RunPlan(
        network=network,
        internal=internal,
        workdir=workdir,
        agent_user=agent_user,
        verifier_user=verifier_user,
        verifier_mode=mode,
        environment=environment,
        health=health is not None or base.healthcheck,
        agent=agent,
        verifier=verifier,
        artifacts=_artifact_paths(spec),
        sidecars=list(compose.sidecars) if compose else [],
        entrypoint=base.entrypoint,
    )
    if mode == "snapshot":
        plan.verifier_image = n.snapshot
    elif mode == "separate":
        if (task.tests_dir / "Dockerfile").is_file():
            plan.verifier_build = task.tests_dir
            plan.verifier_image = f"bakectl-verifier/{n.run_id.lower()}:tests"
        elif v.environment is not None and v.environment.docker_image:
            plan.verifier_image = v.environment.docker_image
        else:  # a fresh copy of the task's environment, without the agent
            plan.verifier_image = spec.base_ref
    return plan


# -- setup --------------------------------------------------------------------------------


def _network(spec: RunSpec, x: ops.Executor, st: RunState, name: str, internal: bool) -> bool:
    st.networks.append(name)
    if spec.options.dry_run:
        res = x(ops.network_create(spec.names, name, internal=internal), phase="setup")
        return res.ok
    res, index = ops.create_run_network(x, spec.names, name, internal=internal)
    if index is None:
        st.fail(f"could not create the run's network {name}: {res.last_error_line()}", "network")
        return False
    st.subnets.append(index)
    return True


def setup(spec: RunSpec, x: ops.Executor, st: RunState) -> bool:
    st.phase = "setup"
    n, gw = spec.names, spec.options.gateway
    base_ref = spec.base_ref
    if base_ref is None:  # unknown: root, no entrypoint, the benchmark's workdir
        (eval_cfg,), base = inspect_images(x, [spec.eval_ref]), ImageConfig()
    else:
        eval_cfg, base = inspect_images(x, [spec.eval_ref, base_ref])
        st.digests["base"] = {"ref": base_ref, "id": base.id}
    st.digests["eval"] = {"ref": spec.eval_ref, "id": eval_cfg.id}
    plan = st.plan = plan_run(spec, eval_cfg, base)
    if spec.options.dry_run:
        for line in plan.describe():
            print(line, file=x.echo)
    else:
        for d in (spec.dir.verifier_logs, spec.dir.root / "task-artifacts"):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o777)  # the task's users have uids this host does not know
    if plan.network != NO_NETWORK and not _network(spec, x, st, n.network, plan.internal):
        return False
    if gw is not None and spec.gateway_image is not None:
        if not _gateway(spec, x, st, plan):
            return False
    if plan.sidecars and not _sidecars(spec, x, st, plan):
        return False
    return _environment(spec, x, st, plan)


def _sidecars(spec: RunSpec, x: ops.Executor, st: RunState, plan: RunPlan) -> bool:
    """Build (when missing) and start every compose sidecar, then wait for each."""
    n = spec.names
    known = inspect_images(x, [sc.image or "" for sc in plan.sidecars])
    for sc, cfg in zip(plan.sidecars, known, strict=True):
        if cfg.id is None and sc.build is not None:
            res = x(compose_build(sc), phase="setup")
            if not res.ok:
                st.fail(
                    f"sidecar {sc.service!r} failed to build: {res.last_error_line()}",
                    "image_build",
                )
                return False
        elif cfg.id is None and not spec.options.dry_run:
            st.fail(
                f"sidecar {sc.service!r}: image {sc.image} is not in the store", "image_missing"
            )
            return False
        st.containers.append(n.sidecar(sc.service))
        res = x(compose_run(n, sc, n.network), phase="setup")
        if not res.ok:
            st.fail(f"sidecar {sc.service!r} could not start: {res.last_error_line()}", "sidecar")
            return False
    for sc in plan.sidecars:
        why = wait_healthy_container(spec, x, n.sidecar(sc.service), sc.health is not None)
        if why:
            st.fail(f"sidecar {sc.service!r}: {why}", "sidecar")
            return False
    return True


def _gateway(spec: RunSpec, x: ops.Executor, st: RunState, plan: RunPlan) -> bool:
    n, gw = spec.names, spec.options.gateway
    assert gw is not None and spec.gateway_image is not None
    ref = spec.gateway_image.image
    st.digests["gateway"] = {"ref": ref, "id": None}
    egress = gw.needs_egress and plan.internal
    if egress and not _network(spec, x, st, n.egress, False):
        return False
    st.containers.append(n.gateway)
    if gw.rules is None and spec.agent.spec.gateway.normalize:
        # The agent's normalization rules (agent.yaml gateway.normalize), at record and replay.
        gw = dataclasses.replace(gw, rules=spec.agent.spec.gateway.normalize)
    res = x(gw.run_step(n, ref, spec.dir.gateway), phase="setup")
    if not res.ok:
        st.fail(f"the gateway container could not start: {res.last_error_line()}", "gateway_start")
        return False
    st.digests["gateway"]["id"] = res.stdout.strip()[:71] or None
    if egress and not x(ops.network_connect(n.egress, n.gateway), phase="setup").ok:
        st.fail("could not connect the gateway to its egress network", "network")
        return False
    why = wait_healthy(x, n)
    if why:
        st.fail(f"{why}; see gateway/gateway.log", "gateway_start")
        return False
    return True


def _environment(spec: RunSpec, x: ops.Executor, st: RunState, plan: RunPlan) -> bool:
    n = spec.names
    st.containers.append(n.environment)
    res = x(plan.environment, phase="setup")
    waited = 0.0
    while not res.ok and ops.resource_exhausted(res.stderr) and waited < 300:
        # The engine ran out of something (memory, processes, addresses): wait, try again.
        x(ops.remove_containers([n.environment]), phase="setup")
        time.sleep(2.0)
        waited += 2.0
        res = x(plan.environment, phase="setup")
    if not res.ok:
        st.fail(
            f"the environment container could not start: {res.last_error_line()}",
            "container_start",
        )
        return False
    if plan.health:
        why = wait_environment_healthy(spec, x, plan)
        if why:
            st.fail(why, "healthcheck")
            return False
    return True


def _health_limit(spec: RunSpec) -> float:
    hc = spec.task.spec.environment.healthcheck
    if hc is None:  # the image's own HEALTHCHECK: docker decides; bound the wait anyway
        return 300.0
    rounds = hc.retries + 1
    return hc.start_period_sec + rounds * (hc.interval_sec + hc.timeout_sec) + 10.0


def wait_environment_healthy(spec: RunSpec, x: ops.Executor, plan: RunPlan) -> str | None:
    why = wait_healthy_container(spec, x, spec.names.environment, True, _health_limit(spec))
    return f"the environment {why}" if why else None


def wait_healthy_container(
    spec: RunSpec, x: ops.Executor, name: str, has_health: bool, limit: float = 300.0
) -> str | None:
    """None once docker reports the container healthy (or, without a healthcheck,
    running); else why not, with the healthcheck's own output."""
    deadline = time.monotonic() + limit
    first = True
    while True:
        res = x(ops.health_state(name), phase="setup", record=first)
        first = False
        status, code, health = _parse_health(res.stdout)
        if res.ok and status not in ("running", "created", ""):
            tail = _logs_tail(x, name)
            return f"container exited (code {code}) before it was healthy{tail}"
        state = (health or {}).get("Status")
        if spec.options.dry_run or state == "healthy" or (res.ok and health is None):
            if not has_health and not spec.options.dry_run:
                # No healthcheck: a moment to see whether it stays up at all.
                time.sleep(HEALTH_POLL)
                again = x(ops.health_state(name), phase="setup", record=False)
                status, code, _ = _parse_health(again.stdout)
                if again.ok and status != "running":
                    return f"container exited (code {code}) at start{_logs_tail(x, name)}"
            return None
        if state == "unhealthy" or time.monotonic() > deadline:
            log = (health or {}).get("Log") or []
            last = log[-1] if log else {}
            out = (last.get("Output") or "").strip()
            why = "unhealthy" if state == "unhealthy" else "not healthy in time"
            return (
                f"healthcheck never passed ({why}; last exit code "
                f"{last.get('ExitCode', '?')}): {out[-500:] or '(no output)'}"
            )
        time.sleep(HEALTH_POLL)


def _parse_health(text: str) -> tuple[str, str, dict | None]:
    parts = text.strip().split(" ", 2)
    status = parts[0] if parts else ""
    code = parts[1] if len(parts) > 1 else "?"
    try:
        health = json.loads(parts[2]) if len(parts) > 2 else None
    except ValueError:
        health = None
    return status, code, health


def _logs_tail(x: ops.Executor, container: str) -> str:
    res = x(ops.logs(container), phase="setup", record=False)
    text = (res.stdout + res.stderr).strip()
    return f"; its output ends: {text[-300:]}" if text else ""


# -- the agent ----------------------------------------------------------------------------


def agent_phase(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    assert st.plan is not None
    n = spec.names
    started = time.monotonic()
    st.phase = "agent"
    st.agent_started = True
    res = x(st.plan.agent, phase="agent", timeout=spec.agent_timeout, output=spec.dir.agent_output)
    st.timings["agent"] = round(time.monotonic() - started, 3)
    if res.timed_out:
        st.agent_timed_out = True
        x(ops.kill_phase(n.environment, "agent"), phase="agent", timeout=30)
        st.exit_codes["agent"] = None
        return
    st.exit_codes["agent"] = res.returncode
    if res.returncode in (126, 127) and not spec.options.dry_run:
        # docker exec's own failure (no such executable, no such user): never the agent's.
        why = _exec_failure(spec.dir.agent_output)
        if why:
            st.fail(f"the agent could not start: {why}", "container_start")
            return
    if not res.ok and not spec.options.dry_run:
        alive = x(ops.state(n.environment), phase="agent", record=False)
        if alive.ok and not alive.stdout.startswith("running"):
            st.fail(
                f"the environment container stopped during the agent phase "
                f"({alive.stdout.strip()}){_logs_tail(x, n.environment)}",
                "container_start",
            )


_EXEC_FAILED = ("OCI runtime exec failed", "unable to find user", "no matching entries in passwd")


def _exec_failure(output: Path) -> str:
    """The runtime's message when `docker exec` itself could not start the command."""
    try:
        lines = output.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    last = lines[-1] if lines else ""
    return last.strip() if any(m in last for m in _EXEC_FAILED) else ""


def after_agent(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    """Check and stop the gateway, keep its trace; keep the workdir and the artifacts."""
    st.phase = "collect"
    n, gw, dry = spec.names, spec.options.gateway, spec.options.dry_run
    if gw is not None and n.gateway in st.containers:
        res = x(ops.state(n.gateway), phase="collect")
        words = res.stdout.split()
        if res.ok and words and words[0] != "running":
            code = words[1] if len(words) > 1 else "?"
            st.fail(
                f"the gateway stopped during the run ({words[0]}, exit code {code}); "
                "see gateway/gateway.log",
                "gateway_died",
            )
        st.exit_codes["gateway"] = ops.exit_code(words[1]) if len(words) > 1 else None
        x(ops.stop(n.gateway), phase="collect")  # SIGTERM: it finishes the fixture and summary
        x(ops.logs(n.gateway), phase="collect", output=spec.dir.gateway / "gateway.log")
        if not dry:
            st.trace = collect_trace(spec.dir.gateway, spec.dir.trace)
    if not st.agent_started or st.plan is None:
        return
    for sc in st.plan.sidecars:
        name = n.sidecar(sc.service)
        x(ops.logs(name), phase="collect", output=spec.dir.root / "sidecars" / f"{sc.service}.log")
        res = x(ops.state(name), phase="collect", record=False)
        words = res.stdout.split()
        if res.ok and words and words[0] != "running" and ops.exit_code(words[1]) != 0:
            st.fail(
                f"sidecar {sc.service!r} exited during the run (code {words[1]}); "
                f"see sidecars/{sc.service}.log",
                "sidecar",
            )
    if st.plan.entrypoint:  # what the image's own ENTRYPOINT printed (the keep-alive prints none)
        x(
            ops.logs(n.environment),
            phase="collect",
            output=spec.dir.root / "environment" / "container.log",
        )
    x(ops.copy_out(n.environment, st.plan.workdir, spec.dir.artifacts), phase="collect")
    for src, dest in st.plan.artifacts:
        target = spec.dir.root / "task-artifacts" / dest
        if not dry:
            target.parent.mkdir(parents=True, exist_ok=True)
        res = x(ops.Step(("docker", "cp", f"{n.environment}:{src}", str(target))), phase="collect")
        if not res.ok:
            st.notes.append(f"artifact {src} was not collected: {res.last_error_line()}")
    if not dry:
        lim = limits.for_run(spec.benchmark, spec.task)
        spec.warnings.extend(limits.cap_run_output(spec.dir.root, lim))


# -- the verifier -------------------------------------------------------------------------


def verifier_phase(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    assert st.plan is not None
    if st.fault is not None and st.fault.kind in ("container_start", "sidecar"):
        return  # nothing the agent did can be scored: the environment itself failed
    st.phase = "verifier"
    plan, n, task = st.plan, spec.names, spec.task
    started = time.monotonic()
    if plan.verifier_mode == "shared":
        target = n.environment
    else:
        target = _verifier_container(spec, x, st, plan)
        if target is None:
            return
    if not x(ops.copy_in(task.tests_dir.resolve(), target, TESTS), phase="verifier").ok:
        st.fail(f"could not copy tests/ into {target}", "engine")
        return
    if plan.verifier_user not in (None, "0", "root"):
        # /tests is writable for the verifier, whoever it runs as.
        x(ops.exec_step(target, ["chmod", "-R", "a+rwX", TESTS], user="0"), phase="verifier")
    res = x(
        plan.verifier,
        phase="verifier",
        timeout=spec.verifier_timeout,
        output=spec.dir.verifier_output,
    )
    if res.timed_out:
        x(ops.kill_phase(target, "verifier"), phase="verifier", timeout=30)
        st.fail(f"the verifier timed out after {spec.verifier_timeout:g} s", "verifier_timeout")
    st.exit_codes["verifier"] = res.returncode
    st.timings["verifier"] = round(time.monotonic() - started, 3)
    if not spec.options.dry_run:
        lim = limits.for_run(spec.benchmark, spec.task)
        note = limits.cap_file(spec.dir.verifier_output, lim.log_bytes, "verifier/container.log")
        st.verifier_ran = True
        st.rewards, st.reward_problem, st.reward_bad = read_rewards(spec.dir.verifier_logs)
        spec.warnings.extend([note] if note else [])
        spec.warnings.extend(limits.reward_notes(st.rewards, lim))


def _verifier_container(spec: RunSpec, x: ops.Executor, st: RunState, plan: RunPlan) -> str | None:
    """separate / snapshot: a verifier container of its own, started like an environment
    (its image's entrypoint, a keep-alive, an init), with only /logs mounted."""
    n = spec.names
    image = plan.verifier_image
    if plan.verifier_mode == "snapshot":
        st.images.append(n.snapshot)
        res = x(ops.commit(n, n.environment, n.snapshot), phase="verifier")
        if not res.ok:
            st.fail(f"could not snapshot the agent's container: {res.last_error_line()}")
            return None
        st.digests["snapshot"] = {"ref": n.snapshot, "id": res.stdout.strip() or None}
    elif plan.verifier_build is not None:
        assert image is not None
        st.images.append(image)
        res = x(ops.build_image(plan.verifier_build, image, n), phase="verifier")
        if not res.ok:
            st.fail(
                f"the verifier image (tests/Dockerfile) failed to build: {res.last_error_line()}",
                "image_build",
            )
            return None
    if image is None:
        st.fail("the separate verifier has no image", "image_missing")
        return None
    (cfg,) = inspect_images(x, [image])
    if plan.verifier_mode != "snapshot" and cfg.id is None and not spec.options.dry_run:
        st.fail(f"the verifier image {image} is not in the store", "image_missing")
        return None
    ep = [] if plan.verifier_mode == "snapshot" else list(cfg.entrypoint)
    v_env = spec.task.spec.verifier.environment
    wanted = (v_env or spec.task.spec.environment).network
    network = n.network if wanted == "public" and not plan.internal else "none"
    st.digests["verifier"] = {"ref": image, "id": cfg.id}
    step = ops.container_run(
        n,
        n.verifier,
        image,
        user="0" if plan.verifier_mode == "snapshot" else (cfg.user or "0"),
        network=network,
        cpus=spec.cpus,
        memory_mb=spec.task.spec.environment.memory_mb,
        mounts=[
            ops.Mount(spec.dir.verifier_logs, LOGS["verifier"]),
            ops.Mount(spec.dir.root / "task-artifacts", LOGS["artifacts"]),
        ],
        env=resolve_env(v_env.env) if v_env else [],
        entrypoint=ep[0] if ep else "",
        args=ep[1:] + ops.KEEP_ALIVE,
        init=True,
        workdir=plan.workdir,
        limit_flags=limits.run_flags(limits.for_run(spec.benchmark, spec.task)),
    )
    st.containers.append(n.verifier)
    res = x(step, phase="verifier")
    if not res.ok:
        st.fail(f"the verifier container could not start: {res.last_error_line()}", "engine")
        return None
    if plan.verifier_mode == "snapshot":
        return n.verifier
    # separate: only artifacts cross, each back at its source path (as Harbor does).
    root = spec.dir.root / "task-artifacts"
    crossing = [(src, root / dest) for src, dest in plan.artifacts]
    if not spec.options.dry_run:
        crossing = [(src, host) for src, host in crossing if host.exists()]
    parents = sorted({plan.workdir} | {str(Path(src).parent) for src, _ in crossing})
    x(ops.exec_step(n.verifier, ["mkdir", "-p", *parents], user="0"), phase="verifier")
    for src, host in crossing:
        from_ = f"{host}/." if host.is_dir() else str(host)
        if not x(ops.Step(("docker", "cp", from_, f"{n.verifier}:{src}")), phase="verifier").ok:
            st.notes.append(f"artifact {src} could not be given to the verifier")
    return n.verifier


# -- verifying what an agent left, outside a run ----------------------------------------


def verify_kept(spec: RunSpec, x: ops.Executor, st: RunState, artifacts: Path) -> None:
    """The verifier over kept work, as the task's verifier mode says, like a run's: `score`
    (an attempt's artifacts/ and task-artifacts/) and `--agent-cmd` (the host command's
    workdir). The environment starts as a run's does (the task image's ENTRYPOINT, a
    keep-alive, an init, its healthcheck and sidecars); the workdir's contents are replaced
    by `artifacts` (deletions stay deleted) and the declared artifacts, kept under
    spec.dir/task-artifacts/, go back to their paths; then `verifier_phase`: shared,
    separate or snapshot. What it created is removed, on errors and Ctrl-C too."""
    try:
        if setup(spec, x, st):
            _restore(spec, x, st, artifacts)
            if st.fault is None:
                verifier_phase(spec, x, st)
    finally:
        cleanup(spec, x, st)


_CLEAR = (
    'for d in "$@"; do mkdir -p "$d"; done; find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf {} +'
)


def _restore(spec: RunSpec, x: ops.Executor, st: RunState, artifacts: Path) -> None:
    assert st.plan is not None
    plan, env = st.plan, spec.names.environment
    kept = [(src, spec.dir.root / "task-artifacts" / dest) for src, dest in plan.artifacts]
    kept = [(src, host) for src, host in kept if spec.options.dry_run or host.exists()]
    parents = [plan.workdir, *sorted({str(Path(src).parent) for src, _ in kept})]
    clear = ops.exec_step(env, ["sh", "-c", _CLEAR, "sh", *parents], user="0")
    if not x(clear, phase="setup").ok:
        st.fail(f"could not clear the workdir {plan.workdir} of {env}")
        return
    put = [(f"{artifacts.resolve()}/.", plan.workdir)]
    put += [(f"{host}/." if host.is_dir() else str(host), src) for src, host in kept]
    for host, path in put:
        res = x(ops.Step(("docker", "cp", host, f"{env}:{path}")), phase="setup")
        if not res.ok:
            st.fail(f"could not put the kept work back at {path}: {res.last_error_line()}")
            return
    # Declared artifacts not kept apart (in the workdir of a host command's run) are
    # collected as after an agent, so a separate verifier gets them too.
    have = {src for src, _ in kept}
    for src, dest in plan.artifacts:
        if src not in have:
            target = spec.dir.root / "task-artifacts" / dest
            if not spec.options.dry_run:
                target.parent.mkdir(parents=True, exist_ok=True)
            x(ops.Step(("docker", "cp", f"{env}:{src}", str(target))), phase="setup")


# -- cleanup ---------------------------------------------------------------------


def cleanup(spec: RunSpec, x: ops.Executor, st: RunState) -> None:
    st.phase = "cleanup"
    started = time.monotonic()
    if st.containers:
        x(ops.remove_containers(st.containers), phase="cleanup")
    if st.images:
        x(ops.remove_images(st.images), phase="cleanup")
    if st.networks:
        x(ops.remove_networks(st.networks), phase="cleanup")
    for index in st.subnets:
        ops.subnet_pool().give_back(index)
    st.subnets.clear()
    st.timings["cleanup"] = round(time.monotonic() - started, 3)
