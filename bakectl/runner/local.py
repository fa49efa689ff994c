"""Run an agent as a plain command on this host, then score it with the real verifier.

    result = run_local(renderer, "arith", "1", "echo 391 > answer.txt", RunOptions())

For agent developers iterating without an agent image (`bakectl run B -t T --agent-cmd CMD`):

1. The task packet, an allow-list: `packet/instruction.md` and `packet/workdir/`, the
   workdir of the task's environment image (what an agent in a container sees there),
   copied out of a throwaway container. Nothing of tests/ or solution/ is ever read for
   it; the environment image cannot hold them (the visibility boundary).
2. `artifacts/`: a copy of packet/workdir, where CMD runs (`bash -c CMD`, cwd = it).
3. With a model source (--replay / --record / --upstream) the gateway runs in-process on
   loopback (bakectl.gateway.start_in_thread, --trace into the run dir).
4. CMD gets an allow-listed environment (LOCAL_ENV from the host; BAKECTL_INSTRUCTION,
   BAKECTL_WORKDIR, BAKECTL_AGENT_LOG_DIR, BAKECTL_MODEL; with a gateway OPENAI_BASE_URL /
   ANTHROPIC_BASE_URL and placeholder keys), runs in its own process group, and the
   whole group is killed (SIGKILL) at the time limit, and once CMD exits (stragglers).
5. The verifier container, as `bakectl score` runs it: the environment image, the
   artifacts copied over its workdir, tests/ mounted read-only, the runtime's
   entrypoint.sh mounted from the catalog, `--user 0 --network none`.

The run directory is a task run directory (rundir.py) with agent "local": run.json (kind
"local", the command, the env names it got), result.json, score.json, trace.jsonl,
agent/output.log (CMD's stdout+stderr), agent/logs/, verifier/, gateway/, packet/, artifacts/.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bakectl import __version__
from bakectl.engine import containers as ops
from bakectl.errors import BakectlError, UsageError
from bakectl.render.renderer import Renderer
from bakectl.results.rundir import RunDir, new_run_id, write_json
from bakectl.results.score import score_record, status_of, verify_artifacts
from bakectl.runner.gateway_ctl import GatewayConfig, annotate_fixture, collect_trace
from bakectl.runner.spec import (
    RunOptions,
    TaskResult,
    check_timeout,
    ensure_images,
    replay_provenance,
    with_recorded_model,
)
from bakectl.signals import sigterm_interrupts

LOCAL_AGENT = "local"
# Host variables CMD inherits; nothing else of the host's environment reaches it.
LOCAL_ENV = ("PATH", "HOME", "LANG")
PLACEHOLDER_KEY = "bakectl-placeholder"
PACKET_DIR = "packet"
OUTPUT_LOG = "output.log"


def command_env(
    *,
    instruction: Path,
    workdir: Path,
    log_dir: Path,
    model: str | None,
    gateway_url: str | None,
    host: dict[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of CMD: an allow-list, never the host's credentials."""
    host = os.environ if host is None else host
    env = {k: host[k] for k in LOCAL_ENV if k in host}
    env.setdefault("PATH", os.defpath)
    env.update(
        BAKECTL_INSTRUCTION=str(instruction),
        BAKECTL_WORKDIR=str(workdir),
        BAKECTL_AGENT_LOG_DIR=str(log_dir),
    )
    if model:
        env["BAKECTL_MODEL"] = model
    if gateway_url:
        env.update(
            OPENAI_BASE_URL=f"{gateway_url}/v1",
            ANTHROPIC_BASE_URL=f"{gateway_url}/anthropic",
            OPENAI_API_KEY=PLACEHOLDER_KEY,
            ANTHROPIC_API_KEY=PLACEHOLDER_KEY,
        )
    return env


@dataclass
class CommandOutcome:
    exit_code: int | None = None
    timed_out: bool = False
    interrupted: bool = False
    seconds: float = 0.0


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_command(
    command: str, *, cwd: Path, env: dict[str, str], log: Path, timeout: float
) -> CommandOutcome:
    """`bash -c command` in its own process group; the group dies at `timeout` and when
    the command ends (a background child must not outlive the run)."""
    out = CommandOutcome()
    started = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and process group (pgid = pid)
        )
    try:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            out.timed_out = True
            _kill_group(proc.pid)
            proc.wait()
        except KeyboardInterrupt:
            out.interrupted = True
            _kill_group(proc.pid)
            proc.wait()
    finally:
        _kill_group(proc.pid)  # stragglers that outlived the leader
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rc = proc.returncode
    out.exit_code = 128 - rc if rc is not None and rc < 0 else rc  # SIGKILL -> 137, as docker
    out.seconds = round(time.monotonic() - started, 3)
    return out


def _copy_workdir_step(names: ops.Names, image: str) -> ops.Step:
    # `docker create` runs nothing: the image's files, then `docker cp` out of it.
    return ops.Step(
        ("docker", "create", "--name", names.agent, "--label", names.label, image, "true")
    )


