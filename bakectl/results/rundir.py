"""The run directory: its layout, its JSON files, and reading the verifier's reward.

    <out>/<run_id>/
      run.json            what ran: images and digests, every command, timings, exit codes, status
      result.json         benchmark, task, agent, model, reward, passed, status, message
      trace.jsonl         the gateway's exchanges (when a gateway ran and kept any)
      agent/container.log     the agent container's stdout+stderr (docker logs)
      agent/logs/             mounted at /logs/agent (writable by the agent)
      verifier/container.log  the verifier container's stdout+stderr
      verifier/logs/          mounted at /logs/verifier: reward.txt or reward.json
      gateway/                gateway.log and summary.json (when a gateway ran)
      artifacts/              the agent container's workdir after the agent phase

Rewards, as Harbor reads them: reward.txt (its first line) is the metric `reward`
and wins when both files exist; otherwise reward.json, a flat object of named
numeric metrics, kept as named. The primary reward is the metric `reward`, else
the mean of the metrics (records.primary_reward). A task passes when it is >= 1.0.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PASS_THRESHOLD = 1.0


def new_run_id(benchmark: str, task: str, agent: str, now: datetime | None = None) -> str:
    """e.g. 20261123T130501Z-arith-1-oracle-3fa2: sortable by time, unique per run."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{benchmark}-{task}-{agent}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def result_json(self) -> Path:
        return self.root / "result.json"

    @property
    def trace(self) -> Path:
        return self.root / "trace.jsonl"

    @property
    def agent_logs(self) -> Path:
        return self.root / "agent" / "logs"

    @property
    def agent_output(self) -> Path:
        return self.root / "agent" / "container.log"

    @property
    def verifier_logs(self) -> Path:
        return self.root / "verifier" / "logs"

    @property
    def verifier_output(self) -> Path:
        return self.root / "verifier" / "container.log"

    @property
    def gateway(self) -> Path:
        return self.root / "gateway"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def create(self, *, gateway: bool) -> None:
        self.root.mkdir(parents=True, exist_ok=False)
        for d in (self.agent_logs, self.verifier_logs, self.artifacts):
            d.mkdir(parents=True)
        # The agent runs as a non-root user whose uid the host does not know.
        self.agent_logs.chmod(0o777)
        if gateway:
            self.gateway.mkdir()


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename it: a reader (a batch summary, a
    report) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_rewards(logs: Path) -> tuple[dict[str, float], str, bool]:
    """The verifier's named rewards, as Harbor reads them: reward.txt first (its first line,
    the metric `reward`), else reward.json (an object of named numbers, kept as named).
    Returns (rewards, why there are none, whether a reward file was written but is bad)."""
    txt, js = logs / "reward.txt", logs / "reward.json"
    if txt.is_file():
        raw = txt.read_text(errors="replace").strip()
        first = raw.splitlines()[0].strip() if raw else ""
        if not first:
            return {}, "reward.txt is empty", True
        try:
            value = float(first)
        except ValueError:
            return {}, f"reward.txt is not a number: {first[:60]!r}", True
        if not math.isfinite(value):
            return {}, f"reward.txt is {first!r}", True
        return {"reward": value}, "", False
    if js.is_file():
        try:
            data = json.loads(js.read_text(errors="replace"))
        except ValueError as exc:
            return {}, f"reward.json is not valid JSON: {exc}", True
        if _number(data) is not None:  # a bare number: bakectl's older tasks wrote one
            return {"reward": _number(data)}, "", False  # type: ignore[dict-item]
        if not isinstance(data, dict) or not data:
            return {}, "reward.json holds neither a number nor an object of scores", True
        rewards: dict[str, float] = {}
        for name, v in data.items():
            value = _number(v)
            if value is None:
                return {}, f"reward.json {name!r} is not a finite number", True
            rewards[str(name)] = value
        return rewards, "", False
    return {}, "no reward written", False


def read_reward(logs: Path) -> tuple[float | None, str]:
    """(primary reward, "") or (None, why there is none)."""
    from bakectl.results.records import primary_reward

    rewards, problem, _bad = read_rewards(logs)
    return primary_reward(rewards), problem


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


# -- what the gateway saw ---------------------------------------------------------------------


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def usage_tokens(usage: Any) -> tuple[int, int, int]:
    """(input, output, cached) of one exchange's provider usage: OpenAI Chat
    (prompt/completion_tokens), OpenAI Responses and Anthropic (input/output_tokens;
    Anthropic's cache reads and writes are input it does not count in input_tokens)."""
    if not isinstance(usage, dict):
        return 0, 0, 0
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        details = usage.get("prompt_tokens_details") or {}
        cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
        return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), cached
    tin, tout = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
    details = usage.get("input_tokens_details") or {}
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    read = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    return tin + read + written, tout, cached + read


def trace_tokens(trace: Path) -> tuple[int, int, int, int, list[int]]:
    """(input, output, cached, requests, upstream 5xx statuses) summed over a trace.jsonl."""
    tin = tout = cached = n = 0
    bad: list[int] = []
    try:
        fh = trace.open(encoding="utf-8", errors="replace")
    except OSError:
        return 0, 0, 0, 0, []
    with fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a killed gateway
            ex = entry.get("exchange") if isinstance(entry, dict) else None
            if not isinstance(ex, dict):
                continue
            n += 1
            a, b, c = usage_tokens(ex.get("usage"))
            tin, tout, cached = tin + a, tout + b, cached + c
            status = ex.get("status")
            if isinstance(status, int) and status >= 500:
                bad.append(status)
    return tin, tout, cached, n, bad


def read_gateway_summary(gateway_dir: Path) -> dict[str, Any] | None:
    """The gateway's own summary.json (written at its shutdown); None when it wrote none."""
    try:
        data = json.loads((gateway_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_ATTEMPT_RE = re.compile(r"^attempt-(\d+)$")


def attempt_dirs(task_dir: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """(k, path) of a batch task's attempt-<k>/ directories, in numeric order
    (attempt-10 after attempt-9). Strings, not Paths: reports read 10,000 of them."""
    task_dir = os.fspath(task_dir)
    try:
        names = os.listdir(task_dir)
    except OSError:
        return []
    found = []
    for name in names:
        m = _ATTEMPT_RE.match(name)
        if m and os.path.isdir(task_dir + "/" + name):
            found.append((int(m.group(1)), task_dir + "/" + name))
    return sorted(found)
