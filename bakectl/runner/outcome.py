"""An attempt's records: what the three parties saw, the verdict, run.json and result.json.

Every way a task runs (a container run, an --agent-cmd run on the host, a bundle task, an
attempt that never started) ends here: `seen_gateway` and `seen_agent` read what the
gateway and the agent left in the run directory, `verdict.decide` decides the status, and
`write_attempt` writes the RunRecord and the ResultRecord through `write_record`, the one
writer of each file.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bakectl.engine.containers import process_start
from bakectl.results.records import (
    CommandRecord,
    Fault,
    ImageRef,
    ModelSource,
    Owner,
    ResultRecord,
    RunRecord,
    Tokens,
    cut,
    is_pass,
    primary_reward,
    write_record,
)
from bakectl.results.rundir import read_gateway_summary, trace_tokens
from bakectl.results.verdict import AgentSeen, GatewaySeen, Verdict

STDERR_TAIL = 2000  # characters of the agent's output kept in result.json


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_OWNER: Owner | None = None


def this_owner() -> Owner:
    """This bakectl process, as `prune` tells live owners from gone ones."""
    global _OWNER
    if _OWNER is None or _OWNER.pid != os.getpid():
        pid = os.getpid()
        _OWNER = Owner(host=socket.gethostname(), pid=pid, started_at=process_start(pid))
    return _OWNER


@dataclass(frozen=True)
class AttemptId:
    """Who an attempt is: the fields every record of it repeats."""

    run_id: str
    job_id: str
    benchmark: str
    task: str
    agent: str
    attempt: int = 1
    agent_version: str | None = None
    model: str | None = None


@dataclass
class Ran:
    """What a run did, for run.json (all optional: an attempt that never started has none)."""

    images: dict[str, dict] = field(default_factory=dict)  # role -> {"ref", "id"}
    commands: list[dict] = field(default_factory=list)  # Executor.records
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    gateway: ModelSource | None = None
    notes: list[str] = field(default_factory=list)
    started_at: str | None = None


def model_source(gateway: Any) -> ModelSource | None:
    """A GatewayConfig as the records name it."""
    if gateway is None:
        return None
    d = gateway.describe()
    return ModelSource(kind=d["mode"], location=d["fixture"], upstream=d["upstream"])


def seen_gateway(gateway_dir: Path, trace: Path | None) -> tuple[GatewaySeen, Tokens]:
    """What the gateway saw, from its summary.json (misses, exhausted, upstream failures) and
    the trace (tokens, upstream 5xx answers it passed through)."""
    summary = read_gateway_summary(gateway_dir) or {}
    tin, tout, cached, n, bad = trace_tokens(trace) if trace is not None else (0, 0, 0, 0, [])

    def count(*keys: str) -> int:
        return sum(v for k in keys if isinstance(v := summary.get(k), int))

    failures = summary.get("failures") if isinstance(summary.get("failures"), list) else []
    first = ""
    if failures and isinstance(failures[0], dict):
        f = failures[0]
        first = f"{f.get('type', 'error')} on {f.get('endpoint', '?')}"
        if f.get("diff"):
            first += (
                f" (differs from the nearest recording in {', '.join(map(str, f['diff'][:3]))})"
            )
        elif f.get("message"):
            first += f": {f['message']}"
    upstream_errors = count("transient", "upstream_errors")
    if not upstream_errors and bad:
        upstream_errors = len(bad)
        first = first or f"the upstream answered {bad[0]}"
    seen = GatewaySeen(
        misses=count("misses"),
        exhausted=count("exhausted"),
        upstream_unreachable=count("errors", "upstream_unreachable"),
        upstream_errors=upstream_errors,
        first_error=first,
    )
    return seen, Tokens(input=tin, output=tout, cached=cached, requests=n)


def tail(path: Path, limit: int = STDERR_TAIL) -> str:
    """The last `limit` characters of a log (the agent's stderr and stdout, interleaved)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit * 4))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return text[-limit:].strip()


def seen_agent(
    exit_code: int | None, timed_out: bool, timeout_sec: float | None, log: Path | None
) -> AgentSeen:
    stderr = tail(log) if log is not None and exit_code not in (None, 0) else ""
    return AgentSeen(
        exit_code=exit_code, timed_out=timed_out, timeout_sec=timeout_sec, stderr_tail=stderr
    )


def write_attempt(
    d: Path,
    who: AttemptId,
    verdict: Verdict,
    *,
    ran: Ran | None = None,
    rewards: dict[str, float] | None = None,
    agent: AgentSeen | None = None,
    verifier_exit_code: int | None = None,
    tokens: Tokens | None = None,
    seconds: float = 0.0,
) -> ResultRecord:
    """run.json and result.json of one attempt (run.json first: a result never lacks one)."""
    ran = ran or Ran()
    d.mkdir(parents=True, exist_ok=True)
    finished = now_iso()
    timings = {**ran.timings, "total": round(seconds, 3)}
    write_record(
        d / "run.json",
        RunRecord(
            run_id=who.run_id,
            job_id=who.job_id,
            benchmark=who.benchmark,
            task=who.task,
            agent=who.agent,
            attempt=who.attempt,
            images={
                role: ImageRef(ref=str(i.get("ref") or ""), id=i.get("id"))
                for role, i in ran.images.items()
            },
            commands=[_command(c) for c in ran.commands],
            exit_codes=ran.exit_codes,
            timings=timings,
            limits=ran.limits,
            gateway=ran.gateway,
            owner=this_owner(),
            notes=ran.notes,
        ),
    )
    rewards = dict(rewards or {})
    scored = verdict.status in ("passed", "failed", "timeout")
    reward = primary_reward(rewards) if scored else None
    agent = agent or AgentSeen()
    record = ResultRecord(
        run_id=who.run_id,
        job_id=who.job_id,
        benchmark=who.benchmark,
        task=who.task,
        agent=who.agent,
        agent_version=who.agent_version,
        model=who.model,
        attempt=who.attempt,
        status=verdict.status,
        fault=verdict.fault,
        reward=reward,
        rewards=rewards if scored else {},
        passed=verdict.status == "passed" and is_pass(reward),
        message=cut(verdict.message),
        agent_exit_code=agent.exit_code,
        verifier_exit_code=verifier_exit_code,
        agent_stderr_tail=agent.stderr_tail,
        tokens=tokens or Tokens(),
        timings=timings,
        started_at=ran.started_at or finished,
        finished_at=finished,
    )
    write_record(d / "result.json", record)
    return record


def _command(c: dict) -> CommandRecord:
    return CommandRecord(
        line=str(c.get("command", "")),
        exit_code=c.get("exit_code"),
        seconds=c.get("seconds"),
        stderr=cut(str(c.get("stderr") or ""), 500),
    )


def unrun(d: Path, who: AttemptId, status: str, fault: Fault) -> ResultRecord:
    """The records of an attempt that never started (invalid, image build failed, interrupted)."""
    verdict = Verdict(status, fault, fault.message)  # type: ignore[arg-type]
    return write_attempt(d, who, verdict)
