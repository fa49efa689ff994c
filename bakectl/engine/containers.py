"""The docker commands of one run, as Steps, and a small executor for them.

Every name a run creates derives from its run id (`Names`), and every object
carries the label `dev.bakectl.run=<run_id>`, so `bakectl prune` finds
whatever an interrupted run left behind.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bakectl.engine.plan import DryRunner, ProcessResult, Runner, Step, run_process
from bakectl.errors import BakectlError

RUN_LABEL = "dev.bakectl.run"
OWNER_LABEL = "dev.bakectl.owner"  # host/pid/start time of the bakectl process (prune reads it)
GATEWAY_ALIAS = "gateway"
GATEWAY_PORT = 8080
RUNTIME_ENTRYPOINT = "/opt/bakectl/core/entrypoint.sh"

HEALTH_SCRIPT = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{GATEWAY_PORT}/health', timeout=2).read()"
)


def process_start(pid: int) -> float:
    """A process's start time (epoch seconds, from /proc): a reused pid is told apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # stat field 22: starttime, clock ticks since boot
        with open("/proc/stat", encoding="ascii") as fh:
            btime = next(int(ln.split()[1]) for ln in fh if ln.startswith("btime "))
        return round(btime + ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0


def owner_value() -> str:
    """This process as the owner label says it: host/pid/start."""
    return _owner_value(os.getpid())


@functools.lru_cache(maxsize=4)
def _owner_value(pid: int) -> str:
    import socket

    return f"{socket.gethostname()}/{pid}/{process_start(pid):.2f}"


@dataclass(frozen=True)
class Names:
    """Docker object names of one run."""

    run_id: str

    @property
    def label(self) -> str:
        return f"{RUN_LABEL}={self.run_id}"

    @property
    def owner_label(self) -> str:
        return f"{OWNER_LABEL}={owner_value()}"

    @property
    def network(self) -> str:
        return f"bakectl-{self.run_id}"

    @property
    def egress(self) -> str:
        return f"bakectl-{self.run_id}-egress"

    @property
    def agent(self) -> str:
        return f"bakectl-{self.run_id}-agent"

    @property
    def verifier(self) -> str:
        return f"bakectl-{self.run_id}-verifier"

    @property
    def gateway(self) -> str:
        return f"bakectl-{self.run_id}-gateway"

    @property
    def environment(self) -> str:
        """The task's environment container: the agent and a shared verifier exec in it."""
        return f"bakectl-{self.run_id}-env"

    def sidecar(self, service: str) -> str:
        return f"bakectl-{self.run_id}-{service}"

    @property
    def snapshot(self) -> str:
        # Image repositories must be lowercase; container/network names need not be.
        return f"bakectl-snapshot/{self.run_id.lower()}:agent"


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    readonly: bool = False

    def arg(self) -> str:
        fields = ["type=bind", f"source={self.source}", f"target={self.target}"]
        if self.readonly:
            fields.append("readonly")
        # --mount is CSV: quote a field holding a comma or a quote.
        return ",".join(
            '"' + f.replace('"', '""') + '"' if ("," in f or '"' in f) else f for f in fields
        )


# -- Step builders ------------------------------------------------------------------------


def network_create(names: Names, name: str, *, internal: bool, subnet: str | None = None) -> Step:
    argv = ["docker", "network", "create"]
    if internal:
        argv.append("--internal")
    if subnet:
        # An explicit subnet from bakectl's pool: docker's default address pools
        # (about 30 networks) are never consumed by runs.
        argv += ["--subnet", subnet]
    argv += ["--label", names.label, "--label", names.owner_label, name]
    return Step(tuple(argv))


def network_connect(network: str, container: str) -> Step:
    return Step(("docker", "network", "connect", network, container))


def container_run(
    names: Names,
    name: str,
    image: str,
    *,
    network: str,
    args: list[str],
    user: str | None = None,
    alias: str | None = None,
    mounts: list[Mount] | None = None,
    env: list[tuple[str, str | None]] | None = None,
    cpus: float | None = None,
    memory_mb: int | None = None,
    entrypoint: str | None = None,
    hosts: list[str] | None = None,
    init: bool = False,
    workdir: str | None = None,
    health: Health | None = None,
    limit_flags: list[str] | None = None,
) -> Step:
    """`docker run -d` (never --rm: logs, state and files are read after it exits).

    env: (NAME, value), or (NAME, None) to pass the host's value by name, so the
    printed line (and run.json) never holds it.
    """
    argv = ["docker", "run", "-d", "--pull", "never", "--name", name, "--label", names.label]
    argv += ["--label", names.owner_label]
    if init:
        argv.append("--init")  # signals reach the keep-alive at once: no 10 s stop wait
    if user is not None:
        argv += ["--user", user]
    argv += ["--network", network]
    if alias:
        argv += ["--network-alias", alias]
    for host in hosts or []:
        argv += ["--add-host", host]
    if cpus is not None:
        argv += ["--cpus", f"{cpus:g}"]
    if memory_mb is not None:
        argv += ["--memory", f"{memory_mb}m"]
    for m in mounts or []:
        argv += ["--mount", m.arg()]
    for key, value in env or []:
        argv += ["-e", key if value is None else f"{key}={value}"]
    if workdir is not None:
        argv += ["--workdir", workdir]
    if health is not None:
        argv += health.args()
    argv += limit_flags or []  # runner/limits.run_flags: --pids-limit, a bounded log
    if entrypoint is not None:
        argv += ["--entrypoint", entrypoint]
    argv.append(image)
    argv += args
    return Step(tuple(argv))


@dataclass(frozen=True)
class Health:
    """A HEALTHCHECK given at `docker run` (Docker's own semantics and timing)."""

    command: str
    interval: float = 5.0
    timeout: float = 30.0
    start_period: float = 0.0
    start_interval: float = 5.0
    retries: int = 3

    def args(self) -> list[str]:
        return [
            "--health-cmd",
            self.command,
            "--health-interval",
            f"{self.interval:g}s",
            "--health-timeout",
            f"{self.timeout:g}s",
            "--health-start-period",
            f"{self.start_period:g}s",
            "--health-start-interval",
            f"{self.start_interval:g}s",
            "--health-retries",
            str(self.retries),
        ]


KEEP_ALIVE = ["sh", "-c", "sleep infinity"]  # the CMD an environment container runs, as Harbor


def exec_step(
    container: str,
    argv: list[str],
    *,
    user: str | None = None,
    workdir: str | None = None,
    env: list[tuple[str, str | None]] | None = None,
    note: str = "",
) -> Step:
    """`docker exec` (env as in container_run: a None value passes the host's by name)."""
    cmd = ["docker", "exec"]
    if user is not None:
        cmd += ["-u", user]
    if workdir is not None:
        cmd += ["-w", workdir]
    for key, value in env or []:
        cmd += ["-e", key if value is None else f"{key}={value}"]
    cmd.append(container)
    cmd += argv
    return Step(tuple(cmd), note=note)


# Every process a phase starts inherits this variable, so a timed-out phase's whole
# tree can be found and killed inside the container without touching the keep-alive.
PHASE_VAR = "BAKECTL_PHASE"
_KILL_PHASE = (
    'for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = "$$" ] && continue; '
    "tr '\\0' '\\n' < $d/environ 2>/dev/null | grep -qx \"$0\" && kill -9 $p 2>/dev/null; "
    "done; exit 0"
)


def kill_phase(container: str, phase: str) -> Step:
    """Kill every process of one phase inside a container (after its time ran out)."""
    return Step(
        ("docker", "exec", "-u", "0", container, "sh", "-c", _KILL_PHASE, f"{PHASE_VAR}={phase}")
    )


def copy_in(src: Path, container: str, dest: str) -> Step:
    # `src/.` copies the directory's contents; dest is created when missing.
    return Step(("docker", "cp", f"{src}/.", f"{container}:{dest.rstrip('/')}"))


def health_state(container: str) -> Step:
    return Step(
        (
            "docker",
            "container",
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}} {{json .State.Health}}",
            container,
        ),
        mutates=False,
    )


