"""Plan and Step: the commands bakectl runs, printable before they run.

Every mutating action goes through a Step so `--dry-run` can print exactly
what would run, and a real run echoes each line before executing it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TextIO

from bakectl.errors import BakectlError


@dataclass(frozen=True)
class Step:
    """One command line. `pipe_to` feeds this command's stdout into a second one."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    mutates: bool = True
    pipe_to: tuple[str, ...] | None = None
    note: str = ""

    def shell(self) -> str:
        """The line a user can paste into a shell."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env)
        line = shlex.join(self.argv)
        if self.pipe_to:
            line += " | " + shlex.join(self.pipe_to)
        return f"{prefix} {line}" if prefix else line


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    # Lines printed under `--dry-run` for what runs only if the primary path fails.
    fallback: list[Step] = field(default_factory=list)
    fallback_reason: str = ""

    def add(self, step: Step) -> None:
        self.steps.append(step)


@dataclass
class StepResult:
    step: Step
    returncode: int
    stderr: str
    stdout: str = ""


def echo(step: Step, out: TextIO | None = None) -> None:
    print(f"$ {step.shell()}", file=out or sys.stderr, flush=True)


def print_plan(plan: Plan, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    for step in plan.steps:
        print(f"$ {step.shell()}", file=out)
    if plan.fallback:
        print(f"# if bake fails ({plan.fallback_reason}), bakectl runs instead:", file=out)
        for step in plan.fallback:
            print(f"$ {step.shell()}", file=out)


def run_step(
    step: Step,
    *,
    capture_stdout: bool = False,
    quiet: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    tty: bool = False,
) -> StepResult:
    """Echo, then run `step` (in `cwd`), streaming its stderr to ours while keeping a copy.

    The copy is what failure classification (bake -> podman fallback, transient
    registry errors) reads. With `tty` and a terminal on stderr, stderr is not piped,
    so bake draws its TTY progress display; the result then holds no stderr copy.
    """
    if not quiet:
        echo(step)
    env = {**os.environ, **dict(step.env)}
    if tty and not step.pipe_to and sys.stderr.isatty():
        try:
            proc = subprocess.run(step.argv, env=env, cwd=cwd)
        except FileNotFoundError as exc:
            raise BakectlError(
                f"command not found: {step.argv[0]}",
                "run 'make setup' (scripts/setup-engine.sh) to install the container engine",
            ) from exc
        return StepResult(step, proc.returncode, "")
    try:
        if step.pipe_to:
            first = subprocess.Popen(
                step.argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            second = subprocess.Popen(
                step.pipe_to,
                cwd=cwd,
                env=os.environ,  # as printed: K=v applies to the first command only,
                stdin=first.stdout,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert first.stdout is not None
            first.stdout.close()  # let `first` see SIGPIPE if `second` exits
            out2, err2 = second.communicate()
            err1 = first.stderr.read() if first.stderr else b""
            first.wait()
            stderr = (err1 + err2).decode(errors="replace")
            if not quiet and stderr:
                sys.stderr.write(stderr)
            code = first.returncode or second.returncode
            return StepResult(step, code, stderr, out2.decode(errors="replace"))
        proc = subprocess.Popen(
            step.argv,
            env=env,
            cwd=cwd,
            text=True,
            errors="replace",
            stdout=subprocess.PIPE if capture_stdout else None,
            stderr=subprocess.PIPE,
        )
        chunks: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            chunks.append(line)
            if not quiet:
                sys.stderr.write(line)
                sys.stderr.flush()
        stdout = proc.stdout.read() if proc.stdout else ""
        proc.wait()
        return StepResult(step, proc.returncode, "".join(chunks), stdout or "")
    except FileNotFoundError as exc:
        raise BakectlError(
            f"command not found: {step.argv[0]}",
            "run 'make setup' (scripts/setup-engine.sh) to install the container engine",
        ) from exc
