"""Limits an agent cannot exceed, and what a run records when one was reached.

    limit          default   docker / bakectl                      override key
    pids           512       docker run --pids-limit               pids
    log size       32 MiB    --log-opt max-size (4x), cap_file;    log_mb         (each log)
                             agent/logs/ (cap_tree)
    artifacts      256 MiB   cap_tree on artifacts/                artifacts_mb
    reward range   [0, 1]    a note when a reward falls outside    reward_min, reward_max

Overrides: `limits:` in benchmark.yaml, `[bakectl.limits]` in task.toml (the task's
value wins, then the benchmark's, then the default). Every limit that was reached
becomes a note (RunRecord.notes / run.json warnings): nothing is cut silently.

The phases call `run_flags` for each container they start, `cap_run_output` after
collecting the agent's output, `cap_file` on the verifier's log, and `reward_notes` on
the rewards read; each returns notes, never raises.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from bakectl.catalog.models import Benchmark, RunLimits, Task

MiB = 1 << 20
DEFAULT_PIDS = 512  # a shell, a language server, a build's workers: far below a fork bomb
DEFAULT_LOG_MB = 32.0
DEFAULT_ARTIFACTS_MB = 256.0
DEFAULT_REWARD_RANGE = (0.0, 1.0)
ENGINE_LOG_FACTOR = 4  # the engine keeps 2 files of this many times log_bytes
CUT_MARK = "\n[... {n} bytes cut by bakectl: log limit {limit} ...]\n"


@dataclass(frozen=True)
class Limits:
    pids: int = DEFAULT_PIDS
    log_bytes: int = int(DEFAULT_LOG_MB * MiB)
    artifact_bytes: int = int(DEFAULT_ARTIFACTS_MB * MiB)
    reward_min: float = DEFAULT_REWARD_RANGE[0]
    reward_max: float = DEFAULT_REWARD_RANGE[1]

    def as_record(self) -> dict:
        """For run.json's `limits`."""
        return {
            "pids": self.pids,
            "log_mb": self.log_bytes / MiB,
            "artifacts_mb": self.artifact_bytes / MiB,
            "reward_range": [self.reward_min, self.reward_max],
        }


def _layers(bench: Benchmark | None, task: Task | None) -> list[RunLimits]:
    """Overrides, the most specific last."""
    found = []
    if bench is not None:
        found.append(getattr(bench.spec, "limits", None))
    if task is not None:
        table = getattr(task.spec, "bakectl", None)
        found.append(getattr(table, "limits", None))
    return [x for x in found if isinstance(x, RunLimits)]


def for_run(bench: Benchmark | None, task: Task | None) -> Limits:
    """The limits of one run: defaults, then the benchmark's overrides, then the task's."""
    values: dict = {}
    for layer in _layers(bench, task):
        values.update({k: v for k, v in layer.model_dump().items() if v is not None})
    lim = Limits()
    return Limits(
        pids=values.get("pids", lim.pids),
        log_bytes=int(values["log_mb"] * MiB) if "log_mb" in values else lim.log_bytes,
        artifact_bytes=(
            int(values["artifacts_mb"] * MiB) if "artifacts_mb" in values else lim.artifact_bytes
        ),
        reward_min=values.get("reward_min", lim.reward_min),
        reward_max=values.get("reward_max", lim.reward_max),
    )


def run_flags(limits: Limits) -> list[str]:
    """`docker run` flags for a container an agent (or a verifier) runs in: a process
    cap, and a bounded json-file log, so the daemon's disk is bounded too and `docker
    logs` works whatever the default driver. The engine keeps two files of 4 x log_bytes
    (its JSON framing roughly doubles short lines): what `docker logs` returns of a flood
    is then still above log_bytes, so cap_file cuts it and says so, rather than the
    engine's rotation dropping the start silently."""
    return [
        "--pids-limit",
        str(limits.pids),
        "--log-driver",
        "json-file",
        "--log-opt",
        f"max-size={max(ENGINE_LOG_FACTOR * limits.log_bytes // 1024, 1)}k",
        "--log-opt",
        "max-file=2",
    ]


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def cap_file(path: Path, max_bytes: int, what: str = "") -> str | None:
    """Cut a file over max_bytes to its first and last halves, with a marker between
    (the start says what ran, the end how it ended). The note, or None when it fit."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size <= max_bytes:
        return None
    half = max_bytes // 2
    mark = CUT_MARK.format(n=size - 2 * half, limit=_size(max_bytes)).encode()
    tmp = path.with_name(f".{path.name}.cut")
    with path.open("rb") as src, tmp.open("wb") as dst:
        dst.write(src.read(half))
        dst.write(mark)
        src.seek(size - half)
        dst.write(src.read(half))
    tmp.replace(path)
    return (
        f"{what or path.name} was {_size(size)}; kept its first and last {_size(half)} "
        f"(limit {_size(max_bytes)}: log_mb)"
    )


def _regular_files(top: Path) -> list[tuple[str, int]]:
    files = []
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                files.append((p, st.st_size))
    return sorted(files)  # path order: what is kept does not depend on the file system


def cap_tree(path: Path, max_bytes: int, what: str = "", key: str = "artifacts_mb") -> str | None:
    """Keep a folder's files, in path order, while they fit in max_bytes; remove the
    rest. The note, or None when it fit."""
    if not path.is_dir():
        return None
    files = _regular_files(path)
    total = sum(size for _, size in files)
    if total <= max_bytes:
        return None
    kept = removed = 0
    for name, size in files:
        if kept + size <= max_bytes:
            kept += size
        else:
            os.unlink(name)
            removed += 1
    return (
        f"{what or path.name} held {_size(total)} in {len(files)} files; removed {removed} "
        f"files past the limit of {_size(max_bytes)} ({key}), kept {_size(kept)}"
    )


def cap_run_output(root: Path, limits: Limits) -> list[str]:
    """After the agent phase: its container log, its /logs/agent and its artifacts,
    each within its limit (paths as bakectl.results.rundir lays them out)."""
    notes = [
        cap_file(root / "agent" / "container.log", limits.log_bytes, "agent/container.log"),
        cap_tree(root / "agent" / "logs", limits.log_bytes, "agent/logs/", "log_mb"),
        cap_tree(root / "artifacts", limits.artifact_bytes, "artifacts/"),
    ]
    return [n for n in notes if n]


def reward_notes(rewards: dict[str, float | None], limits: Limits) -> list[str]:
    """A note for each reward outside the declared range; the reward itself is kept
    as the verifier wrote it (a task may define another scale: declare it)."""
    lo, hi = limits.reward_min, limits.reward_max
    return [
        f"{name} {value:g} is outside the declared range [{lo:g}, {hi:g}] "
        "(reward_min/reward_max in benchmark.yaml limits or task.toml [bakectl.limits])"
        for name, value in rewards.items()
        if value is not None and not lo <= value <= hi
    ]
