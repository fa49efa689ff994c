"""Task selection, parsed once for run, score, bundle and oracle.

    --tasks all            every task
    --tasks 1,2,json-*     ids and globs (fnmatch), in the order given, each once
    --tasks @tasks.txt     one id or glob a line; '#' starts a comment
    --limit N              the first N of the selection

Ids are checked against the tasks that exist (`known`): an unknown id, or a glob that
matches nothing, is a usage error naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from bakectl.errors import UsageError

GLOB_CHARS = frozenset("*?[")


def _from_file(path: Path, flag: str) -> list[str]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{flag} @{path}: no such file",
            f"give a file with one task id a line, e.g. {flag} @tasks.txt",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{flag} @{path} cannot be read: {exc}", "give a text file, one task id a line"
        ) from None
    items = [ln.split("#", 1)[0].strip() for ln in raw.splitlines()]
    items = [i for i in items if i]
    if not items:
        raise UsageError(f"{flag} @{path} names no task", "write one task id a line into the file")
    return items


def parse_items(text: str, flag: str = "--tasks") -> list[str]:
    """The words of a selection: comma-separated ids and globs, `all`, or @FILE's lines."""
    text = text.strip()
    if text.startswith("@"):
        return _from_file(Path(text[1:]), flag)
    items = [p.strip() for p in text.split(",") if p.strip()]
    if not items:
        raise UsageError(f"{flag} names no task", f"e.g. {flag} all, {flag} 1,2,3 or {flag} @FILE")
    return items


def select_tasks(
    selection: str | Sequence[str],
    known: Sequence[str],
    *,
    limit: int | None = None,
    flag: str = "--tasks",
    where: str = "",
) -> list[str]:
    """The task ids `selection` names, among `known`, in order, each once."""
    items = parse_items(selection, flag) if isinstance(selection, str) else list(selection)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: must be at least 1", "e.g. --limit 10")
    where = f" in {where}" if where else ""
    chosen: dict[str, None] = {}
    for item in items:
        if item == "all":
            if not known:
                raise UsageError(f"no tasks{where}", "add task directories first")
            chosen.update(dict.fromkeys(known))
        elif GLOB_CHARS & set(item):
            hits = [t for t in known if fnmatchcase(t, item)]
            if not hits:
                raise UsageError(
                    f"{flag} {item!r} matches no task{where}",
                    f"the tasks: {', '.join(known[:10])}" + (" ..." if len(known) > 10 else ""),
                )
            chosen.update(dict.fromkeys(hits))
        elif item in known:
            if item in chosen:
                raise UsageError(
                    f"task {item!r} is listed more than once",
                    "name each task once; -k N runs N independent attempts of each",
                )
            chosen[item] = None
        else:
            from bakectl.catalog.naming import suggest

            raise UsageError(f"unknown task {item!r}{where}", suggest(item, list(known)))
    ids = list(chosen)
    return ids[:limit] if limit is not None else ids