def _start_gateway(config: GatewayConfig, rd: RunDir, provenance: dict[str, Any]):
    from bakectl.gateway import GatewayError, start_in_thread

    config.prepare_host()
    try:
        return start_in_thread(
            config.mode,
            config.fixture,
            config.upstream,
            summary=rd.gateway / "summary.json",
            trace=rd.gateway / "trace.jsonl",
            provenance=provenance if config.mode == "record" else None,
            rules=config.rules,
        )
    except GatewayError as exc:
        raise BakectlError(f"the gateway could not start: {exc.message}", exc.hint) from None


def run_local(
    renderer: Renderer, benchmark: str, task_id: str, command: str, options: RunOptions
) -> TaskResult:
    """Packet, CMD, verifier; every docker object it makes is gone when this returns."""
    o = options
    catalog = renderer.catalog
    bench = catalog.benchmark(benchmark)
    task = catalog.task(benchmark, task_id)
    if not command.strip():
        raise UsageError("--agent-cmd is empty", 'e.g. --agent-cmd "python3 my_agent.py"')
    check_timeout(o.timeout_sec)
    entrypoint = catalog.core_dir / "entrypoint.sh"
    if not entrypoint.is_file():
        raise UsageError(f"the runtime is missing: {entrypoint}", "containers/core holds it")
    if shutil.which("bash") is None:
        raise UsageError("bash is not installed", "--agent-cmd runs with bash -c")
    model = with_recorded_model(o, replay_provenance(o)).model
    run_id = o.run_id or new_run_id(bench.name, task.id, LOCAL_AGENT)
    rd = RunDir(o.out_dir.resolve() / run_id)
    if rd.root.exists():
        raise UsageError(f"run directory {rd.root} already exists", "pick another run id or --out")
    base = renderer.base(bench, task)
    ensure_images(renderer, [base], build=o.build, dry_run=o.dry_run)
    timeout = o.timeout_sec or task.spec.agent.timeout_sec
    names = ops.Names(run_id)
    cpus = min(task.spec.environment.cpus, float(os.cpu_count() or 1))
    if o.dry_run:
        _print_plan(
            o, command, names, base.image, bench.spec.workdir, rd, timeout, entrypoint, task, cpus
        )
        return _result(run_id, bench.name, task.id, model, "dry-run", None, "", None, 0.0)

    x = ops.Executor(echo=o.echo)
    rd.create(gateway=o.gateway is not None)
    packet = rd.root / PACKET_DIR
    (packet / "workdir").mkdir(parents=True)
    shutil.copyfile(task.instruction, packet / "instruction.md")
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    exit_codes: dict[str, int | None] = {}
    error = ""
    cmd = CommandOutcome()
    env: dict[str, str] = {}
    gw = None
    image_id = None
    v = None
    interrupted = False
    with sigterm_interrupts():
        try:
            res = x(ops.image_id(base.image), phase="setup", record=False)
            image_id = (res.stdout.strip() or None) if res.ok else None
            try:
                if not x(_copy_workdir_step(names, base.image), phase="setup").ok:
                    raise BakectlError(f"could not create a container from {base.image}")
                res = x(
                    ops.copy_out(names.agent, bench.spec.workdir, packet / "workdir"), phase="setup"
                )
                if not res.ok:
                    raise BakectlError(f"could not copy the workdir out: {res.last_error_line()}")
            finally:
                x(ops.remove_containers([names.agent]), phase="setup")
            shutil.copytree(packet / "workdir", rd.artifacts, symlinks=True, dirs_exist_ok=True)
            _read_only(packet)  # the pristine packet stays as it was handed out
            timings["setup"] = round(time.monotonic() - t0, 3)
            if o.gateway is not None:
                gw = _start_gateway(
                    o.gateway,
                    rd,
                    {
                        "benchmark": bench.name,
                        "task": task.id,
                        "agent": LOCAL_AGENT,
                        "model": model,
                    },
                )
            env = command_env(
                instruction=packet / "instruction.md",
                workdir=rd.artifacts,
                log_dir=rd.agent_logs,
                model=model,
                gateway_url=gw.url if gw else None,
            )
            if o.echo is not None:
                print(
                    f"$ (cd {shlex.quote(str(rd.artifacts))} && bash -c {shlex.quote(command)})",
                    file=o.echo,
                    flush=True,
                )
            cmd = run_command(
                command,
                cwd=rd.artifacts,
                env=env,
                log=rd.root / "agent" / OUTPUT_LOG,
                timeout=timeout,
            )
            exit_codes["agent"] = cmd.exit_code
            timings["agent"] = cmd.seconds
            x.records.append(
                {
                    "phase": "agent",
                    "command": f"bash -c {shlex.quote(command)}",
                    "exit_code": cmd.exit_code,
                    "seconds": cmd.seconds,
                    **({"timed_out": True} if cmd.timed_out else {}),
                }
            )
            if cmd.interrupted:
                raise KeyboardInterrupt
            if gw is not None:
                gw.stop()
                gw = None
                collect_trace(rd.gateway, rd.trace)
            v = verify_artifacts(
                x,
                names,
                base.image,
                workdir=bench.spec.workdir,
                artifacts=rd.artifacts,
                tests=task.tests_dir,
                rundir=rd,
                timeout=task.spec.verifier.timeout_sec,
                cpus=cpus,
                memory_mb=task.spec.environment.memory_mb,
                entrypoint=entrypoint,
            )
            exit_codes["verifier"] = v.exit_code
            timings["verifier"] = v.seconds
        except KeyboardInterrupt:
            interrupted = True
            error = "interrupted"
        except BakectlError as exc:
            error = exc.message
        finally:
            if gw is not None:
                gw.stop()
                collect_trace(rd.gateway, rd.trace)
    seconds = time.monotonic() - t0
    timings["total"] = round(seconds, 3)
    if error:
        status, message = "error", error
    elif v is None:
        status, message = "error", "the command was not scored"
    else:
        status, message = status_of(v, cmd.timed_out, f"the command timed out after {timeout:g} s")
    reward = v.reward if v is not None else None
    result = _result(run_id, bench.name, task.id, model, status, reward, message, rd.root, seconds)
    warnings: list[str] = []
    if o.gateway is not None and o.gateway.mode == "record":
        problem = annotate_fixture(
            o.gateway,
            rd.gateway,
            bakectl_version=__version__,
            benchmark=bench.name,
            task=task.id,
            agent=LOCAL_AGENT,
            data_revision=bench.spec.version,
            reward=reward,
            model=model,
        )
        if problem:
            warnings.append(problem)
    write_json(
        rd.run_json,
        {
            "run_id": run_id,
            "kind": "local",
            "bakectl_version": __version__,
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "benchmark": bench.name,
            "task": task.id,
            "agent": LOCAL_AGENT,
            "agent_command": command,
            "data_revision": bench.spec.version,
            "model": model,
            "images": {"verifier": {"ref": base.image, "id": image_id}},
            "gateway": o.gateway.describe() if o.gateway else None,
            "limits": {
                "agent_timeout_sec": timeout,
                "verifier_timeout_sec": task.spec.verifier.timeout_sec,
                "cpus": cpus,  # as capped to this host, like container runs
                "memory_mb": task.spec.environment.memory_mb,
            },
            "env_names": sorted(env),
            "commands": x.records,
            "timings": timings,
            "exit_codes": exit_codes,
            "agent_timed_out": cmd.timed_out,
            "trace": rd.trace.name if rd.trace.is_file() else None,
            "warnings": warnings,
            "status": status,
            "message": message,
        },
    )
    if v is not None:
        write_json(rd.root / "score.json", score_record(rd.verifier_logs, reward, task.tests_dir))
    data = result.to_json()
    data.pop("run_dir")
    write_json(rd.result_json, data)
    if interrupted:
        raise KeyboardInterrupt
    return result


