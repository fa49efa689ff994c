"""The property suite's harness: a throwaway catalog, the real entry point called in
process (bakectl.cli.main.run with its argv, SystemExit caught), a fake `docker` that
refuses everything, and tree snapshots to prove nothing was written or half-written."""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bakectl.cli.main import run

# run(argv) since issue 9; the entry point before it read sys.argv (the suite can be
# pointed at an older tree to see what it finds there).
_TAKES_ARGV = bool(inspect.signature(run).parameters)

FAKE_DOCKER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/calls.log"
echo "fake $(basename "$0"): refusing $1" >&2
exit 1
"""

SHARED_DOCKERFILE = (
    "ARG PYTHON_IMAGE=python:3.11-slim-bookworm\nFROM ${PYTHON_IMAGE}\nWORKDIR {{ workdir }}\n"
)
TASK_DOCKERFILE = (
    "ARG DEBIAN_IMAGE=debian:bookworm-slim\nFROM ${DEBIAN_IMAGE}\nCOPY hello.txt /app/\n"
)
TASK_TOML = "[agent]\ntimeout_sec = 120.0\n[verifier]\ntimeout_sec = 60.0\n[environment]\ncpus = 1\nmemory_mb = 512\n"


def write(path: Path, text: str | bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


@dataclass
class World:
    """tmp/: proj/ (the catalog), build/ (BAKECTL_BUILD_DIR), work/ (the cwd), bin/."""

    tmp: Path

    @property
    def root(self) -> Path:
        return self.tmp / "proj"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def build_dir(self) -> Path:
        return self.tmp / "build"

    @property
    def work(self) -> Path:
        return self.tmp / "work"

    @property
    def bin(self) -> Path:
        return self.tmp / "bin"

    def bench(self, name: str) -> Path:
        return self.containers / "benchmarks" / name

    def task(self, bench: str, task_id: str) -> Path:
        return self.bench(bench) / "tasks" / task_id

    def agent(self, name: str) -> Path:
        return self.containers / "agents" / name

    @property
    def engine_calls(self) -> list[str]:
        log = self.bin / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def standard(self) -> World:
        """arith (shared env; tasks 1, 2), term (per-task; hello-file), agents chat, oracle."""
        c = self.containers
        write(c / "core" / "entrypoint.sh", '#!/bin/sh\nexec "$@"\n', 0o755)
        write(c / "core" / "setup.sh", "#!/bin/sh\n", 0o755)
        write(self.bench("arith") / "benchmark.yaml", "name: arith\nenvironment: shared\n")
        write(self.bench("arith") / "environment" / "Dockerfile.j2", SHARED_DOCKERFILE)
        write(self.bench("term") / "benchmark.yaml", "name: term\nenvironment: per-task\n")
        for bench, tid in (("arith", "1"), ("arith", "2"), ("term", "hello-file")):
            d = self.task(bench, tid)
            write(d / "task.toml", TASK_TOML)
            write(d / "instruction.md", "Do it.\n")
            write(d / "tests" / "test.sh", "#!/bin/sh\necho 1 > /logs/verifier/reward.txt\n", 0o755)
            write(d / "solution" / "solve.sh", "#!/bin/sh\n", 0o755)
        env = self.task("term", "hello-file") / "environment"
        write(env / "Dockerfile", TASK_DOCKERFILE)
        write(env / "hello.txt", "hello\n")
        for name in ("chat", "oracle"):
            write(self.agent(name) / "agent.yaml", f"name: {name}\n")
            write(self.agent(name) / "run.sh", "#!/bin/sh\n", 0o755)
        self.build_dir.mkdir()
        self.work.mkdir()
        write(self.bin / "docker", FAKE_DOCKER, 0o755)
        write(self.bin / "podman", FAKE_DOCKER, 0o755)
        return self


@contextlib.contextmanager
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory(prefix="bakectl-prop-") as tmp:
        w = World(Path(tmp)).standard()
        try:
            yield w
        finally:
            # A test may leave an unreadable folder or a socket behind: make it removable.
            for dirpath, dirnames, _ in os.walk(tmp):
                for d in dirnames:
                    p = os.path.join(dirpath, d)
                    if not os.path.islink(p):
                        os.chmod(p, 0o755)


@dataclass
class Result:
    code: int
    out: str
    err: str
    crash: BaseException | None = None

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("error:")]

    @property
    def hints(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("hint:")]


_SCRUB = ("BAKECTL_", "DOCKER_", "REGISTRY", "TAG", "DEBIAN_IMAGE", "PYTHON_IMAGE")


def invoke(w: World, *args: str, env: dict[str, str] | None = None) -> Result:
    """The real entry point, in process, in w.work, with the fake engine first on PATH."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    for k in list(os.environ):
        if k.startswith(_SCRUB):
            del os.environ[k]
    os.environ.update(
        BAKECTL_ROOT=str(w.root),
        BAKECTL_BUILD_DIR=str(w.build_dir),
        PATH=f"{w.bin}{os.pathsep}{saved_env.get('PATH', '')}",
        NO_COLOR="1",
        COLUMNS="200",
        **(env or {}),
    )
    out, err = io.StringIO(), io.StringIO()
    code, crash = 0, None
    os.chdir(w.work)
    saved_argv, sys.argv = sys.argv, ["bakectl", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run(list(args)) if _TAKES_ARGV else run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the property under test: nothing escapes
        crash, code = exc, -1
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue(), crash)


def snapshot(top: Path) -> dict[str, tuple]:
    """Every entry under top by its lstat: kind, size, mtime; links by their target.
    Never opens a file (a FIFO would block)."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir",)
            else:
                found[rel] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return found


def assert_rejected(res: Result, *needles: str) -> None:
    """The house contract for bad input: exit 2, one error: line naming it, a hint:,
    no traceback."""
    assert res.crash is None, f"{type(res.crash).__name__}: {res.crash}\n{res.err}"
    assert "Traceback" not in res.err, res.err
    assert res.code == 2, (res.code, res.out[-2000:], res.err[-2000:])
    assert len(res.errors) == 1, res.err
    assert len(res.hints) == 1 and len(res.hints[0]) > len("hint: "), res.err
    for needle in needles:
        assert needle in res.errors[0], (needle, res.errors[0])


def assert_orderly(res: Result) -> None:
    """Whatever the input: no traceback, a known exit code, and a failure in the house form."""
    assert res.crash is None, f"{type(res.crash).__name__}: {res.crash}\n{res.err}"
    assert "Traceback" not in res.err, res.err
    assert res.code in (0, 1, 2), (res.code, res.err[-2000:])
    if res.code != 0:
        assert res.errors, (res.code, res.err[-2000:])
    if res.code == 2:
        assert len(res.errors) >= 1 and res.hints, res.err[-2000:]


def nothing_written(before: dict, after: dict, w: World) -> None:
    assert before == after, sorted(set(after.items()) ^ set(before.items()))[:10]
    leftovers = [p for p in w.build_dir.rglob("*")]
    assert not leftovers, leftovers[:10]
