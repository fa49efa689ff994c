"""Find and load descriptors lazily: a command touches only the files it needs,
so its cost does not grow with the size of the catalog."""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bakectl.catalog.models import (
    Agent,
    AgentSpec,
    Benchmark,
    BenchmarkSpec,
    Task,
    TaskSpec,
)
from bakectl.catalog.naming import check_id, suggest
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


def _line_of_key(text: str, key: str) -> int | None:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if getattr(k, "value", None) == key:
                return k.start_mark.line + 1
    return None


def _validation_message(path: Path, exc: ValidationError, text: str | None) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    line = _line_of_key(text, str(err["loc"][0])) if text and err["loc"] else None
    at = f"{path}:{line}" if line else str(path)
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{at}: field '{field}': {err['msg']}{more}"


def _read_text(path: Path, missing_hint: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"missing {path}", missing_hint) from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path}:{line}: not UTF-8 text ({exc.reason})", "save the file as UTF-8"
        ) from None


def load_yaml(path: Path, model: type[BaseModel]) -> Any:
    text = _read_text(path, "every entry needs this file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"{path}{line}: malformed YAML: {problem}", "fix the YAML syntax at that line"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1: expected a mapping of fields", "see containers/ examples")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UsageError(
            _validation_message(path, exc, text), "see the example descriptors in containers/"
        ) from None


def load_toml(path: Path, model: type[BaseModel]) -> Any:
    try:
        data = tomllib.loads(_read_text(path, "every task needs task.toml"))
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in its message.
        raise UsageError(f"{path}: malformed TOML: {exc}", "fix the TOML syntax there") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UsageError(
            _validation_message(path, exc, None), "see Harbor's task.toml fields"
        ) from None


def check_symlinks(top: Path) -> None:
    """A symlink that leaves its directory would leak host files into a build context."""
    if not top.is_dir():
        return
    base = top.resolve()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                target = p.resolve()
                if target != base and base not in target.parents:
                    raise UsageError(
                        f"symlink {p} points outside {top} (to {os.readlink(p)})",
                        "replace the link with a copy of the file, or point it inside the directory",
                    )


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
        # agent -> --agent-version: an installed agent at another upstream release than its pin
        self.agent_versions: dict[str, str] = {}

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
        if not (d / "benchmark.yaml").is_file():
            raise UsageError(f"unknown benchmark {name!r}", suggest(name, self.benchmark_names()))
        spec = load_yaml(d / "benchmark.yaml", BenchmarkSpec)
        if spec.name != name:
            raise UsageError(
                f"{d / 'benchmark.yaml'}: name {spec.name!r} differs from its directory {name!r}",
                "make the name field equal the directory name",
            )
        bench = Benchmark(spec=spec, dir=d)
        if bench.shared:
            if env_dockerfile(bench.env_dir) is None:
                raise UsageError(
                    f"benchmark {name!r} is shared-environment but {bench.env_dir} has no Dockerfile",
                    "add environment/Dockerfile (or Dockerfile.j2) at the benchmark level",
                )
            check_symlinks(bench.env_dir)
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
        spec = load_toml(d / "task.toml", TaskSpec)
        for required in ("instruction.md", "tests/test.sh"):
            if not (d / required).is_file():
                raise UsageError(
                    f"task {bench_name}/{task_id} has no {required} ({d / required})",
                    "a task needs instruction.md (for the agent) and tests/test.sh (the scorer)",
                )
        check_symlinks(d)
        # The build context on its own: a link from environment/ into tests/ stays
        # inside the task directory but crosses the visibility boundary.
        check_symlinks(d / "environment")
        task = Task(id=task_id, benchmark=bench_name, spec=spec, dir=d)
        if not bench.shared and env_dockerfile(task.env_dir) is None:
            raise UsageError(
                f"task {bench_name}/{task_id} has no environment/Dockerfile",
                f"benchmark {bench_name!r} is per-task: every task needs environment/Dockerfile",
            )
        return task

    def tasks(self, bench_name: str, ids: list[str] | None = None) -> list[Task]:
        return [self.task(bench_name, t) for t in (ids or self.task_ids(bench_name))]

    @cache  # noqa: B019
    def agent(self, name: str) -> Agent:
        check_id("agent", name)
        d = self.agents_dir / name
        if not (d / "agent.yaml").is_file():
            raise UsageError(f"unknown agent {name!r}", suggest(name, self.agent_names()))
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
        check_symlinks(d)
        agent = Agent(spec=spec, dir=d)
        if name in self.agent_versions:
            from bakectl.agents.plan import with_version

            agent = with_version(agent, self.agent_versions[name])
        return agent

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
