"""Plan and Step: the commands bakectl runs, printable before they run; and the one way
they run.

Every mutating action goes through a Step so `--dry-run` can print exactly
what would run, and a real run echoes each line before executing it.

Running: `run_process` is the one subprocess runner (its own process group, stopped on
Ctrl-C/SIGTERM and at a timeout; output captured, or into a file; one result type,
ProcessResult). `run_step` streams a build's stderr to ours while keeping a copy
(through a pseudo-terminal when ours is a terminal, so bake draws its TTY progress).
`DryRunner` prints and runs nothing; `FakeRunner` is the test double that answers by
argv prefix. All three are `Runner`s, callables `(step, **kw) -> ProcessResult`; a run's
Executor (engine/containers.py) takes any of them.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, TextIO

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
class ProcessResult:
    """What one command did: the one result type of every subprocess bakectl runs.
    `returncode` None: it ran past its timeout and was killed."""

    step: Step
    returncode: int | None
    stderr: str = ""
    stdout: str = ""
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


StepResult = ProcessResult  # the name build.py and the CLI know


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


def _stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the command's process group (bake, podman, docker and their children), then
    SIGKILL what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_process(
    step: Step,
    *,
    capture_stdout: bool = True,
    stdout: IO[bytes] | None = None,
    stderr_to_stdout: bool = False,
    output: Path | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    kill_group_after: bool = False,
) -> ProcessResult:
    """The one subprocess runner: `step` in its own process group (a Ctrl-C reaches bakectl
    alone, which then stops the group: SIGINT/SIGTERM never leave a child running), its
    output captured (or into `stdout`), killed with its group at `timeout`.
    `output`: stdout and stderr into this file (created with its parents); when the command
    fails, the file's tail is the result's stderr.
    `kill_group_after` (with `stdout` a file): also kill what the command left running in
    its group when it ends."""
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("wb") as fh:
            res = run_process(
                step,
                stdout=fh,
                stderr_to_stdout=True,
                cwd=cwd,
                env=env,
                timeout=timeout,
                kill_group_after=kill_group_after,
            )
        if res.returncode not in (0, None):  # its stderr went to the file: keep the tail
            res.stderr = _file_tail(output)
        return res
    full_env = dict(os.environ if env is None else env)
    full_env.update(dict(step.env))
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            step.argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else (subprocess.PIPE if capture_stdout else None),
            stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise BakectlError(
            f"command not found: {step.argv[0]}",
            "run 'make setup' (scripts/setup-engine.sh) to install the container engine",
        ) from exc
    code: int | None
    try:
        try:
            if kill_group_after and stdout is not None:
                # Background children may hold our pipes open: the leader's exit is the end.
                proc.wait(timeout=timeout)
                _kill_now(proc)
            out, err = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            _stop_group(proc, grace=0.0)
            out, err = proc.communicate()
            code = None
    except BaseException:  # Ctrl-C, SIGTERM (as KeyboardInterrupt), a bug: no orphans
        _stop_group(proc)
        raise
    finally:
        if kill_group_after:
            _kill_now(proc)
    return ProcessResult(step, code, _text(err), _text(out), time.monotonic() - start)


def _file_tail(path: Path, limit: int = 2000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _kill_now(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _text(data: bytes | None) -> str:
    return data.decode(errors="replace") if data else ""


def _stream_through_pty(
    argv: tuple[str, ...],
    env: dict[str, str],
    capture_stdout: bool,
    cwd: str | os.PathLike[str] | None = None,
):
    """Run with stderr on a pseudo-terminal, copied to ours as it comes and kept: bake
    (BuildKit) draws its TTY progress only when its stderr is a terminal."""
    import pty

    master, slave = pty.openpty()
    try:
        import fcntl
        import termios

        size = fcntl.ioctl(sys.stderr.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    except OSError:
        pass
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture_stdout else None,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
            sys.stderr.buffer.write(data)
            sys.stderr.flush()
        stdout = proc.stdout.read() if proc.stdout else b""
        proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        os.close(master)
    stderr = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return proc.returncode, stderr, stdout.decode(errors="replace")


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty() and hasattr(sys.stderr, "buffer")
    except (AttributeError, ValueError):
        return False


class Runner(Protocol):
    """What runs a Step: `run_process`, `DryRunner` or `FakeRunner` (keyword arguments as
    run_process takes them; the dry and fake ones read only what they need)."""

    def __call__(self, step: Step, **kw) -> ProcessResult: ...


class DryRunner:
    """Prints each command (its note first, `> FILE 2>&1` for an `output` file) and runs
    nothing (`--dry-run`); every command "succeeds", answering `answers` by argv prefix."""

    def __init__(self, out: TextIO | None = None, answers: Mapping[str, str] | None = None):
        self.out = out
        self.answers = dict(answers or {})  # argv prefix (space-joined) -> stdout to pretend

    def __call__(self, step: Step, *, output: Path | None = None, **_: object) -> ProcessResult:
        out = self.out or sys.stdout
        if step.note:
            print(f"# {step.note}", file=out)
        redirect = f" > {output} 2>&1" if output is not None else ""
        print(f"$ {step.shell()}{redirect}", file=out, flush=True)
        joined = " ".join(step.argv)
        stdout = next((v for k, v in self.answers.items() if joined.startswith(k)), "")
        return ProcessResult(step, 0, "", stdout)


class FakeRunner:
    """A test double for the engine: answers commands by argv prefix, records every call."""

    def __init__(self, answers: Mapping[str, tuple[int, str, str]] | None = None):
        self.answers = dict(answers or {})  # prefix -> (returncode, stdout, stderr)
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, step: Step, **_: object) -> ProcessResult:
        self.calls.append(step.argv)
        joined = " ".join(step.argv)
        for prefix in sorted(self.answers, key=len, reverse=True):
            if joined.startswith(prefix):
                code, out, err = self.answers[prefix]
                return ProcessResult(step, code, err, out)
        return ProcessResult(step, 0)


def run_step(
    step: Step,
    *,
    capture_stdout: bool = False,
    quiet: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    tty: bool = True,
) -> StepResult:
    """Echo, then run `step` (in `cwd`), streaming its stderr to ours while keeping a copy.

    The copy is what failure classification (bake -> podman fallback, transient
    registry errors) reads. With `tty` and a terminal on stderr, the command's stderr is
    a pseudo-terminal copied to ours, so bake draws its TTY progress display and the
    copy is still kept (`--progress plain|quiet` pass tty=False).
    """
    if not quiet:
        echo(step)
    env = {**os.environ, **dict(step.env)}
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
        if tty and not quiet and _stderr_is_terminal():
            code, stderr, stdout = _stream_through_pty(step.argv, env, capture_stdout, cwd)
            return StepResult(step, code, stderr, stdout)
        proc = subprocess.Popen(
            step.argv,
            env=env,
            cwd=cwd,
            text=True,
            errors="replace",
            stdout=subprocess.PIPE if capture_stdout else None,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C reaches bakectl, which stops the group
        )
        chunks: list[str] = []
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                chunks.append(line)
                if not quiet:
                    sys.stderr.write(line)
                    sys.stderr.flush()
            stdout = proc.stdout.read() if proc.stdout else ""
            proc.wait()
        except BaseException:
            _stop_group(proc)
            raise
        return StepResult(step, proc.returncode, "".join(chunks), stdout or "")
    except FileNotFoundError as exc:
        raise BakectlError(
            f"command not found: {step.argv[0]}",
            "run 'make setup' (scripts/setup-engine.sh) to install the container engine",
        ) from exc
