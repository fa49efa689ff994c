"""Task sources: a benchmark is an entry of the catalog (containers/benchmarks/<id>/) or
a folder on disk given with `-p PATH`.

`-p PATH` takes, unchanged:
  - one Harbor task folder (task.toml, instruction.md, environment/, tests/, solution/);
  - a dataset: a folder of task folders;
  - a bakectl benchmark folder (benchmark.yaml + tasks/<id>/).

The benchmark id is `--name`, else benchmark.yaml's `name`, else the folder's name, made
DNS-safe (`Terminal-Bench 2.0` -> `terminal-bench-2-0`). An optional benchmark.yaml beside
the tasks (in the dataset folder, or beside a single task's folder) adds bakectl's
settings: a shared environment, the workdir, a data revision, base-image mappings.
Task ids are the task folders' names, as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bakectl.catalog.naming import check_id, dns_safe
from bakectl.errors import UsageError

SPEC_FILE = "benchmark.yaml"
_HINT = (
    "-p takes a Harbor task folder (task.toml, instruction.md, tests/test.sh), "
    "a folder of task folders, or a benchmark folder with tasks/"
)


def is_task_dir(d: Path) -> bool:
    """A folder that means to be a task (the loader then checks it is a whole one)."""
    return (d / "task.toml").is_file() or (d / "instruction.md").is_file()


def task_names(tasks_dir: Path, *, every: bool) -> list[str]:
    """The task folders in `tasks_dir`, sorted. `every`: each subfolder is one (a catalog's
    tasks/, where a folder missing task.toml is an error, not something else)."""
    try:
        entries = list(os.scandir(tasks_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        e.name
        for e in entries
        if e.is_dir() and not e.name.startswith(".") and (every or is_task_dir(Path(e.path)))
    )


@dataclass(frozen=True)
class TaskFolder:
    """A benchmark that is a folder on disk (`-p PATH`), not an entry of containers/."""

    name: str  # the benchmark id
    given: Path  # PATH as the user gave it (for messages and records)
    dir: Path  # where benchmark.yaml and a shared environment/ would sit
    tasks_dir: Path  # the folder of task folders
    only: str | None  # PATH is this one task folder of tasks_dir
    every: bool  # tasks_dir is a bakectl tasks/ folder: every subfolder is a task

    @property
    def spec_file(self) -> Path | None:
        f = self.dir / SPEC_FILE
        return f if f.is_file() else None

    @property
    def path(self) -> Path:
        """PATH resolved: the task folder, the dataset folder or the benchmark folder."""
        if self.only is not None:
            return self.tasks_dir / self.only
        return self.tasks_dir.parent if self.every else self.tasks_dir

    def task_ids(self) -> list[str]:
        if self.only is not None:
            return [self.only]
        return task_names(self.tasks_dir, every=self.every)


def _settings_dir(tasks_dir: Path) -> Path:
    """Where benchmark.yaml sits for tasks in `tasks_dir`: beside them, or one up when
    they are a bakectl benchmark's tasks/ folder."""
    if not (tasks_dir / SPEC_FILE).is_file() and tasks_dir.name == "tasks":
        if (tasks_dir.parent / SPEC_FILE).is_file():
            return tasks_dir.parent
    return tasks_dir


def _spec_name(spec_file: Path | None) -> str | None:
    if spec_file is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None  # the loader reports it, with its line
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def open_folder(path: Path, name: str | None = None) -> TaskFolder:
    """Resolve `-p PATH [--name ID]` to a TaskFolder, or say why PATH holds no task."""
    p = Path(os.path.expanduser(str(path)))
    if not p.exists():
        raise UsageError(f"-p {path}: no such folder", _HINT)
    if not p.is_dir():
        raise UsageError(f"-p {path}: not a folder", _HINT)
    p = p.resolve()
    if is_task_dir(p):
        tasks_dir, only, every = p.parent, p.name, False
        check_id("task", only, f"-p {path} (the task id is the folder's name)")
    elif task_names(p, every=False):
        tasks_dir, only, every = p, None, False
    elif (p / "tasks").is_dir() and task_names(p / "tasks", every=False):
        tasks_dir, only, every = p / "tasks", None, True
    else:
        raise UsageError(
            f"-p {path}: no task in this folder (no task.toml or instruction.md)", _HINT
        )
    settings = _settings_dir(tasks_dir)
    spec_file = settings / SPEC_FILE if (settings / SPEC_FILE).is_file() else None
    if name is not None:
        bench = dns_safe(name)
    else:
        bench = dns_safe(_spec_name(spec_file) or p.name)
    return TaskFolder(
        name=bench, given=path, dir=settings, tasks_dir=tasks_dir, only=only, every=every
    )