def image_configs(*refs: str) -> Step:
    """One line per image: its ID and its config (ENTRYPOINT, CMD, USER, WORKDIR, ...)."""
    return Step(
        ("docker", "image", "inspect", "--format", "{{.Id}} {{json .Config}}", *refs),
        mutates=False,
    )


def build_image(context: Path, tag: str, names: Names) -> Step:
    return Step(
        ("docker", "build", "-q", "--label", names.label, "-t", tag, str(context)),
    )


def wait(container: str, limit: float | None = None) -> Step:
    note = f"at most {limit:g} s, then: docker kill {container}" if limit else ""
    return Step(("docker", "wait", container), mutates=False, note=note)


def kill(container: str) -> Step:
    return Step(("docker", "kill", container))


def stop(container: str, seconds: int = 10) -> Step:
    return Step(("docker", "stop", "-t", str(seconds), container))


def state(container: str) -> Step:
    return Step(
        (
            "docker",
            "container",
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            container,
        ),
        mutates=False,
    )


def health_probe(container: str) -> Step:
    return Step(("docker", "exec", container, "python3", "-c", HEALTH_SCRIPT), mutates=False)


def logs(container: str) -> Step:
    return Step(("docker", "logs", container), mutates=False)


def copy_out(container: str, src: str, dest: Path) -> Step:
    # `src/.` copies the directory's contents, not the directory itself.
    return Step(("docker", "cp", f"{container}:{src.rstrip('/')}/.", str(dest)))


