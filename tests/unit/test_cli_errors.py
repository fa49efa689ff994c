"""Bad input through the real entry point: exit 2, one `error:` line, a `hint:`, no
traceback, nothing written, no engine call. A fake `docker` first on PATH keeps it
engine-free and records every call."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def assert_rejected(res, build_dir: Path, fake_docker, needles, hint_needles=()) -> None:
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert len(res.error_lines) == 1, res.stderr
    error = res.error_lines[0]
    for needle in needles:
        assert needle in error, (needle, error)
    assert len(res.hint_lines) == 1, res.stderr
    assert len(res.hint_lines[0]) > len("hint: ")
    for needle in hint_needles:
        assert needle in res.hint_lines[0], (needle, res.hint_lines[0])
    assert not [ln for ln in res.stdout.splitlines() if ln.startswith("$ ")], res.stdout
    assert not build_dir.exists() or not any(build_dir.iterdir()), list(build_dir.rglob("*"))
    assert fake_docker.calls == [], "bad input must be rejected before any engine call"


def eval_args(bench: str, agent: str = "chat", *task_ids: str) -> list[str]:
    args = ["build", "eval", bench, "--agent", agent]
    for t in task_ids:
        args += ["--task-id", t]
    return [*args, "--dry-run"]


@dataclass
class Case:
    args: list[str]
    needles: list[str]
    hints: list[str] = field(default_factory=list)
    # Changes the standard catalog; returns more needles (paths known only at run time).
    setup: Callable | None = None


def _write(rel: str, text: str):
    def setup(cat):
        path = cat.containers / rel
        cat.write(path, text)
        return [str(path)]

    return setup


def _write_bytes(rel: str, data: bytes):
    def setup(cat):
        path = cat.containers / rel
        path.write_bytes(data)
        return [str(path)]

    return setup


def _unlink(rel: str):
    def setup(cat):
        (cat.containers / rel).unlink()
        return []

    return setup


def _symlink(rel: str, target: str):
    def setup(cat):
        link = cat.containers / rel
        os.symlink(target, link)
        return [str(link)]

    return setup


def _line(rel: str, line: int):
    """The file's path and line, as `path:line`."""

    def setup(cat):
        return [f"{cat.containers / rel}:{line}"]

    return setup


def _both(*fns):
    def setup(cat):
        return [n for fn in fns for n in fn(cat)]

    return setup


def _per_task_without_dockerfile(cat):
    cat.task("term", "no-env")
    return []


ID_HINT = ["lowercase"]
BENCH_YAML = "benchmarks/arith/benchmark.yaml"
AGENT_YAML = "agents/chat/agent.yaml"
TOML = "benchmarks/arith/tasks/1/task.toml"
TEMPLATE = "benchmarks/arith/environment/Dockerfile.j2"

