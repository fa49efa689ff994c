"""The job directory: every run is a job, and job.json says everything that was asked.

    <out>/<job_id>/
      job.json                         JobRecord: the resolved configuration (--resume reads it)
      tasks/<task>/attempt-<k>/        k = 1..attempts: independent attempts (pass@k)
      tasks/<task>/attempt-<k>.try-<r>/  an earlier try of attempt k that met a transient
                                       fault and was retried (kept, not counted)
      summary.json                     written at the end of the job

A job record may come from anywhere (a copied directory, a hand edit): its ids are
checked before any path is built from them, so a crafted `..` cannot write outside the job.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from bakectl import __version__, gitinfo
from bakectl.errors import UsageError
from bakectl.results.records import JobRecord, read_record, write_record

JOB_FILE = "job.json"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def new_job_id(benchmark: str, agent: str, now: datetime | None = None) -> str:
    """e.g. 20261123T130501Z-arith-oracle-3fa2: sortable by time, unique per job."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{_slug(benchmark)}-{_slug(agent)}-{secrets.token_hex(2)}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "x"


def check_id(value: str, what: str, where: str = "") -> str:
    """An id that becomes a path component or a docker name: no separators, no `..`."""
    if not isinstance(value, str) or not ID_RE.match(value) or ".." in value:
        at = f"{where}: " if where else ""
        raise UsageError(
            f"{at}{what} {value!r} is not a valid id", "ids are [A-Za-z0-9_.-], no '..', no '/'"
        )
    return value


def task_dir(job_dir: Path, task: str) -> Path:
    return job_dir / "tasks" / check_id(task, "task id")


def attempt_dir(job_dir: Path, task: str, k: int) -> Path:
    return task_dir(job_dir, task) / f"attempt-{int(k)}"


def run_id(job_id: str, task: str, k: int, retry: int = 0) -> str:
    """The docker-facing id of one try of an attempt (its containers, network, label)."""
    import hashlib

    suffix = f"-a{k}" + (f"r{retry}" if retry else "")
    rid = f"{job_id}-{task}{suffix}"
    if len(rid) <= 150:
        return rid
    digest = hashlib.sha256(f"{job_id}/{task}".encode()).hexdigest()[:12]
    return f"{job_id[:100]}-{digest}{suffix}"


def provenance(root: Path) -> dict:
    commit = gitinfo.commit(root)
    return {"git_commit": commit or None, "git_dirty": gitinfo.dirty(root) if commit else None}


def job_record(**fields) -> JobRecord:
    """A JobRecord stamped with this bakectl and the time; ids checked."""
    record = JobRecord(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        bakectl_version=__version__,
        **fields,
    )
    check_ids(record, "job")
    return record


def check_ids(record: JobRecord, where: str) -> None:
    check_id(record.job_id, "job_id", where)
    for t in record.task_ids:
        check_id(t, "task id", where)
    if len(set(record.task_ids)) != len(record.task_ids):
        raise UsageError(f"{where}: a task is listed twice", "each task once")


def open_job(out_dir: Path, record: JobRecord) -> Path:
    """Create <out>/<job_id>/ and write job.json; UsageError when it exists."""
    job_dir = Path(out_dir).resolve() / check_id(record.job_id, "job id")
    if job_dir.exists():
        raise UsageError(
            f"job directory {job_dir} already exists",
            f"continue it: bakectl run --resume {display(job_dir)}; or pick another --out",
        )
    (job_dir / "tasks").mkdir(parents=True)
    write_record(job_dir / JOB_FILE, record)
    return job_dir


def read_job(job_dir: Path) -> JobRecord:
    """job.json of a job directory, ids checked; UsageError when it is not one."""
    job_dir = Path(job_dir)
    f = job_dir / JOB_FILE
    if not f.is_file():
        what = "does not exist" if not job_dir.exists() else f"is not a bakectl job (no {JOB_FILE})"
        raise UsageError(f"{job_dir} {what}", "give a job directory bakectl wrote: <out>/<job_id>")
    record = read_record(f, JobRecord)
    check_ids(record, str(f))
    return record


def display(p: Path) -> str:
    """A path as a user may type it from here: relative under the cwd, else absolute."""
    try:
        rel = Path(p).resolve().relative_to(Path.cwd().resolve())
        return str(rel) if str(rel) != "." else "."
    except ValueError:
        return str(Path(p).resolve())