def commit(names: Names, container: str, image: str) -> Step:
    change = f"LABEL {names.label} {names.owner_label}"
    return Step(("docker", "commit", "--change", change, container, image))


def image_id(ref: str) -> Step:
    return Step(("docker", "image", "inspect", "--format", "{{.Id}}", ref), mutates=False)


def remove_containers(containers: list[str]) -> Step:
    # -v: anonymous volumes (an image's VOLUME) go with their container.
    return Step(("docker", "rm", "-f", "-v", *containers))


def remove_images(images: list[str]) -> Step:
    return Step(("docker", "image", "rm", "-f", *images))


def remove_networks(networks: list[str]) -> Step:
    return Step(("docker", "network", "rm", *networks))


def list_labelled(kind: str, run_id: str | None = None) -> Step:
    """Containers, networks or images carrying the run label (all runs, or one)."""
    flt = f"label={RUN_LABEL}" + (f"={run_id}" if run_id else "")
    if kind == "container":
        argv = ("docker", "ps", "-a", "--filter", flt, "--format", "{{.Names}}")
    elif kind == "network":
        argv = ("docker", "network", "ls", "--filter", flt, "--format", "{{.Name}}")
    else:
        argv = (
            "docker",
            "image",
            "ls",
            "--filter",
            flt,
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        )
    return Step(argv, mutates=False)


# -- execution ----------------------------------------------------------------------------


# One result type for every command bakectl runs (engine/plan.py's).
Outcome = ProcessResult


@dataclass
class Executor:
    """Runs Steps for one run through the engine's one runner (engine/plan.py's
    run_process; `dry()` prints instead; a FakeRunner in unit tests), echoes mutating
    ones, records every one for run.json.

    run_process starts each command in its own session, so a Ctrl-C reaches bakectl
    alone, which then cleans up; a docker CLI killed half-way would leave objects behind.
    """

    echo: TextIO | None = field(default_factory=lambda: sys.stderr)
    records: list[dict] = field(default_factory=list)
    runner: Runner = run_process

    @classmethod
    def dry(cls, out: TextIO) -> Executor:
        """`--dry-run`: every command printed (read-only ones too), none run; `docker wait`
        and `docker container inspect` answer as a healthy, finished run would."""
        answers = {"docker wait": "0\n", "docker container": "running 0 null\n"}
        return cls(echo=out, runner=DryRunner(out, answers=answers))

    @property
    def dry_run(self) -> bool:
        return isinstance(self.runner, DryRunner)

    def __call__(
        self,
        step: Step,
        *,
        phase: str,
        timeout: float | None = None,
        output: Path | None = None,
        record: bool = True,
    ) -> Outcome:
        echoes = self.echo is not None and step.mutates and not self.dry_run
        if echoes:
            print(f"$ {step.shell()}", file=self.echo, flush=True)
        start = time.monotonic()
        if output is not None:
            result = self.runner(step, output=output, timeout=timeout)
        else:
            result = self.runner(step, timeout=timeout)
        result.seconds = time.monotonic() - start
        if record:
            self.records.append(
                {
                    "phase": phase,
                    "command": step.shell(),
                    "exit_code": result.returncode,
                    "seconds": round(result.seconds, 3),
                    **({"timed_out": True} if result.timed_out else {}),
                    # Why it failed, kept in run.json: the last lines docker printed.
                    **({"stderr": _tail(result.stderr)} if not result.ok and result.stderr else {}),
                }
            )
        quiet = output is not None  # its output is in the file; the terminal stays short
        if echoes and not result.ok and result.stderr.strip() and not quiet:
            print(result.stderr.rstrip(), file=self.echo, flush=True)
        return result


