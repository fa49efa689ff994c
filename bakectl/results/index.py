"""A job's results index: `results.jsonl` at the job root, one line per finished attempt.

    note(job_dir, attempt_dir, result_path, record)   # after an attempt's last file is written
    found = load(job_dir)                             # {attempt dir: Indexed} still true on disk

Why: a report reads one result per attempt, and on these machines opening 10,000 small
files costs more than everything else a report does. The index holds a copy of each
result record next to what the file and its attempt directory looked like when it was
written (inode, size, mtime). `load` keeps an entry only while both still look the
same, so a result rewritten since (by hand, by a re-score, by a resumed job) or an
attempt directory that gained a `rescore-*/` is read from its own files again: the index
can only make a report faster, never different. A damaged line, or an index from
another bakectl, is skipped the same way.

The records themselves stay the truth: nothing else reads results.jsonl, and deleting it
loses nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from bakectl.results.records import ResultRecord

INDEX = "results.jsonl"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: str  # the attempt directory, relative to the job: tasks/<task>/attempt-<k>
    result: str  # the result.json that counts, relative to the attempt directory
    file: tuple[int, int, int]  # inode, size, mtime_ns of that result.json
    dir: tuple[int, int]  # inode, mtime_ns of the attempt directory
    record: ResultRecord


@dataclass(frozen=True)
class Indexed:
    result_path: str
    rescored: bool
    record: ResultRecord


def _file_stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


def _dir_stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_ino, st.st_mtime_ns


def _result_name_ok(name: str) -> bool:
    """result.json or rescore-<stamp>/result.json: nothing that leaves the attempt."""
    if name == "result.json":
        return True
    head, sep, tail = name.partition("/")
    return bool(sep) and tail == "result.json" and head.startswith("rescore-") and ".." not in head


def note(job_dir: Path, attempt_dir: Path, result_path: Path, record: ResultRecord) -> None:
    """Add an attempt's result to the index. Call it once nothing more is written into the
    attempt directory. Best effort: an index that cannot be written costs speed only."""
    try:
        attempt = os.path.relpath(attempt_dir, job_dir)
        result = os.path.relpath(result_path, attempt_dir).replace(os.sep, "/")
        if attempt.startswith("..") or not _result_name_ok(result):
            return
        entry = _Entry(
            attempt=attempt.replace(os.sep, "/"),
            result=result,
            file=_file_stamp(os.stat(result_path)),
            dir=_dir_stamp(os.stat(attempt_dir)),
            record=record,
        )
        line = entry.model_dump_json().encode() + b"\n"
        # One write on an O_APPEND descriptor: lines from two writers never interleave.
        fd = os.open(Path(job_dir) / INDEX, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except (OSError, ValueError):
        pass


def load(job_dir: Path) -> dict[str, Indexed]:
    """{attempt directory relative to the job: its result} for every index entry that still
    matches the files on disk; the newest entry of an attempt wins."""
    try:
        with open(Path(job_dir) / INDEX, "rb") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return {}
    newest: dict[str, _Entry] = {}
    for line in lines:
        try:
            entry = _Entry.model_validate_json(line)
        except ValidationError:
            continue  # a line cut short by a kill, or another bakectl's: read the files
        newest[entry.attempt] = entry
    root = os.fspath(job_dir)
    found: dict[str, Indexed] = {}
    for attempt, entry in newest.items():
        if not _result_name_ok(entry.result) or ".." in attempt.split("/"):
            continue
        attempt_dir = os.path.join(root, attempt)
        path = os.path.join(attempt_dir, entry.result)
        try:
            if _dir_stamp(os.stat(attempt_dir)) != entry.dir:
                continue
            if _file_stamp(os.stat(path)) != entry.file:
                continue
        except OSError:
            continue
        found[attempt] = Indexed(path, entry.result != "result.json", entry.record)
    return found