CASES: dict[str, Case] = {
    "unknown benchmark": Case(eval_args("arth"), ["unknown benchmark 'arth'"], ["'arith'"]),
    "unknown agent": Case(eval_args("arith", "chta"), ["unknown agent 'chta'"], ["'chat'"]),
    "unknown task, shared": Case(
        eval_args("arith", "chat", "3"), ["unknown task '3'", "'arith'"], ["1, 2"]
    ),
    "unknown task, per-task": Case(
        eval_args("term", "chat", "hello-fil"), ["unknown task 'hello-fil'"], ["'hello-file'"]
    ),
    "task id with slash": Case(
        eval_args("term", "chat", "a/b"), ["invalid task id 'a/b'"], ID_HINT
    ),
    "task id dotdot": Case(eval_args("term", "chat", ".."), ["invalid task id '..'"], ID_HINT),
    "task id escaping": Case(
        eval_args("arith", "chat", "../../../agents/chat"),
        ["invalid task id '../../../agents/chat'"],
        ID_HINT,
    ),
    "task id with space": Case(
        eval_args("term", "chat", "hello file"), ["invalid task id 'hello file'"], ID_HINT
    ),
    "task id upper case": Case(
        eval_args("term", "chat", "Hello"), ["invalid task id 'Hello'"], ID_HINT
    ),
    "task id leading dash": Case(
        eval_args("arith", "chat", "-x"), ["invalid task id '-x'"], ID_HINT
    ),
    "task id leading dash, = form": Case(
        ["build", "eval", "term", "--agent", "chat", "--task-id=-rf", "--dry-run"],
        ["invalid task id '-rf'"],
        ID_HINT,
    ),
    "benchmark id escaping": Case(
        eval_args("../arith"), ["invalid benchmark id '../arith'"], ID_HINT
    ),
    "benchmark id upper case": Case(eval_args("Arith"), ["invalid benchmark id 'Arith'"], ID_HINT),
    "agent id escaping": Case(
        eval_args("arith", "../chat"), ["invalid agent id '../chat'"], ID_HINT
    ),
    "malformed benchmark.yaml": Case(
        eval_args("arith"),
        ["malformed YAML"],
        setup=_both(
            _write(BENCH_YAML, "name: arith\nenvironment: shared\ndescription: [x\nversion: 1\n"),
            _line(BENCH_YAML, 4),
        ),
    ),
    "malformed agent.yaml": Case(
        eval_args("arith"),
        ["malformed YAML"],
        setup=_both(_write(AGENT_YAML, "name: chat\n  version: '1'\n"), _line(AGENT_YAML, 2)),
    ),
    "malformed task.toml": Case(
        eval_args("arith", "chat", "1"),
        ["malformed TOML", "line 4"],
        setup=_write(TOML, 'version = "1.0"\n\n[agent]\ntimeout_sec = = 3\n'),
    ),
    "task.toml not utf-8": Case(
        eval_args("arith", "chat", "1"),
        [],
        setup=_write_bytes(TOML, b'version = "\xff\xfe"\n'),
    ),
    "validation error": Case(
        eval_args("arith"),
        ["field 'environment'"],
        setup=_both(
            _write(BENCH_YAML, "name: arith\ndescription: x\nenvironment: sometimes\n"),
            _line(BENCH_YAML, 3),
        ),
    ),
    "task.toml validation error": Case(
        eval_args("arith", "chat", "1"),
        ["'verifier.timeout_sec'"],
        setup=_write(TOML, "[verifier]\ntimeout_sec = 0\n"),
    ),
    "benchmark name differs from directory": Case(
        eval_args("arith"),
        ["'arithmetic'", "'arith'"],
        setup=_write(BENCH_YAML, "name: arithmetic\nenvironment: shared\n"),
    ),
    "task without instruction.md": Case(
        eval_args("arith", "chat", "1"),
        ["arith/1", "instruction.md"],
        setup=_unlink("benchmarks/arith/tasks/1/instruction.md"),
    ),
    "task without tests/test.sh": Case(
        eval_args("term", "chat", "hello-file"),
        ["term/hello-file", "tests/test.sh"],
        setup=_unlink("benchmarks/term/tasks/hello-file/tests/test.sh"),
    ),
    "per-task task without Dockerfile": Case(
        eval_args("term", "chat", "no-env"),
        ["term/no-env", "environment/Dockerfile"],
        setup=_per_task_without_dockerfile,
    ),
    "per-task, every task checked": Case(
        eval_args("term", "chat"),
        ["term/no-env", "environment/Dockerfile"],
        setup=_per_task_without_dockerfile,
    ),
    "agent without run.sh": Case(
        eval_args("arith"), ["'chat'", "run.sh"], setup=_unlink("agents/chat/run.sh")
    ),
    "symlink in task dir pointing outside": Case(
        eval_args("arith", "chat", "1"),
        ["outside", "/etc/passwd"],
        setup=_symlink("benchmarks/arith/tasks/1/passwd", "/etc/passwd"),
    ),
    "symlink in shared env pointing outside": Case(
        eval_args("arith"),
        ["outside"],
        setup=_symlink("benchmarks/arith/environment/data/host", "/etc/hostname"),
    ),
    "symlink in task env pointing outside": Case(
        eval_args("term", "chat", "hello-file"),
        ["outside"],
        setup=_symlink("benchmarks/term/tasks/hello-file/environment/etc", "/etc"),
    ),
    "symlink in task env pointing into tests": Case(
        eval_args("term", "chat", "hello-file"),
        ["outside"],
        setup=_symlink("benchmarks/term/tasks/hello-file/environment/t.sh", "../tests/test.sh"),
    ),
    "template undefined variable": Case(
        eval_args("arith"),
        ["undefined", "no_such_var"],
        setup=_both(
            _write(TEMPLATE, "FROM scratch\n\nRUN echo {{ no_such_var }}\n"), _line(TEMPLATE, 3)
        ),
    ),
    "template syntax error": Case(
        eval_args("arith"),
        ["syntax"],
        setup=_both(_write(TEMPLATE, "FROM scratch\n{% for %}\n"), _line(TEMPLATE, 2)),
    ),
    "missing runtime": Case(
        eval_args("arith"), ["entrypoint.sh"], setup=_unlink("core/entrypoint.sh")
    ),
    "engine flag": Case(
        ["build", "eval", "arith", "--agent", "chat", "--engine", "bogus", "--dry-run"],
        ["--engine", "'bogus'"],
        ["--engine auto"],
    ),
    "engine flag, bench": Case(
        ["build", "bench", "arith", "--engine", "bogus", "--dry-run"], ["--engine", "'bogus'"]
    ),
    "push to a non-registry": Case(
        ["build", "eval", "arith", "--agent", "chat", "--push", "--dry-run"],
        ["cannot push", "'bakectl'"],
        ["--registry"],
    ),
    "push without registry": Case(
        ["push", "eval", "arith", "--agent", "chat", "--dry-run"], ["registry"], ["--registry"]
    ),
    "list tasks, unknown benchmark": Case(
        ["list", "tasks", "arth"], ["unknown benchmark 'arth'"], ["'arith'"]
    ),
    "list tasks, bad task": Case(
        ["list", "tasks", "arith"],
        ["malformed TOML", "line 1"],
        setup=_write(TOML, "version = \n"),
    ),
    "list tasks, invalid id": Case(["list", "tasks", "../x"], ["invalid benchmark id '../x'"]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_bad_input_is_rejected(std, run_cli, build_dir: Path, fake_docker, case: Case) -> None:
    needles = list(case.needles)
    if case.setup:
        needles += case.setup(std)
    res = run_cli(*case.args)
    assert_rejected(res, build_dir, fake_docker, needles, case.hints)


def test_root_without_containers(std, run_cli, build_dir, fake_docker, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli(*eval_args("arith"), extra_env={"BAKECTL_ROOT": str(empty)})
    assert_rejected(res, build_dir, fake_docker, ["BAKECTL_ROOT", str(empty)])


# -- validate ----------------------------------------------------------------------------------


def test_validate_ok(std, run_cli, build_dir, fake_docker) -> None:
    res = run_cli("validate")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok: 8 entries valid")  # + nop, shipped in bakectl/data
    assert fake_docker.calls == []


def test_validate_lists_every_error(std, run_cli, build_dir, fake_docker) -> None:
    bench_yaml = std.write(std.containers / BENCH_YAML, "name: arith\nenvironment: [\n")
    agent_yaml = std.write(std.containers / AGENT_YAML, "name: chat\nenv: 3\n")
    (std.task_dir("term", "hello-file") / "instruction.md").unlink()
    std.task("term", "no-env")
    toml = std.write(std.task_dir("term", "broken") / "task.toml", "a = [\n")
    res = run_cli("validate")
    assert "Traceback" not in res.stderr
    assert res.returncode == 2, res.stderr
    errors = res.error_lines
    expected = [
        f"{bench_yaml}:3: malformed YAML",
        f"{agent_yaml}:2: field 'env'",
        "term/hello-file has no instruction.md",
        "term/no-env has no environment/Dockerfile",
        f"{toml}: malformed TOML",
    ]
    for needle in expected:
        assert sum(needle in e for e in errors) == 1, (needle, res.stderr)
    assert len(errors) == len(expected) + 1
    assert "5 of" in errors[-1] and "invalid" in errors[-1]
    assert len(res.hint_lines) == 1
    assert not build_dir.exists() or not any(build_dir.iterdir())
    assert fake_docker.calls == []


# -- the engine --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["build", "eval", "arith", "--agent", "chat"],
        ["build", "eval", "term", "--agent", "oracle", "--task-id", "hello-file"],
        ["build", "agent", "chat"],
    ],
)
def test_engine_not_running(std, run_cli, build_dir, fake_docker, args) -> None:
    fake_docker.daemon_down()
    res = run_cli(*args)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(res.error_lines) == 1, res.stderr
    assert "not running" in res.error_lines[0]
    assert "Cannot connect to the Docker daemon" in res.error_lines[0]
    assert len(res.hint_lines) == 1
    assert "start" in res.hint_lines[0]
    assert "make setup" in res.hint_lines[0] or "systemctl" in res.hint_lines[0]
    assert not build_dir.exists() or not any(build_dir.iterdir())
    # Only read-only questions were asked before giving up.
    assert fake_docker.calls
    assert fake_docker.mutating_calls() == []


def test_bad_input_wins_over_a_stopped_engine(std, run_cli, build_dir, fake_docker) -> None:
    fake_docker.daemon_down()
    res = run_cli("build", "eval", "arth", "--agent", "chat")
    assert_rejected(res, build_dir, fake_docker, ["unknown benchmark 'arth'"], ["'arith'"])


def test_dry_run_works_without_an_engine(std, run_cli, build_dir, fake_docker) -> None:
    """--dry-run only prints commands: it must not need a reachable engine."""
    fake_docker.fail_everything()
    res = run_cli("build", "eval", "arith", "--agent", "chat", "--dry-run")
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "docker buildx bake" in res.stdout and "eval__arith__chat" in res.stdout


def test_dry_run_prints_the_plan(std, run_cli, build_dir, fake_docker) -> None:
    fake_docker.empty_store()
    res = run_cli("build", "eval", "term", "--agent", "oracle", "--task-id", "all", "--dry-run")
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 0, res.stderr
    plan = [ln for ln in res.stdout.splitlines() if ln.startswith("$ ")]
    assert len(plan) == 1
    assert plan[0].endswith("--load eval__term__hello-file__oracle")
    assert fake_docker.mutating_calls() == []


# -- the framework's own usage errors, in the house form (issue 9) -----------------------------

USAGE_CASES = {
    "unknown option": (["run", "--bogus"], ["bakectl run", "no such option", "--bogus"]),
    "unknown command": (["bogus"], ["no such command", "bogus"]),
    "unknown subcommand": (["build", "bogus"], ["bakectl build", "bogus"]),
    "missing argument": (["build", "agent"], ["bakectl build agent", "missing argument"]),
    "missing option value": (["run", "arith", "--timeout"], ["--timeout", "requires"]),
    "bad integer": (["run", "arith", "-n", "many"], ["--concurrency", "integer"]),
    "extra argument": (["list", "tasks", "a", "b"], ["unexpected extra argument"]),
    "timeout inf": (["run", "arith", "--agent", "chat", "-t", "1", "--timeout", "inf"], ["'inf'"]),
    "timeout nan": (["run", "arith", "--agent", "chat", "-t", "1", "--timeout", "nan"], ["'nan'"]),
    "timeout -inf": (["run", "arith", "--agent", "chat", "-t", "1", "--timeout=-inf"], ["-inf"]),
    "timeout zero": (["run", "arith", "--agent", "chat", "-t", "1", "--timeout", "0"], ["'0'"]),
    "timeout huge": (
        ["run", "arith", "--agent", "chat", "-t", "1", "--timeout", "1e400"],
        ["1e400"],
    ),
    "timeout text": (["run", "arith", "--agent", "chat", "-t", "1", "--timeout", "soon"], ["soon"]),
}


@pytest.mark.parametrize("case", USAGE_CASES.values(), ids=list(USAGE_CASES))
def test_framework_usage_errors_use_the_house_form(std, run_cli, build_dir, fake_docker, case):
    args, needles = case
    res = run_cli(*args)
    assert "Usage:" not in res.stderr and "╭" not in res.stderr, res.stderr
    assert_rejected(res, build_dir, fake_docker, needles, ["--help"])


def test_no_command_prints_help_then_the_house_form(std, run_cli, build_dir, fake_docker) -> None:
    res = run_cli("build")
    assert "eval" in res.stdout  # the group's help
    assert_rejected(res, build_dir, fake_docker, ["bakectl build", "missing"])


def test_an_error_message_is_one_line(std, run_cli, build_dir, fake_docker) -> None:
    """A path or value holding a newline must not split the error line."""
    res = run_cli("build", "eval", "arith", "--agent", "chat", "--task-id", "a\nerror: forged")
    assert_rejected(res, build_dir, fake_docker, ["invalid task id"])


# -- interrupts say what they stopped ---------------------------------------------------------

FAKE_DOCKER_SLOW = """\
#!/bin/sh
echo "{name} $*" >> "{log}"
exec sleep 30
"""


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
@pytest.mark.parametrize(
    "args",
    [
        ["build", "eval", "arith", "--agent", "chat"],
        ["run", "arith", "--agent", "oracle", "--task-id", "1", "--no-build"],
    ],
    ids=["build", "run"],
)
def test_interrupt_says_what_it_stopped(
    std, cat, build_dir, fake_docker, tmp_path, sig, code, args
):
    import signal
    import subprocess
    import sys
    import time

    fake_docker.install(FAKE_DOCKER_SLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAKECTL", "DOCKER"))}
    env.update(
        BAKECTL_ROOT=str(cat.root),
        BAKECTL_BUILD_DIR=str(build_dir),
        PATH=f"{fake_docker.bin_dir}{os.pathsep}{os.environ['PATH']}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bakectl.cli.main", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not fake_docker.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_docker.calls, "bakectl never reached the engine"
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == code, (proc.returncode, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert errors and errors[-1].startswith(f"error: interrupted by {sig}"), err
    assert f"bakectl {' '.join(args)}" in errors[-1]
    assert [ln for ln in err.splitlines() if ln.startswith("hint:")], err


# -- crafted run records (found by tests/property) ------------------------------------------


@pytest.mark.parametrize("task_id", ["../../escape", "a\x00b", "/abs", "..", "a/b"])
def test_resume_refuses_crafted_task_ids(std, run_cli, build_dir, fake_docker, tmp_path, task_id):
    """job.json ids become paths on --resume: '..' wrote outside the job directory and a
    NUL byte was a ValueError traceback. They are checked before any path is built."""
    import json

    job = tmp_path / "runs" / "b1"
    job.mkdir(parents=True)
    doc = {"kind": "job", "schema_version": 1, "job_id": "b1", "agent": "chat"}
    doc.update(created_at="2026-12-01T00:00:00+00:00", bakectl_version="0.1.0")
    doc.update(source={"kind": "catalog", "benchmark": "arith"}, task_ids=[task_id])
    (job / "job.json").write_text(json.dumps(doc))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    res = run_cli("run", "--resume", str(job))
    assert_rejected(res, build_dir, fake_docker, ["is not a valid id", "job.json"])
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_template_including_a_non_utf8_file(std, run_cli, build_dir, fake_docker) -> None:
    template = std.write(std.containers / TEMPLATE, "FROM scratch\n{% include 'part.txt' %}\n")
    (template.parent / "part.txt").write_bytes(b"RUN echo \xff\n")
    res = run_cli(*eval_args("arith"))
    assert_rejected(res, build_dir, fake_docker, [str(template), "not UTF-8"])


@pytest.mark.parametrize("command", ["report", "gate", "score"])
def test_a_job_path_too_long_for_the_filesystem(std, run_cli, build_dir, fake_docker, command):
    """Found by tests/property: a 300-character name was an OSError traceback."""
    res = run_cli(command, "x" * 300)
    assert_rejected(res, build_dir, fake_docker, ["File name too long"])
