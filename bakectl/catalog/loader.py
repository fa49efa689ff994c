"""Find and load descriptors lazily: a command touches only the files it needs,
so its cost does not grow with the size of the catalog."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from bakectl.catalog.config import CONFIG_FILE
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
from bakectl.catalog.sources import SPEC_FILE, TaskFolder, is_task_dir, task_names
from bakectl.data import AGENTS_DIR, BAKE_DEFAULTS, CORE_DIR
from bakectl.errors import UsageError

ENV_DOCKERFILES = ("Dockerfile.j2", "Dockerfile")


def find_root(start: Path | None = None, *, need_catalog: bool = True) -> Path:
    """The project root: $BAKECTL_ROOT, or the nearest directory holding containers/
    or bakectl.toml. Without `need_catalog` (a command given `-p PATH`), a directory
    with neither is a project of its own: the current one."""
    env = os.environ.get("BAKECTL_ROOT")
    if env:
        root = Path(env).resolve()
        if need_catalog and not (root / "containers").is_dir():
            raise UsageError(
                f"BAKECTL_ROOT={env} has no containers/ directory",
                "point BAKECTL_ROOT at a checkout with containers/benchmarks and containers/agents",
            )
        return root
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "containers" / "benchmarks").is_dir() or (cand / CONFIG_FILE).is_file():
            return cand
    if not need_catalog:
        return here
    raise UsageError(
        f"no catalog found in {here} or its parents",
        "run bakectl inside a checkout with containers/benchmarks, set BAKECTL_ROOT, "
        "or point at Harbor tasks with -p PATH",
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
    """Benchmarks and agents, found lazily. The catalog's own entries (containers/) come
    first; what bakectl ships (bakectl/data: the runtime, oracle, nop, bake defaults)
    fills in what it lacks; folders given with -p are benchmarks beside its own."""

    def __init__(self, root: Path, folders: tuple[TaskFolder, ...] = ()) -> None:
        self.root = root
        self.benchmarks_dir = root / "containers" / "benchmarks"
        self.agents_dir = root / "containers" / "agents"
        self.folders = {f.name: f for f in folders}
        # agent -> --agent-version: an installed agent at another upstream release than its pin
        self.agent_versions: dict[str, str] = {}

    @property
    def core_dir(self) -> Path:
        """The runtime: the catalog's containers/core when it has one, else bakectl's own."""
        own = self.root / "containers" / "core"
        return own if own.is_dir() else CORE_DIR

    @property
    def bake_file(self) -> Path:
        """The bake variables file: the project's docker-bake.hcl, else bakectl's defaults."""
        own = self.root / "docker-bake.hcl"
        return own if own.is_file() else BAKE_DEFAULTS

    def _agent_dir(self, name: str) -> Path:
        own = self.agents_dir / name
        return own if own.is_dir() or not (AGENTS_DIR / name).is_dir() else AGENTS_DIR / name

    @staticmethod
    def _names(d: Path) -> list[str]:
        try:
            return sorted(
                e.name for e in os.scandir(d) if e.is_dir() and not e.name.startswith(".")
            )
        except FileNotFoundError:
            return []

    def benchmark_names(self) -> list[str]:
        return sorted(set(self._names(self.benchmarks_dir)) | set(self.folders))

    def agent_names(self) -> list[str]:
        return sorted(set(self._names(self.agents_dir)) | set(self._names(AGENTS_DIR)))

    def task_ids(self, bench: str) -> list[str]:
        b = self.benchmark(bench)
        folder = self.folders.get(bench)
        if folder is not None:
            return folder.task_ids()
        # A catalog benchmark keeps its tasks in tasks/ (each subfolder is one) or, in
        # Harbor's dataset layout, beside benchmark.yaml (the folders that hold a task).
        return task_names(b.tasks_dir, every=b.tasks_dir != b.dir)

    def _is_task(self, bench: Benchmark, task_id: str, d: Path) -> bool:
        folder = self.folders.get(bench.name)
        if folder is not None and folder.only is not None:
            return task_id == folder.only
        every = folder.every if folder is not None else bench.tasks_dir != bench.dir
        return d.is_dir() and (every or is_task_dir(d))

    def source(self, bench: str) -> tuple[str, str]:
        """(kind, location) for records: ("path", PATH as given) or ("catalog", root)."""
        folder = self.folders.get(bench)
        if folder is not None:
            return "path", str(folder.given)
        return "catalog", str(self.root)

    def _folder_benchmark(self, folder: TaskFolder) -> Benchmark:
        spec_file = folder.spec_file
        spec = BenchmarkSpec() if spec_file is None else load_yaml(spec_file, BenchmarkSpec)
        spec = spec.model_copy(update={"name": folder.name})
        return Benchmark(spec=spec, dir=folder.dir, tasks=folder.tasks_dir)

    @cache  # noqa: B019 - a catalog lives for one command
    def benchmark(self, name: str) -> Benchmark:
        folder = self.folders.get(name)
        if folder is not None:
            bench = self._folder_benchmark(folder)
        else:
            check_id("benchmark", name)
            d = self.benchmarks_dir / name
            if not os.path.lexists(d / SPEC_FILE):
                raise UsageError(
                    f"unknown benchmark {name!r}", suggest(name, self.benchmark_names())
                )
            spec = load_yaml(d / SPEC_FILE, BenchmarkSpec)
            if spec.name != name:
                raise UsageError(
                    f"{d / SPEC_FILE}: name {spec.name!r} differs from its directory {name!r}",
                    "make the name field equal the directory name",
                )
            tasks = d / "tasks" if (d / "tasks").is_dir() else d
            bench = Benchmark(spec=spec, dir=d, tasks=tasks)
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
        d = bench.tasks_dir / task_id
        if not self._is_task(bench, task_id, d):
            raise UsageError(
                f"unknown task {task_id!r} in benchmark {bench_name!r}",
                suggest(task_id, self.task_ids(bench_name)),
            )
        # Nothing in the folder is read before it is known to hold no special file,
        # loop or escaping link.
        check_tree(d, owner=d.parent)
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
        if not bench.shared and task.docker_image is None:
            dockerfile = env_dockerfile(task.env_dir)
            if dockerfile is None:
                raise UsageError(
                    f"task {bench_name}/{task_id} has no environment/Dockerfile",
                    f"benchmark {bench_name!r} is per-task: every task needs environment/Dockerfile "
                    "or [environment] docker_image in task.toml",
                )
            check_text_file(dockerfile, "the Dockerfile")
        return task

    def tasks(self, bench_name: str, ids: list[str] | None = None) -> list[Task]:
        return [self.task(bench_name, t) for t in (ids or self.task_ids(bench_name))]

    def agent(self, name: str) -> Agent:
        """The agent as agent.yaml says, at its --agent-version when one is set (applied on
        each call, so a version set after the first call still counts)."""
        agent = self._agent(name)
        if name in self.agent_versions:
            from bakectl.agents.plan import with_version

            agent = with_version(agent, self.agent_versions[name])
        return agent

    @cache  # noqa: B019
    def _agent(self, name: str) -> Agent:
        check_id("agent", name)
        d = self._agent_dir(name)
        if not os.path.lexists(d / "agent.yaml"):
            raise UsageError(f"unknown agent {name!r}", suggest(name, self.agent_names()))
        check_tree(d, owner=d.parent)
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

    def validate_benchmark(self, name: str) -> tuple[int, list[UsageError]]:
        """Load one benchmark and every task of it; return (entries checked, errors)."""
        try:
            self.benchmark(name)
        except UsageError as exc:
            return 1, [exc]
        errors: list[UsageError] = []
        ids = self.task_ids(name)
        for tid in ids:
            try:
                self.task(name, tid)
            except UsageError as exc:
                errors.append(exc)
        return 1 + len(ids), errors

    def validate_all(self) -> tuple[int, list[UsageError]]:
        """Load every descriptor; return (entries checked, errors)."""
        errors: list[UsageError] = []
        count = 0
        for name in self.benchmark_names():
            n, errs = self.validate_benchmark(name)
            count += n
            errors.extend(errs)
        for name in self.agent_names():
            count += 1
            try:
                self.agent(name)
            except UsageError as exc:
                errors.append(exc)
        return count, errors
