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

Rewards: reward.txt holds one float. reward.json holds {"reward": x}, or a flat
object of named numeric scores whose mean is the reward. A task passes when
its reward is >= 1.0.
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


def read_reward(logs: Path) -> tuple[float | None, str]:
    """(reward, "") or (None, why there is none)."""
    txt, js = logs / "reward.txt", logs / "reward.json"
    if txt.is_file():
        raw = txt.read_text(errors="replace").strip()
        try:
            value = float(raw)
        except ValueError:
            return None, f"reward.txt is not a number: {raw[:60]!r}"
        return (value, "") if math.isfinite(value) else (None, f"reward.txt is {raw!r}")
    if js.is_file():
        try:
            data = json.loads(js.read_text(errors="replace"))
        except ValueError as exc:
            return None, f"reward.json is not valid JSON: {exc}"
        return _json_reward(data)
    return None, "no reward written"


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _json_reward(data: Any) -> tuple[float | None, str]:
    if _number(data) is not None:
        return _number(data), ""
    if not isinstance(data, dict) or not data:
        return None, "reward.json holds neither a number nor an object of scores"
    if "reward" in data:
        value = _number(data["reward"])
        return (value, "") if value is not None else (None, "reward.json 'reward' is not a number")
    values = [_number(v) for v in data.values()]
    if any(v is None for v in values):
        return None, "reward.json: every score must be a number (or give 'reward')"
    return sum(values) / len(values), ""  # type: ignore[arg-type]


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
