"""The docker commands of one run, as Steps, and a small executor for them.

Every name a run creates derives from its run id (`Names`), and every object
carries the label `dev.bakectl.run=<run_id>`, so `bakectl prune` finds
whatever an interrupted run left behind.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bakectl.engine.plan import Step
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


def network_create(names: Names, name: str, *, internal: bool) -> Step:
    argv = ["docker", "network", "create"]
    if internal:
        argv.append("--internal")
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
) -> Step:
    """`docker run -d` (never --rm: logs, state and files are read after it exits).

    env: (NAME, value), or (NAME, None) to pass the host's value by name, so the
    printed line (and run.json) never holds it.
    """
    argv = ["docker", "run", "-d", "--pull", "never", "--name", name, "--label", names.label]
    argv += ["--label", names.owner_label]
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
    if entrypoint is not None:
        argv += ["--entrypoint", entrypoint]
    argv.append(image)
    argv += args
    return Step(tuple(argv))


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


@dataclass
class Outcome:
    step: Step
    returncode: int | None  # None: timed out
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def last_error_line(self) -> str:
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith("Run 'docker")]
        return lines[-1] if lines else f"exit {self.returncode}"


@dataclass
class Executor:
    """Runs Steps for one run: echoes mutating ones, records every one for run.json.

    Commands run in their own session, so a Ctrl-C reaches bakectl alone, which
    then cleans up; a docker CLI killed half-way would leave objects behind.
    """

    echo: TextIO | None = field(default_factory=lambda: sys.stderr)
    records: list[dict] = field(default_factory=list)

    def __call__(
        self,
        step: Step,
        *,
        phase: str,
        timeout: float | None = None,
        output: Path | None = None,
        record: bool = True,
    ) -> Outcome:
        if self.echo is not None and step.mutates:
            print(f"$ {step.shell()}", file=self.echo, flush=True)
        env = {**os.environ, **dict(step.env)}
        start = time.monotonic()
        try:
            if output is not None:
                output.parent.mkdir(parents=True, exist_ok=True)
                with output.open("wb") as fh:
                    proc = subprocess.run(
                        step.argv,
                        env=env,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        timeout=timeout,
                        start_new_session=True,
                    )
                result = Outcome(step, proc.returncode)
            else:
                proc = subprocess.run(
                    step.argv,
                    env=env,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    stdin=subprocess.DEVNULL,
                    timeout=timeout,
                    start_new_session=True,
                )
                result = Outcome(step, proc.returncode, proc.stdout, proc.stderr)
        except subprocess.TimeoutExpired:
            result = Outcome(step, None)
        except FileNotFoundError as exc:
            raise BakectlError(
                f"command not found: {step.argv[0]}",
                "run 'make setup' (scripts/setup-engine.sh) to install the container engine",
            ) from exc
        result.seconds = time.monotonic() - start
        if record:
            self.records.append(
                {
                    "phase": phase,
                    "command": step.shell(),
                    "exit_code": result.returncode,
                    "seconds": round(result.seconds, 3),
                    **({"timed_out": True} if result.timed_out else {}),
                }
            )
        if self.echo is not None and step.mutates and not result.ok and result.stderr.strip():
            print(result.stderr.rstrip(), file=self.echo, flush=True)
        return result


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
