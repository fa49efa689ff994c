"""Shared fixtures for engine-free unit tests: throwaway catalogs and a fake `docker`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Variables bakectl (or bake) reads from the environment; tests start without them.
_SCRUB = (
    "BAKECTL_ROOT",
    "BAKECTL_BUILD_DIR",
    "BAKECTL_REGISTRY",
    "REGISTRY",
    "TAG",
    "DEBIAN_IMAGE",
    "PYTHON_IMAGE",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
)

SHARED_DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
# {{ benchmark.name }} revision {{ benchmark.version }}
WORKDIR {{ workdir }}
COPY data/ {{ workdir }}/data/
"""

TASK_DOCKERFILE = """\
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
WORKDIR /app
COPY hello.txt /app/hello.txt
"""


def write(path: Path, text: str, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(0o755)
    return path


@dataclass
class CatalogBuilder:
    """Builds a small catalog under `root`; each method writes one entry.

    Test modules get it through the `cat`/`std` fixtures (never by importing conftest).
    """

    root: Path
    write = staticmethod(write)
    SHARED_DOCKERFILE = SHARED_DOCKERFILE
    TASK_DOCKERFILE = TASK_DOCKERFILE

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    def bench_dir(self, name: str) -> Path:
        return self.containers / "benchmarks" / name

    def task_dir(self, bench: str, task_id: str) -> Path:
        return self.bench_dir(bench) / "tasks" / task_id

    def agent_dir(self, name: str) -> Path:
        return self.containers / "agents" / name

    def core(self) -> Path:
        d = self.containers / "core"
        write(d / "entrypoint.sh", '#!/bin/sh\nexec "$@"\n', executable=True)
        write(d / "setup.sh", '#!/bin/sh\nmkdir -p "$1"\n', executable=True)
        return d

    def benchmark(
        self,
        name: str,
        environment: str = "shared",
        *,
        yaml_text: str | None = None,
        dockerfile: str | None = SHARED_DOCKERFILE,
        dockerfile_name: str = "Dockerfile.j2",
    ) -> Path:
        d = self.bench_dir(name)
        if yaml_text is None:
            yaml_text = (
                f"name: {name}\n"
                f"description: the {name} benchmark\n"
                'version: "1.0"\n'
                f"environment: {environment}\n"
                "workdir: /app\n"
            )
        write(d / "benchmark.yaml", yaml_text)
        (d / "tasks").mkdir(parents=True, exist_ok=True)
        if environment == "shared" and dockerfile is not None:
            write(d / "environment" / dockerfile_name, dockerfile)
            write(d / "environment" / "data" / "numbers.txt", "1 2 3\n")
        return d

    def task(
        self,
        bench: str,
        task_id: str,
        *,
        toml_text: str | None = None,
        instruction: bool = True,
        test_sh: bool = True,
        solution: bool = True,
        dockerfile: str | None = None,
    ) -> Path:
        d = self.task_dir(bench, task_id)
        if toml_text is None:
            toml_text = (
                'version = "1.0"\n\n[agent]\ntimeout_sec = 120.0\n\n'
                "[verifier]\ntimeout_sec = 60.0\n\n[environment]\ncpus = 1\nmemory_mb = 512\n"
            )
        write(d / "task.toml", toml_text)
        if instruction:
            write(d / "instruction.md", f"Solve task {task_id}.\n")
        if test_sh:
            write(d / "tests" / "test.sh", "#!/bin/sh\necho 1 > /logs/verifier/reward.txt\n", True)
        if solution:
            write(d / "solution" / "solve.sh", "#!/bin/sh\necho 42 > /app/answer.txt\n", True)
        if dockerfile is not None:
            write(d / "environment" / "Dockerfile", dockerfile)
            write(d / "environment" / "hello.txt", "hello\n")
        return d

    def agent(self, name: str, *, yaml_text: str | None = None, run_sh: bool = True) -> Path:
        d = self.agent_dir(name)
        if yaml_text is None:
            yaml_text = f'name: {name}\nversion: "2.0"\ndescription: the {name} agent\n'
        write(d / "agent.yaml", yaml_text)
        if run_sh:
            write(d / "run.sh", "#!/bin/sh\necho running\n", executable=True)
        return d

    def standard(self) -> CatalogBuilder:
        """arith (shared env, tasks 1 and 2), term (per-task, hello-file), agents chat, oracle."""
        self.core()
        self.benchmark("arith", "shared")
        self.task("arith", "1")
        self.task("arith", "2")
        self.benchmark("term", "per-task")
        self.task("term", "hello-file", dockerfile=TASK_DOCKERFILE)
        self.agent("chat")
        self.agent("oracle")
        return self


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _SCRUB:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    return tmp_path / "build"


@pytest.fixture
def cat(tmp_path: Path, build_dir: Path, clean_env, monkeypatch: pytest.MonkeyPatch):
    """An empty catalog in tmp_path/proj; BAKECTL_ROOT and BAKECTL_BUILD_DIR point at it."""
    root = tmp_path / "proj"
    (root / "containers" / "benchmarks").mkdir(parents=True)
    (root / "containers" / "agents").mkdir(parents=True)
    monkeypatch.setenv("BAKECTL_ROOT", str(root))
    monkeypatch.setenv("BAKECTL_BUILD_DIR", str(build_dir))
    return CatalogBuilder(root)


@pytest.fixture
def std(cat: CatalogBuilder) -> CatalogBuilder:
    return cat.standard()


FAKE_DOCKER_FAIL = """\
#!/bin/sh
echo "{name} $*" >> "{log}"
echo "fake {name}: refusing $1" >&2
exit 1
"""

# `docker image ls` answers "nothing here"; anything else fails.
FAKE_DOCKER_EMPTY_STORE = """\
#!/bin/sh
echo "{name} $*" >> "{log}"
if [ "$1" = image ] && [ "$2" = ls ]; then exit 0; fi
echo "fake {name}: refusing $1" >&2
exit 1
"""

FAKE_DOCKER_DOWN = """\
#!/bin/sh
echo "{name} $*" >> "{log}"
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. \
Is the docker daemon running?" >&2
exit 1
"""


@dataclass
class FakeDocker:
    bin_dir: Path
    log: Path

    def install(self, script: str) -> None:
        write(self.bin_dir / "docker", script.format(name="docker", log=self.log), True)
        # podman too, so no real engine is ever reached.
        write(self.bin_dir / "podman", FAKE_DOCKER_FAIL.format(name="podman", log=self.log), True)

    def fail_everything(self) -> None:
        self.install(FAKE_DOCKER_FAIL)

    def empty_store(self) -> None:
        """`docker image ls` answers (nothing built yet); every other call fails."""
        self.install(FAKE_DOCKER_EMPTY_STORE)

    def daemon_down(self) -> None:
        self.install(FAKE_DOCKER_DOWN)

    @property
    def calls(self) -> list[str]:
        """Every call to the fake docker or podman, as 'docker ARGS...'."""
        return self.log.read_text().splitlines() if self.log.exists() else []

    def mutating_calls(self) -> list[str]:
        """Calls that would build, load, push, tag or remove something."""
        readonly = (
            "docker image ls",
            "docker image inspect",
            "docker images",
            "docker info",
            "docker version",
            "docker buildx version",
            "docker buildx inspect",
            "docker buildx ls",
            "podman --version",
            "podman version",
            "podman image exists",
            "podman image inspect",
            "podman images",
        )
        out = []
        for call in self.calls:
            if call.startswith("docker buildx bake") and " --print" in call:
                continue
            if not call.startswith(readonly):
                out.append(call)
        return out


@pytest.fixture
def fake_docker(tmp_path: Path) -> FakeDocker:
    fd = FakeDocker(tmp_path / "fakebin", tmp_path / "docker-calls.log")
    fd.install(FAKE_DOCKER_FAIL)
    return fd


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]

    @property
    def hint_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("hint:")]


@pytest.fixture
def run_cli(cat: CatalogBuilder, build_dir: Path, fake_docker: FakeDocker, tmp_path: Path):
    """Run the real entry point in a subprocess with the throwaway catalog and fake docker."""

    def run(*args: str, extra_env: dict[str, str] | None = None) -> CliResult:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update(
            BAKECTL_ROOT=str(cat.root),
            BAKECTL_BUILD_DIR=str(build_dir),
            PATH=f"{fake_docker.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            NO_COLOR="1",
            TERM="dumb",
            COLUMNS="200",
        )
        env.update(extra_env or {})
        res = subprocess.run(
            [sys.executable, "-m", "bakectl.cli.main", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return CliResult(res.returncode, res.stdout, res.stderr)

    return run
