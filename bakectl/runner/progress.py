"""A batch's progress: one updating line on a terminal, one line per task otherwise."""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from typing import TextIO

from bakectl.runner.spec import TaskResult


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class Progress:
    """A batch's progress. On a terminal (`stream` is a TTY): one line rewritten in place,
    done/total, passed, failed, errors, running and an ETA; error results and retries are
    printed above it. Otherwise: one line per finished task (TaskResult.line()) on `out`,
    notes and retries on `stream`."""

    def __init__(
        self, *, out: TextIO | None = None, stream: TextIO | None = None, tty: bool | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = 0
        self.done = 0
        self.kept = 0  # final before this invocation (resume)
        self.running = 0
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self._drawn = 0.0
        self._shown = False
        self._live = False  # drawn once tasks run (not over the build's output)

    def begin(self, total: int, kept: list[TaskResult]) -> None:
        self.total = total
        self.started = time.monotonic()
        for r in kept:
            self.counts[r.status] += 1
        self.done = self.kept = len(kept)
        if kept:
            self.note(f"resuming: {len(kept)} of {total} tasks already have a final result")

    def finished(self, r: TaskResult) -> None:
        self.counts[r.status] += 1
        self.done += 1
        self.running = max(0, self.running - 1)
        if self.tty:
            if r.status in ("error", "invalid"):
                self._above(r.line())
            self.draw()
        else:
            print(r.line(), file=self.out, flush=True)

    def retrying(self, r: TaskResult, attempt: int, of: int) -> None:
        k = r.record.attempt if r.record else 1
        why = f"{r.fault.kind}: {r.message}" if r.fault else r.message
        self.note(
            f"retrying {r.benchmark}/{r.task} attempt {k} (try {attempt} of {of}) after {why}"
        )

    def note(self, message: str) -> None:
        self.command(f"bakectl: {message}")

    def command(self, line: str) -> None:
        """A line on `stream` (above the progress line on a terminal), e.g. `$ docker kill`."""
        if self.tty:
            self._above(line)
            self.draw()
        else:
            print(line, file=self.stream, flush=True)

    def tick(self, running: int) -> None:
        self.running = running
        self._live = True
        if self.tty and time.monotonic() - self._drawn >= 0.5:
            self.draw()

    def line(self) -> str:
        c = self.counts
        errors = c["error"] + c["invalid"]
        parts = [f"[{self.done}/{self.total}] {c['passed']} passed, {c['failed']} failed"]
        if c["timeout"]:
            parts[0] += f", {c['timeout']} timeout"
        parts[0] += f", {errors} errors"
        elapsed = time.monotonic() - self.started
        parts.append(f"{self.running} running")
        new = self.done - self.kept
        left = self.total - self.done
        eta = _clock(elapsed / new * left) if new and left else ("0:00" if not left else "--")
        parts.append(f"{_clock(elapsed)} elapsed, ETA {eta}")
        return " | ".join(parts)

    def draw(self) -> None:
        if not self.tty or not self._live:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r\x1b[K" + self.line()[:width])
        self.stream.flush()
        self._drawn = time.monotonic()
        self._shown = True

    def _above(self, text: str) -> None:
        self.stream.write("\r\x1b[K" + text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K" + self.line() + "\n")
            self.stream.flush()
            self._shown = False


class Null:
    """A stream that drops everything (no progress asked for)."""

    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
