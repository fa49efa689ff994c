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
5. The verifier, as `bakectl score` runs it and as `run` would after the agent
   (runner.phases.verify_kept): the task's environment image started as a run starts it,
   the artifacts over its workdir, then the task's [verifier] environment_mode (shared:
   /tests copied in, `docker exec` as the verifier user; separate; snapshot).

The run directory is a task run directory (rundir.py) with agent "local": run.json (kind
"local", the command, the env names it got), result.json, score.json, trace.jsonl,
agent/output.log (CMD's stdout+stderr), agent/logs/, verifier/, gateway/, packet/, artifacts/.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakectl import __version__
from bakectl.engine import containers as ops
from bakectl.errors import BakectlError, UsageError
from bakectl.render.renderer import Renderer
from bakectl.results.records import Fault, ModelSource, TaskSource, primary_reward
from bakectl.results.rundir import RunDir, new_run_id, read_rewards, write_json
from bakectl.results.score import kept_work_spec, score_record, verify_kept_work
from bakectl.results.verdict import VerifierSeen, decide
from bakectl.runner.gateway_ctl import GatewayConfig, annotate_fixture, collect_trace
from bakectl.runner.outcome import (
    AttemptId,
    Ran,
    model_source,
    now_iso,
    seen_agent,
    seen_gateway,
    this_owner,
    write_attempt,
)
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


def run_command(
    command: str, *, cwd: Path, env: dict[str, str], log: Path, timeout: float
) -> CommandOutcome:
    """`bash -c command` in its own process group; the group dies at `timeout`, on Ctrl-C
    and when the command ends (a background child must not outlive the run)."""
    from bakectl.engine.plan import Step, run_process

    out = CommandOutcome()
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("wb") as fh:
        try:
            res = run_process(
                Step(("bash", "-c", command)),
                stdout=fh,
                stderr_to_stdout=True,
                cwd=cwd,
                env=env,
                timeout=timeout,
                kill_group_after=True,
            )
        except KeyboardInterrupt:
            out.interrupted = True
            out.exit_code = 130
            out.seconds = round(time.monotonic() - started, 3)
            return out
    out.timed_out = res.timed_out
    rc = 137 if res.timed_out else res.returncode  # killed with SIGKILL, as docker says it
    out.exit_code = 128 - rc if rc is not None and rc < 0 else rc
    out.seconds = round(res.seconds, 3)
    return out


def _copy_workdir_step(names: ops.Names, image: str) -> ops.Step:
    # `docker create` runs nothing: the image's files, then `docker cp` out of it.
    return ops.Step(
        ("docker", "create", "--name", names.agent, "--label", names.label)
        + ("--label", names.owner_label, image, "true")
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
    if shutil.which("bash") is None:
        raise UsageError("bash is not installed", "--agent-cmd runs with bash -c")
    model = with_recorded_model(o, replay_provenance(o)).model
    run_id = o.run_id or new_run_id(bench.name, task.id, LOCAL_AGENT)
    rd = RunDir(o.run_dir or o.out_dir.resolve() / run_id)
    if rd.root.exists():
        raise UsageError(f"run directory {rd.root} already exists", "pick another run id or --out")
    base = renderer.base(bench, task)
    ensure_images(renderer, [base], build=o.build, dry_run=o.dry_run)
    timeout = o.timeout_sec or task.spec.agent.timeout_sec
    names = ops.Names(run_id)
    cpus = min(task.spec.environment.cpus, float(os.cpu_count() or 1))
    if o.dry_run:
        _print_plan(o, command, names, base.image, bench, rd, timeout, task)
        return TaskResult(
            run_id, bench.name, task.id, LOCAL_AGENT, model, "dry-run", None, False, "", None, 0.0
        )

    x = ops.Executor(echo=o.echo)
    rd.create(gateway=o.gateway is not None)
    packet = rd.root / PACKET_DIR
    (packet / "workdir").mkdir(parents=True)
    shutil.copyfile(task.instruction, packet / "instruction.md")
    started_at = now_iso()
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    exit_codes: dict[str, int | None] = {}
    fault: Fault | None = None
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
            pins = {"eval": base.image, "base": base.image}
            spec = kept_work_spec(bench, task, LOCAL_AGENT, run_id, rd.root, pins, echo=o.echo)
            v = verify_kept_work(x, spec, rd.artifacts)
            exit_codes["verifier"] = v.exit_code
            timings["verifier"] = v.seconds
        except KeyboardInterrupt:
            interrupted = True
            where = "the command" if "agent" in exit_codes or cmd.interrupted else "setup"
            if v is not None or "verifier" in exit_codes:
                where = "the verifier"
            fault = Fault.of("interrupted", f"interrupted during {where}")
        except BakectlError as exc:
            kind = "gateway_start" if "gateway could not start" in exc.message else "engine"
            fault = Fault.of(kind, exc.message)
        finally:
            if gw is not None:
                gw.stop()
                collect_trace(rd.gateway, rd.trace)
    seconds = time.monotonic() - t0
    rewards: dict[str, float] = {}
    verifier = None
    if v is not None and v.fault is not None:
        fault = fault or v.fault
    elif v is not None:
        rewards, problem, bad = read_rewards(rd.verifier_logs)
        verifier = VerifierSeen(
            rewards=rewards,
            reward=primary_reward(rewards),
            problem=problem,
            bad_reward=bad,
            exit_code=v.exit_code,
        )
    gateway = tokens = None
    if o.gateway is not None and "agent" in exit_codes:
        gateway, tokens = seen_gateway(rd.gateway, rd.trace if rd.trace.is_file() else None)
    agent = seen_agent(cmd.exit_code, cmd.timed_out, timeout, rd.root / "agent" / OUTPUT_LOG)
    verdict = decide(agent=agent, verifier=verifier, gateway=gateway, fault=fault)
    reward = primary_reward(rewards)
    notes: list[str] = []
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
            notes.append(problem)
    notes.append(f"the command got these environment variables: {', '.join(sorted(env))}")
    ran = Ran(
        images={"verifier": {"ref": base.image, "id": image_id}},
        commands=x.records,
        exit_codes=exit_codes,
        timings=timings,
        limits={
            "agent_timeout_sec": timeout,
            "verifier_timeout_sec": task.spec.verifier.timeout_sec,
            "cpus": cpus,  # as capped to this host, like container runs
            "memory_mb": task.spec.environment.memory_mb,
        },
        gateway=model_source(o.gateway),
        notes=notes,
        started_at=started_at,
    )
    if v is not None:
        write_json(rd.root / "score.json", score_record(rd.verifier_logs, reward, task.tests_dir))
    who = AttemptId(
        run_id=run_id,
        job_id=o.job_id,
        benchmark=bench.name,
        task=task.id,
        agent=LOCAL_AGENT,
        attempt=o.attempt,
        model=model,
    )
    record = write_attempt(
        rd.root,
        who,
        verdict,
        ran=ran,
        rewards=rewards,
        agent=agent,
        verifier_exit_code=v.exit_code if v is not None else None,
        tokens=tokens,
        seconds=seconds,
    )
    if interrupted:
        raise KeyboardInterrupt
    return TaskResult.of(record, rd.root)


def resolve_command(command: str, cwd: Path | None = None) -> str:
    """CMD with each word that names a file or directory in the caller's working directory
    made absolute: CMD runs in the run's artifacts/, where `python3 my_agent.py` would
    not resolve. Words that name nothing here stay as typed."""
    cwd = cwd or Path.cwd()
    try:
        words = shlex.split(command)
    except ValueError:
        return command  # unbalanced quotes: bash will say so
    changed = False
    for i, word in enumerate(words):
        if word.startswith(("-", "/", "~", "$")) or "=" in word.split("/", 1)[0]:
            continue
        if (cwd / word).exists():
            words[i] = str((cwd / word).resolve())
            changed = True
    return shlex.join(words) if changed else command


def run_local_job(
    renderer: Renderer, benchmark: str, task_id: str, command: str, options: RunOptions
) -> TaskResult:
    """--agent-cmd as a job of one: <out>/<job_id>/job.json + tasks/<task>/attempt-1/."""
    from bakectl.runner import job as jobs

    catalog = renderer.catalog
    catalog.benchmark(benchmark)
    catalog.task(benchmark, task_id)
    if not command.strip():
        raise UsageError("--agent-cmd is empty", 'e.g. --agent-cmd "python3 my_agent.py"')
    command = resolve_command(command)
    gw = options.gateway
    source = model_source(gw)
    record = jobs.job_record(
        job_id=jobs.new_job_id(benchmark, LOCAL_AGENT),
        source=TaskSource(kind="catalog", location=str(catalog.root), benchmark=benchmark),
        task_ids=[task_id],
        agent=LOCAL_AGENT,
        agent_cmd=command,
        model=options.model,
        model_source=source or ModelSource(),
        agent_timeout_sec=options.timeout_sec,
        no_build=not options.build,
        owner=this_owner(),
        **jobs.provenance(catalog.root),
    )
    if options.dry_run:
        return run_local(renderer, benchmark, task_id, command, options)
    job_dir = jobs.open_job(options.out_dir, record)
    d = jobs.attempt_dir(job_dir, task_id, 1)
    d.parent.mkdir(parents=True)
    opts = dataclasses.replace(
        options, run_id=jobs.run_id(record.job_id, task_id, 1), run_dir=d, job_id=record.job_id
    )
    try:
        return run_local(renderer, benchmark, task_id, command, opts)
    finally:
        from bakectl.runner.batch import write_job_summary

        write_job_summary(job_dir)


def _read_only(root: Path) -> None:
    """Files read-only (directories stay writable, so the run dir can be deleted)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                p.chmod(p.stat().st_mode & ~0o222)


def _print_plan(o, command, names, image, bench, rd, timeout, task) -> None:
    from bakectl.runner.phases import DryExecutor, RunState, verify_kept

    workdir = bench.spec.workdir
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
    print(f"# the verifier ({task.spec.verifier.mode}), over {rd.artifacts}:")
    pins = {"eval": image, "base": image}
    spec = kept_work_spec(
        bench, task, LOCAL_AGENT, names.run_id, rd.root, pins, echo=None, dry_run=True
    )
    verify_kept(spec, DryExecutor(echo=sys.stdout), RunState(), rd.artifacts)