def _read_only(root: Path) -> None:
    """Files read-only (directories stay writable, so the run dir can be deleted)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                p.chmod(p.stat().st_mode & ~0o222)


def _result(run_id, bench, task, model, status, reward, message, run_dir, seconds) -> TaskResult:
    return TaskResult(
        run_id=run_id,
        benchmark=bench,
        task=task,
        agent=LOCAL_AGENT,
        model=model,
        status=status,
        reward=reward,
        passed=status == "passed",
        message=message,
        run_dir=run_dir,
        duration_sec=seconds,
    )


def _print_plan(o, command, names, image, workdir, rd, timeout, entrypoint, task, cpus) -> None:
    from bakectl.results.score import verify_step

    print(f"# task packet: {rd.root / PACKET_DIR}: instruction.md + {image}'s {workdir}")
    for step in (
        _copy_workdir_step(names, image),
        ops.copy_out(names.agent, workdir, rd.root / PACKET_DIR / "workdir"),
        ops.remove_containers([names.agent]),
    ):
        print(f"$ {step.shell()}")
    if o.gateway is not None:
        print(f"# the gateway runs in-process on 127.0.0.1 ({o.gateway.mode})")
    print(f"# in {rd.artifacts}, at most {timeout:g} s, its process group killed after:")
    print(f"$ bash -c {shlex.quote(command)}")
    step = verify_step(
        names,
        image,
        workdir=workdir,
        artifacts=rd.artifacts,
        tests=task.tests_dir,
        logs=rd.verifier_logs,
        cpus=cpus,
        memory_mb=task.spec.environment.memory_mb,
        entrypoint=entrypoint,
    )
    for s in (step, ops.wait(names.verifier), ops.remove_containers([names.verifier])):
        print(f"$ {s.shell()}")