def _tail(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def exit_code(text: str) -> int | None:
    """The number `docker wait` (or an `inspect` state line) prints; None when it printed none."""
    try:
        return int(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


def wait_bounded(x: Executor, container: str, limit: float, phase: str) -> tuple[int | None, bool]:
    """`docker wait` for at most `limit` s, then `docker kill`: (exit code, timed out)."""
    res = x(wait(container, limit=limit), phase=phase, timeout=limit)
    if not res.timed_out:
        return exit_code(res.stdout), False
    x(kill(container), phase=phase)
    res = x(wait(container), phase=phase, timeout=30)
    return exit_code(res.stdout), True


# -- run networks from a pool of small subnets ------------------------------------------------

DEFAULT_SUBNET_POOL = "10.213.0.0/16"
DEFAULT_SUBNET_PREFIX = 28  # 14 addresses: environment, gateway, sidecars


class SubnetPool:
    """Subnets for run networks, handed out one per network and returned at cleanup.

    Docker's default address pools hold about 30 networks; a pool of /28s in a
    private range bakectl manages holds thousands (BAKECTL_SUBNET_POOL,
    BAKECTL_SUBNET_PREFIX). Other processes (another bakectl, other networks) may
    hold a subnet too: docker refuses an overlap and the next one is tried. When
    every subnet is taken, `take` waits for one (the run queues; it does not fail).
    """

    def __init__(self, cidr: str | None = None, prefix: int | None = None) -> None:
        import ipaddress
        import threading

        cidr = cidr or os.environ.get("BAKECTL_SUBNET_POOL") or DEFAULT_SUBNET_POOL
        prefix = prefix or int(os.environ.get("BAKECTL_SUBNET_PREFIX") or DEFAULT_SUBNET_PREFIX)
        try:
            self.network = ipaddress.ip_network(cidr)
            if prefix < self.network.prefixlen or prefix > 29:
                raise ValueError(f"prefix /{prefix} does not fit {cidr} (at most /29)")
        except ValueError as exc:
            raise BakectlError(
                f"BAKECTL_SUBNET_POOL={cidr} / BAKECTL_SUBNET_PREFIX={prefix}: {exc}",
                "e.g. BAKECTL_SUBNET_POOL=10.213.0.0/16 BAKECTL_SUBNET_PREFIX=28",
            ) from None
        self.prefix = prefix
        self._used: set[int] = set()
        self._refused: dict[int, float] = {}  # taken elsewhere: skipped for a while
        self._cond = threading.Condition()
        self._next = int.from_bytes(os.urandom(2), "big")  # processes start apart

    @property
    def size(self) -> int:
        return 2 ** (self.prefix - self.network.prefixlen)

    def subnet(self, index: int) -> str:
        step = 2 ** (self.network.max_prefixlen - self.prefix)
        base = int(self.network.network_address) + index * step
        return f"{self.network.network_address.__class__(base)}/{self.prefix}"

    def take(self, timeout: float = 3600.0) -> int:
        """An index free in this process (waits while every one is in use)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                for k in range(self.size):
                    i = (self._next + k) % self.size
                    if i in self._used or self._refused.get(i, 0.0) > now:
                        continue
                    self._used.add(i)
                    self._next = i + 1
                    return i
                if now > deadline:
                    raise BakectlError(
                        f"no free subnet in {self.network} for {timeout:.0f} s",
                        "enlarge BAKECTL_SUBNET_POOL or lower -n",
                    )
                self._cond.wait(timeout=1.0)

    def refused(self, index: int) -> None:
        """Docker said the subnet overlaps another network: skip it for a minute."""
        with self._cond:
            self._used.discard(index)
            self._refused[index] = time.monotonic() + 60.0
            self._cond.notify_all()

    def give_back(self, index: int) -> None:
        with self._cond:
            self._used.discard(index)
            self._cond.notify_all()

    @property
    def in_use(self) -> int:
        with self._cond:
            return len(self._used)


_POOL: SubnetPool | None = None


def subnet_pool() -> SubnetPool:
    """The process's one pool (every run of a batch shares it)."""
    global _POOL
    if _POOL is None:
        _POOL = SubnetPool()
    return _POOL


# docker's words for "this subnet is someone else's" and "out of resources": the
# run tries another subnet, or waits and tries again, rather than fail.
_OVERLAP = ("overlaps", "address already in use", "conflicts with")
_EXHAUSTED = (
    "no available",
    "could not find an available",
    "exhausted",
    "too many",
    "cannot allocate memory",
    "resource temporarily unavailable",
)


def resource_exhausted(stderr: str) -> bool:
    """docker's words for an engine resource that ran out (worth waiting for)."""
    err = stderr.lower()
    return any(w in err for w in _EXHAUSTED)


def create_run_network(
    x: Executor, names: Names, name: str, *, internal: bool, phase: str = "setup"
) -> tuple[Outcome, int | None]:
    """Create a run network on a pool subnet: (last outcome, pool index or None)."""
    pool = subnet_pool()
    res: Outcome | None = None
    waited = 0.0
    for _ in range(64):
        index = pool.take()
        res = x(
            network_create(names, name, internal=internal, subnet=pool.subnet(index)), phase=phase
        )
        if res.ok:
            return res, index
        err = res.stderr.lower()
        if any(w in err for w in _OVERLAP):
            pool.refused(index)
            continue
        pool.give_back(index)
        if resource_exhausted(err) and waited < 300:
            time.sleep(2.0)  # an engine resource ran out: queue, then try again
            waited += 2.0
            continue
        break
    assert res is not None
    return res, None


def pool_summary() -> dict:
    """For `doctor`: the subnet pool runs take their networks from, and its size."""
    pool = subnet_pool()
    return {"cidr": str(pool.network), "prefix": pool.prefix, "size": pool.size}
