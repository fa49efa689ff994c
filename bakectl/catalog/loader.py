"""Find and load descriptors lazily: a command touches only the files it needs,
so its cost does not grow with the size of the catalog."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from bakectl.catalog.models import (
    Agent,
    AgentSpec,
    Benchmark,
    BenchmarkSpec,
    Task,
    TaskSpec,
)
from bakectl.catalog.naming import check_id, suggest
from bakectl.catalog.reader import check_text_file, check_tree, load_toml, load_yaml
from bakectl.errors import UsageError

ENV_DOCKERFILES = ("Dockerfile.j2", "Dockerfile")


def find_root(start: Path | None = None) -> Path:
    """The project root: $BAKECTL_ROOT, or the nearest directory holding containers/."""
    env = os.environ.get("BAKECTL_ROOT")
    if env:
        root = Path(env).resolve()
        if not (root / "containers").is_dir():
            raise UsageError(
                f"BAKECTL_ROOT={env} has no containers/ directory",
                "point BAKECTL_ROOT at a checkout with containers/benchmarks and containers/agents",
            )
        return root
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "containers" / "benchmarks").is_dir():
            return cand
    raise UsageError(
        f"no catalog found in {here} or its parents",
        "run bakectl inside a checkout with containers/benchmarks, or set BAKECTL_ROOT",
    )


def check_symlinks(top: Path, owner: Path | None = None) -> None:
    """A symlink that leaves its directory would leak host files into a build context
    (kept for callers; the checks are reader.check_tree's)."""
    check_tree(top, owner)


def env_dockerfile(env_dir: Path) -> Path | None:
    for name in ENV_DOCKERFILES:
        if (env_dir / name).is_file():
            return env_dir / name
    return None


class Catalog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.benchmarks_dir = root / "containers" / "benchmarks"
        self.agents_dir = root / "containers" / "agents"
        self.core_dir = root / "containers" / "core"

    @staticmethod
    def _names(d: Path) -> list[str]:
        try:
            return sorted(
                e.name for e in os.scandir(d) if e.is_dir() and not e.name.startswith(".")
            )
        except FileNotFoundError:
            return []

    def benchmark_names(self) -> list[str]:
        return self._names(self.benchmarks_dir)

    def agent_names(self) -> list[str]:
        return self._names(self.agents_dir)

    def task_ids(self, bench: str) -> list[str]:
        self.benchmark(bench)
        return self._names(self.benchmarks_dir / bench / "tasks")

    @cache  # noqa: B019 - a catalog lives for one command
    def benchmark(self, name: str) -> Benchmark:
        check_id("benchmark", name)
        d = self.benchmarks_dir / name
        if not os.path.lexists(d / "benchmark.yaml"):
            raise UsageError(f"unknown benchmark {name!r}", suggest(name, self.benchmark_names()))
        spec = load_yaml(d / "benchmark.yaml", BenchmarkSpec)
        if spec.name != name:
            raise UsageError(
                f"{d / 'benchmark.yaml'}: name {spec.name!r} differs from its directory {name!r}",
                "make the name field equal the directory name",
            )
        bench = Benchmark(spec=spec, dir=d)
        if bench.shared:
            check_tree(bench.env_dir)
            dockerfile = env_dockerfile(bench.env_dir)
            if dockerfile is None:
                raise UsageError(
                    f"benchmark {name!r} is shared-environment but {bench.env_dir} has no Dockerfile",
                    "add environment/Dockerfile (or Dockerfile.j2) at the benchmark level",
                )
            check_text_file(dockerfile, "the Dockerfile")
        return bench

    @cache  # noqa: B019
    def task(self, bench_name: str, task_id: str) -> Task:
        bench = self.benchmark(bench_name)
        check_id("task", task_id, f"benchmark {bench_name!r}")
        d = bench.dir / "tasks" / task_id
        if not d.is_dir():
            raise UsageError(
                f"unknown task {task_id!r} in benchmark {bench_name!r}",
                suggest(task_id, self._names(bench.dir / "tasks")),
            )
        # Nothing in the folder is read before it is known to hold no special file,
        # loop or escaping link.
        check_tree(d, owner=bench.dir / "tasks")
        # The build context on its own: a link from environment/ into tests/ stays
        # inside the task directory but crosses the visibility boundary.
        check_tree(d / "environment")
        spec = load_toml(d / "task.toml", TaskSpec)
        for required in ("instruction.md", "tests/test.sh"):
            if not (d / required).is_file():
                raise UsageError(
                    f"task {bench_name}/{task_id} has no {required} ({d / required})",
                    "a task needs instruction.md (for the agent) and tests/test.sh (the scorer)",
                )
        task = Task(id=task_id, benchmark=bench_name, spec=spec, dir=d)
        if not bench.shared:
            dockerfile = env_dockerfile(task.env_dir)
            if dockerfile is None:
                raise UsageError(
                    f"task {bench_name}/{task_id} has no environment/Dockerfile",
                    f"benchmark {bench_name!r} is per-task: every task needs environment/Dockerfile",
                )
            check_text_file(dockerfile, "the Dockerfile")
        return task

    def tasks(self, bench_name: str, ids: list[str] | None = None) -> list[Task]:
        return [self.task(bench_name, t) for t in (ids or self.task_ids(bench_name))]

    @cache  # noqa: B019
    def agent(self, name: str) -> Agent:
        check_id("agent", name)
        d = self.agents_dir / name
        if not os.path.lexists(d / "agent.yaml"):
            raise UsageError(f"unknown agent {name!r}", suggest(name, self.agent_names()))
        check_tree(d, owner=self.agents_dir)
        spec = load_yaml(d / "agent.yaml", AgentSpec)
        if spec.name != name:
            raise UsageError(
                f"{d / 'agent.yaml'}: name {spec.name!r} differs from its directory {name!r}",
                "make the name field equal the directory name",
            )
        if not (d / "run.sh").is_file():
            raise UsageError(
                f"agent {name!r} has no run.sh ({d / 'run.sh'})",
                "an agent needs run.sh, started by the runtime in the eval image",
            )
        return Agent(spec=spec, dir=d)

    def validate_all(self) -> tuple[int, list[UsageError]]:
        """Load every descriptor; return (entries checked, errors)."""
        errors: list[UsageError] = []
        count = 0
        for name in self.benchmark_names():
            count += 1
            try:
                self.benchmark(name)
            except UsageError as exc:
                errors.append(exc)
                continue
            for tid in self._names(self.benchmarks_dir / name / "tasks"):
                count += 1
                try:
                    self.task(name, tid)
                except UsageError as exc:
                    errors.append(exc)
        for name in self.agent_names():
            count += 1
            try:
                self.agent(name)
            except UsageError as exc:
                errors.append(exc)
        return count, errors
