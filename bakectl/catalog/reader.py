"""The one reading layer for catalog input: every descriptor, Dockerfile and task
folder passes through here before anything else looks at it.

- A descriptor (benchmark.yaml, task.toml, agent.yaml) must be a regular file of at
  most MAX_DESCRIPTOR_BYTES, UTF-8, nested at most MAX_NESTING deep. A directory, a
  FIFO (which would block a read forever), a device or a socket is refused from its
  `stat`, before it is opened.
- A folder that becomes a build context or is copied into one (a task, an environment,
  an agent) holds only regular files, folders and symlinks that stay inside it; the
  folder itself may be a symlink only to somewhere inside its owner. Special files and
  symlink loops are refused before anything reads them.

Every refusal is a UsageError naming the path (and line or byte offset where one is
known), so a command never shows a traceback for hostile or careless input.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bakectl.errors import UsageError

MAX_DESCRIPTOR_BYTES = 1 << 20  # a descriptor is a page of fields, never a data file
MAX_NESTING = 64  # mappings/lists inside one another; real descriptors use 3 or 4

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """'a directory', 'a FIFO (named pipe)', ... or 'a regular file'."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def check_regular_file(path: Path, missing_hint: str) -> os.stat_result:
    """The file's stat (following a symlink); UsageError unless it is a regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"missing {path}", missing_hint) from None
    except RuntimeError:  # a symlink loop (Python 3.11 raises this, not OSError)
        raise UsageError(f"{path} is a symlink loop", "point the link at a real file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", missing_hint) from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"{path} is {kind_of(st.st_mode)}, not a file",
            "replace it with a regular file (special files and folders are never read)",
        )
    return st


def read_text(path: Path, missing_hint: str, limit: int = MAX_DESCRIPTOR_BYTES) -> str:
    """A regular file's UTF-8 text, at most `limit` bytes."""
    check_regular_file(path, missing_hint)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", missing_hint) from None
    if len(data) > limit:
        raise UsageError(
            f"{path} is larger than {limit // 1024} KiB",
            "a descriptor holds fields, not data; move data into the task's files",
        )
    return decode_utf8(path, data)


def decode_utf8(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is harmless; drop it
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise UsageError(
            f"{path}:{line}: not UTF-8 text (byte 0x{byte} at offset {exc.start})",
            "save the file as UTF-8",
        ) from None


# -- descriptors ------------------------------------------------------------------------------


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


def _too_deep(path: Path, line: int | None = None) -> UsageError:
    at = f"{path}:{line}" if line else str(path)
    return UsageError(
        f"{at}: nested more than {MAX_NESTING} levels deep",
        "a descriptor is a few levels of fields; flatten the structure",
    )


def _check_yaml_nesting(path: Path, text: str) -> None:
    """Count nesting from parser events, which PyYAML produces without recursion; stop
    at the first event past the limit (the composer would recurse once per level)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise _too_deep(path, event.start_mark.line + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_data_nesting(path: Path, data: Any) -> None:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise _too_deep(path)
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]


def _malformed_yaml(path: Path, exc: yaml.YAMLError) -> UsageError:
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return UsageError(
        f"{path}{line}: malformed YAML: {problem}", "fix the YAML syntax at that line"
    )


def _validated(path: Path, model: type[BaseModel], data: dict, text: str | None, hint: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UsageError(_validation_message(path, exc, text), hint) from None


def load_yaml(path: Path, model: type[BaseModel]) -> Any:
    text = read_text(path, "every entry needs this file")
    try:
        _check_yaml_nesting(path, text)
        data = yaml.safe_load(text)  # safe: no tags that build objects; aliases are not expanded
    except yaml.YAMLError as exc:
        raise _malformed_yaml(path, exc) from None
    except RecursionError:  # the nesting check bounds this; kept as a last line
        raise _too_deep(path) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1: expected a mapping of fields", "see containers/ examples")
    return _validated(path, model, data, text, "see the example descriptors in containers/")


def load_toml(path: Path, model: type[BaseModel]) -> Any:
    text = read_text(path, "every task needs task.toml")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in its message.
        raise UsageError(f"{path}: malformed TOML: {exc}", "fix the TOML syntax there") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise _too_deep(path) from None
    _check_data_nesting(path, data)
    return _validated(path, model, data, None, "see Harbor's task.toml fields")


def check_text_file(path: Path, what: str) -> None:
    """A file bakectl reads as text later (a Dockerfile, a template): regular and UTF-8,
    so a bad byte is reported here with its line, not as a traceback mid-render."""
    read_text(path, f"{what} must exist", limit=64 << 20)


# -- folders ----------------------------------------------------------------------------------


def _inside(target: Path, base: Path) -> bool:
    return target == base or base in target.parents


def _resolve_link(link: Path) -> Path:
    """Where a symlink finally points; UsageError on a loop."""
    try:
        return link.resolve(strict=False)
    except (RuntimeError, OSError):  # "Symlink loop from ..." (3.11), ELOOP later
        raise UsageError(
            f"{link} is a symlink loop", "remove the link, or point it at a real file"
        ) from None


def _walk_error(exc: OSError) -> None:
    raise UsageError(
        f"cannot read {exc.filename}: {exc.strerror}", "make the folder readable"
    ) from None


def check_tree(top: Path, owner: Path | None = None) -> None:
    """Refuse what must never enter a build context, before anything reads the folder:
    special files, symlink loops and symlinks leaving `top`. `top` itself may be a
    symlink only to somewhere inside `owner`; with no owner (a build context: an
    environment folder) it may not be a symlink at all."""
    if not os.path.lexists(top):
        return
    if top.is_symlink():
        target = _resolve_link(top)
        if owner is None:
            raise UsageError(
                f"{top} is a symlink (to {os.readlink(top)}); a build context must be a folder",
                "replace the link with the folder itself",
            )
        if not _inside(target, owner.resolve()):
            raise UsageError(
                f"{top} is a symlink to {os.readlink(top)}, outside {owner}",
                "replace the link with the folder itself",
            )
    if not top.is_dir():
        return
    base = top.resolve()
    for dirpath, dirnames, filenames in os.walk(top, onerror=_walk_error):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                target = _resolve_link(p)
                if not _inside(target, base):
                    raise UsageError(
                        f"symlink {p} points outside {top} (to {os.readlink(p)})",
                        "replace the link with a copy of the file, or point it inside the directory",
                    )
                try:
                    mode = target.stat().st_mode
                except OSError:
                    continue  # dangling, inside the folder: the build reports it if used
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UsageError(
                    f"{p} is {kind_of(mode)}",
                    "a task folder holds regular files, folders and links only; remove it",
                )
