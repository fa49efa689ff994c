"""Bundles: one directory that rebuilds and reruns an evaluation anywhere, without the repo.

    make_bundle(renderer, source_for_run(Path("runs/<run_id>")), Path("b"))   # after a run
    make_bundle(renderer, source_for_catalog(r, "arith", "chat", ["1"]), Path("b"))  # before
    run_bundle(load_bundle(Path("b")), None, RunOptions(out_dir=Path("runs")))   # rebuild + rerun, no repo

Layout (every JSON file sorted and indented; nothing machine-local but label values):

    manifest.json            a BundleManifest record (results.records: kind
                             "bakectl-bundle", schema_version); bakectl version, git commit,
                             created_at (the run's started_at, or SOURCE_DATE_EPOCH / the
                             last commit's time), the command line (output dir as
                             "<bundle>"), environment variable NAMES (values only with
                             --capture-env, secret-looking ones redacted), benchmark and
                             agent descriptors, tasks -> eval target + fixture, the
                             rebuild command, sha256 of every other file
    images.json              per bake target: kind, ref, repository path, content hash,
                             image id (when known: the run's, or the local store's)
    bake/definition.json     `docker buildx bake --print` of the images, context and
                             dockerfile rewritten relative to the bundle: from the bundle
                             directory, `docker buildx bake -f bake/definition.json --load T`
    bake/Dockerfiles/<target>/Dockerfile     the rendered Dockerfiles
    contexts/<target>/...    the build contexts, copied
    tasks/<task>/            what the agent may see: instruction.md, task.toml
    scorer/<task>/tests/     scorer-only, kept apart: tests/ and solution/
    scorer/<task>/solution/
    fixtures/<task>/         replay fixtures: exchanges.jsonl + provenance.json

Deterministic: the same inputs give the same bytes (fixed timestamps, sorted keys, file
modes normalized to 0644/0755 and mtimes set to created_at). Bundling a bundle is a
no-op: the same directory, or a byte-identical copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bakectl import __version__
from bakectl.catalog import Agent, Benchmark, Task
from bakectl.catalog.loader import load_toml
from bakectl.catalog.models import AgentSpec, BenchmarkSpec, TaskSpec
from bakectl.errors import UsageError
from bakectl.gitinfo import git, source_epoch
from bakectl.render.renderer import ImageTarget, Renderer
from bakectl.results.records import (
    BundleManifest,
    BundleTaskEntry,
    JobRecord,
    ResultRecord,
    RunRecord,
    TaskSource,
    read_record,
    write_record,
)
from bakectl.results.rundir import write_atomic
from bakectl.runner.fixtures import find_fixture
from bakectl.runner.gateway_ctl import GatewayConfig
from bakectl.runner.spec import (
    RunOptions,
    RunSpec,
    TaskResult,
    assemble_spec,
    replay_provenance,
    with_recorded_model,
)

BUNDLE_KIND = BundleManifest.KIND
MANIFEST = "manifest.json"
IMAGES = "images.json"
DEFINITION = "bake/definition.json"
OUT_PLACEHOLDER = "<bundle>"
REDACTED = "[REDACTED]"

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTH|CREDENTIAL", re.IGNORECASE)
SECRET_VALUES = (
    re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}"),  # OpenAI / Anthropic style
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),  # JWT
    re.compile(r"\bBearer\s+\S{16,}"),
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # credentials in a URL
)
# A long unbroken run of letters AND digits (hex or base64 keys); paths and words do not match.
_GENERIC_KEY = re.compile(r"^[A-Za-z0-9_+/=-]{32,}$")


# -- small helpers ------------------------------------------------------------------------------


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{what} {path} does not exist", "is this a directory bakectl wrote?"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{what} {path} cannot be read: {exc}", "is it complete?") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} is not a JSON object", "is this a file bakectl wrote?")
    return data


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(iso: str) -> int:
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def catalog_time(root: Path) -> str:
    """SOURCE_DATE_EPOCH, else the last commit's time, else the epoch: never the clock."""
    return _iso(source_epoch(root))


def looks_secret(name: str, value: str) -> bool:
    if SECRET_NAME.search(name):
        return True
    if any(p.search(value) for p in SECRET_VALUES):
        return True
    v = value.strip()
    return bool(
        _GENERIC_KEY.match(v) and any(c.isdigit() for c in v) and any(c.isalpha() for c in v)
    )


def environment_record(environ: dict[str, str], capture: bool) -> dict[str, Any]:
    """Names only; with `capture`, values too, secret-looking ones redacted."""
    rec: dict[str, Any] = {"names": sorted(environ)}
    if capture:
        rec["values"] = {
            k: REDACTED if looks_secret(k, v) else v for k, v in sorted(environ.items())
        }
    return rec


def is_bundle(path: Path) -> bool:
    try:
        data = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == BUNDLE_KIND


def check_out(out: Path) -> None:
    """-o: a new or empty directory, or an existing bundle (replaced)."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"-o {out} is a file", "give a new or empty directory for the bundle")
    if any(out.iterdir()) and not is_bundle(out):
        raise UsageError(
            f"-o {out} is not empty and not a bundle",
            "give a new or empty directory (an existing bundle there is replaced)",
        )


def _normalize(root: Path, epoch: int) -> None:
    """Modes 0644/0755, mtimes = epoch: two bundles of the same inputs are the same bytes."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                os.utime(p, (epoch, epoch), follow_symlinks=False)
                continue
            p.chmod(0o755 if os.stat(p).st_mode & 0o111 else 0o644)
            os.utime(p, (epoch, epoch))
        for name in dirnames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                p.chmod(0o755)
                os.utime(p, (epoch, epoch))
    root.chmod(0o755)
    os.utime(root, (epoch, epoch))


def _file_digests(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel == MANIFEST:
                continue
            data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            out[rel] = "sha256:" + hashlib.sha256(data).hexdigest()
    return dict(sorted(out.items()))


def _ignore(*extra: Path):
    skip = {p.resolve() for p in extra}

    def ignore(dirpath: str, names: list[str]) -> set[str]:
        out = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        out |= {n for n in names if (Path(dirpath) / n).resolve() in skip}
        return out

    return ignore


def _place(tmp: Path, out: Path) -> None:
    """Move a finished bundle into place (replacing an empty dir or an older bundle)."""
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)


def _tmp_for(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.bundle-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


# -- what to bundle ---------------------------------------------------------------------------


@dataclass
class BundleSource:
    """What a bundle is made of, resolved from a run, a batch or the catalog."""

    kind: str  # run | batch | catalog
    benchmark: str
    agent: str
    tasks: list[str]
    created_at: str
    registry: str | None = None  # the run's image namespace
    fixtures: dict[str, Path] = field(default_factory=dict)
    image_ids: dict[str, str] = field(default_factory=dict)  # ref -> id, from the run(s)
    eval_refs: dict[str, str] = field(default_factory=dict)  # task -> the eval ref that ran
    results: dict[str, dict] = field(default_factory=dict)  # task -> status, reward, model
    info: dict[str, Any] = field(default_factory=dict)  # manifest "source"
    warnings: list[str] = field(default_factory=list)


def _run_fixture(run: RunRecord, where: Path) -> tuple[Path | None, str]:
    gw = run.gateway
    if gw is None or gw.kind == "none":
        return None, ""
    if gw.kind not in ("replay", "record") or not gw.location:
        return None, f"{where}: the gateway passed through ({gw.kind}); nothing to replay"
    path = Path(gw.location)
    if not path.exists():
        return None, f"{where}: its fixture {path} is gone; the bundle has none for it"
    return path, ""


def job_attempts(job_dir: Path) -> tuple[JobRecord, list[Path]]:
    """A job's record and each task's last attempt directory (the ones that exist)."""
    from bakectl.results.rundir import attempt_dirs
    from bakectl.runner.job import read_job, task_dir

    job = read_job(job_dir)
    found = []
    for t in job.task_ids:
        dirs = attempt_dirs(task_dir(job_dir, t))
        if dirs:
            found.append(Path(dirs[-1][1]))
    if not found:
        raise UsageError(f"job {job_dir} holds no attempt yet", "wait for the job to run")
    return job, found


def source_for_runs(path: Path) -> BundleSource:
    """A job directory (each task's last attempt)."""
    path = Path(path).resolve()
    job, run_dirs = job_attempts(path)
    if job.agent_cmd or job.agent == "local":
        raise UsageError(
            f"{path} is a local --agent-cmd run: there is no agent image to bundle",
            "bundle the benchmark before a run: bakectl bundle BENCH --agent A -o DIR",
        )
    src = BundleSource(
        kind="job",
        benchmark=job.source.benchmark,
        agent=job.agent,
        tasks=[],
        created_at="",
        registry=job.registry,
    )
    for d in run_dirs:
        run = read_record(d / "run.json", RunRecord)
        task = run.task
        src.tasks.append(task)
        for key in ("eval", "gateway"):
            img = run.images.get(key)
            if img is not None and img.ref and img.id:
                src.image_ids[img.ref] = img.id
        ev = run.images.get("eval")
        if ev is not None and ev.ref:
            src.eval_refs[task] = ev.ref
        fx, why = _run_fixture(run, d)
        if fx is not None:
            src.fixtures[task] = fx
        elif why:
            src.warnings.append(why)
        result = None
        if (d / "result.json").is_file():
            result = read_record(d / "result.json", ResultRecord)
        src.results[task] = {
            "status": result.status if result else None,
            "reward": result.reward if result else None,
            "model": result.model if result else job.model,
        }
    src.info = {"kind": "job", "job_id": job.job_id}
    src.created_at = _iso(_epoch(job.created_at))
    src.tasks = sorted(set(src.tasks), key=src.tasks.index)
    return src


def source_for_catalog(
    renderer: Renderer,
    benchmark: str,
    agent: str,
    task_ids: list[str] | None,
    fixtures: Path | None = None,
) -> BundleSource:
    """Before any run: the catalog's benchmark x agent, some or all tasks."""
    cat = renderer.catalog
    cat.benchmark(benchmark)
    cat.agent(agent)
    ids = cat.task_ids(benchmark) if not task_ids or task_ids == ["all"] else task_ids
    for t in ids:
        cat.task(benchmark, t)
    src = BundleSource(
        kind="catalog",
        benchmark=benchmark,
        agent=agent,
        tasks=list(ids),
        created_at=catalog_time(cat.root),
        info={"kind": "catalog"},
    )
    if fixtures is not None:
        if not fixtures.exists():
            raise UsageError(f"--fixtures {fixtures} does not exist", "give a fixture directory")
        for t in ids:
            fx = find_fixture(fixtures, benchmark, t, agent, single=len(ids) == 1)
            if fx is not None:
                src.fixtures[t] = fx
        if not src.fixtures:
            raise UsageError(
                f"--fixtures {fixtures}: no fixture for {benchmark} task(s) {', '.join(ids)}",
                "give a fixture dir (exchanges.jsonl) or a parent with <task>-<agent>/ or "
                "<bench>/<task>-<agent>/ directories",
            )
        for t in ids:
            if t not in src.fixtures:
                src.warnings.append(f"--fixtures {fixtures}: no fixture for task {t}")
    return src


def _check_fixture(path: Path, bench: str, task: str, agent: str) -> None:
    from bakectl.gateway import FixtureError, load_exchanges, read_provenance, scan_for_secrets

    try:
        load_exchanges(path)
    except FixtureError as exc:
        raise UsageError(f"fixture {path}: {exc.message}", exc.hint) from None
    try:
        prov = read_provenance(path)  # {} when absent; a corrupt one is an error
    except FixtureError as exc:
        raise UsageError(f"fixture {path}: {exc.message}", exc.hint) from None
    for key, want in (("benchmark", bench), ("task", task), ("agent", agent)):
        got = prov.get(key)
        if got is not None and str(got) != want:
            raise UsageError(
                f"fixture {path} was recorded for {key} {got!r}, the bundle has {want!r}",
                "give the fixture of this benchmark, task and agent",
            )
    findings = scan_for_secrets(path)
    if findings:
        f = findings[0]
        raise UsageError(
            f"fixture {path} holds what looks like a secret ({f.file}:{f.line}: {f.rule})",
            "a bundle is for sharing: check it with 'bakectl fixtures check' and re-record",
        )


def _copy_fixture(src: Path, dest: Path) -> None:
    from bakectl.gateway import fixture_paths

    paths = fixture_paths(src)
    dest.mkdir(parents=True)
    shutil.copyfile(paths.exchanges, dest / "exchanges.jsonl")
    if paths.provenance.is_file():
        shutil.copyfile(paths.provenance, dest / "provenance.json")


# -- making a bundle --------------------------------------------------------------------------


def _registry_of(ref: str, path: tuple[str, ...]) -> str | None:
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    suffix = "/" + "/".join(path)
    return repo[: -len(suffix)] if repo.endswith(suffix) else None


def _eval_for(r: Renderer, bench: Benchmark, agent: Agent, task: Task) -> ImageTarget:
    return r.eval(bench, agent, None if bench.shared else task)


def _local_image(ref: str) -> dict[str, Any]:
    from bakectl.engine.plan import Step, run_process

    res = run_process(
        Step(("docker", "image", "inspect", "--format", "{{json .}}", ref), mutates=False)
    )
    if not res.ok:
        return {}
    try:
        data = json.loads(res.stdout)
    except ValueError:
        return {}
    return {"id": data.get("Id"), "repo_digests": sorted(data.get("RepoDigests") or [])}


def _rewrite_definition(printed: dict[str, Any], root: Path, cwd: Path) -> dict[str, Any]:
    """Copy every target's Dockerfile and context into `root`; paths become bundle-relative
    (context relative to the bundle dir, dockerfile relative to the context, as bake reads)."""
    out = json.loads(json.dumps(printed))
    for name, spec in sorted(out.get("target", {}).items()):
        ctx_raw = spec.get("context", ".")
        if "://" in ctx_raw or ctx_raw.startswith("git@"):
            raise UsageError(
                f"bake target {name}: context {ctx_raw} is not a local directory",
                "a bundle copies local build contexts only",
            )
        ctx = Path(ctx_raw) if os.path.isabs(ctx_raw) else cwd / ctx_raw
        rel_ctx = f"contexts/{name}"
        shutil.copytree(ctx, root / rel_ctx, symlinks=True, ignore=_ignore(root))
        spec["context"] = rel_ctx
        if "dockerfile-inline" not in spec:
            df_raw = spec.get("dockerfile", "Dockerfile")
            df = Path(df_raw) if os.path.isabs(df_raw) else ctx / df_raw
            dest = root / "bake" / "Dockerfiles" / name / "Dockerfile"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(df, dest)
            ignore_file = df.with_name(df.name + ".dockerignore")
            if ignore_file.is_file():
                shutil.copyfile(ignore_file, dest.with_name("Dockerfile.dockerignore"))
            spec["dockerfile"] = f"../../bake/Dockerfiles/{name}/Dockerfile"
        for key, value in sorted((spec.get("contexts") or {}).items()):
            if re.match(r"^(target:|docker-image://|oci-layout://|https?://|git@)", value):
                continue
            local = Path(value) if os.path.isabs(value) else cwd / value
            rel = f"contexts/{name}@{key}"
            shutil.copytree(local, root / rel, symlinks=True, ignore=_ignore(root))
            spec["contexts"][key] = rel
    return out


def _command_line(argv: list[str] | None) -> list[str]:
    return list(argv) if argv is not None else ["bakectl", "bundle"]


def make_bundle(
    renderer: Renderer,
    src: BundleSource,
    out: Path,
    *,
    command: list[str] | None = None,
    capture_env: bool = False,
    environ: dict[str, str] | None = None,
    echo=sys.stderr,
) -> Path:
    """Write the bundle of `src` to `out` (a new or empty dir, or an older bundle)."""
    from bakectl.engine.build import Builder, BuildOptions

    out = Path(out).resolve()
    check_out(out)
    cat = renderer.catalog
    bench = cat.benchmark(src.benchmark)
    agent = cat.agent(src.agent)
    tasks = [cat.task(src.benchmark, t) for t in src.tasks]
    if not tasks:
        raise UsageError(f"nothing to bundle: benchmark {src.benchmark!r} has no tasks", "add one")
    for t in tasks:
        if t.id in src.fixtures:
            _check_fixture(src.fixtures[t.id], bench.name, t.id, agent.name)
    # The run's image namespace, so the definition names the images that ran.
    probe = _eval_for(renderer, bench, agent, tasks[0])
    ran = src.eval_refs.get(tasks[0].id)
    registry = _registry_of(ran, probe.path) if ran else None
    if registry and registry != renderer.vars["REGISTRY"]:
        renderer = Renderer(cat, {**renderer.vars, "REGISTRY": registry}, renderer.build_dir)
    warnings = list(src.warnings)
    task_targets: dict[str, ImageTarget] = {}
    for t in tasks:
        target = _eval_for(renderer, bench, agent, t)
        task_targets[t.id] = target
        if src.eval_refs.get(t.id) and src.eval_refs[t.id] != target.image:
            warnings.append(
                f"task {t.id}: the run's eval image was {src.eval_refs[t.id]}; the catalog "
                f"now renders {target.image} (it changed since the run)"
            )
    gateway = renderer.gateway()
    targets: list[ImageTarget] = []
    for t in [*task_targets.values(), gateway]:
        if t.target not in {x.target for x in targets}:
            targets.append(t)
    bake_file = renderer.write(targets)
    printed = Builder(renderer, BuildOptions()).bake_print(bake_file, targets)
    known = {c.target: c for t in targets for c in t.closure()}
    tmp = _tmp_for(out)
    try:
        definition = _rewrite_definition(printed, tmp, Path.cwd())
        (tmp / "bake").mkdir(exist_ok=True)
        (tmp / DEFINITION).write_text(_json_text(definition), encoding="utf-8")
        images: dict[str, Any] = {}
        for name, spec in sorted(definition.get("target", {}).items()):
            t = known.get(name)
            ref = (spec.get("tags") or [t.image if t else ""])[0]
            entry: dict[str, Any] = {
                "kind": t.kind if t else spec.get("labels", {}).get("dev.bakectl.kind"),
                "ref": ref,
                "path": list(t.path) if t else None,
                "content_hash": t.digest if t else None,
                "id": src.image_ids.get(ref),
                "repo_digests": [],
            }
            local = _local_image(ref)
            if local:
                entry["id"] = entry["id"] or local["id"]
                entry["repo_digests"] = local["repo_digests"]
            images[name] = entry
        (tmp / IMAGES).write_text(_json_text({"targets": images}), encoding="utf-8")
        manifest_tasks: dict[str, BundleTaskEntry] = {}
        for t in tasks:
            (tmp / "tasks" / t.id).mkdir(parents=True)
            shutil.copyfile(t.instruction, tmp / "tasks" / t.id / "instruction.md")
            shutil.copyfile(t.dir / "task.toml", tmp / "tasks" / t.id / "task.toml")
            for part, d in (("tests", t.tests_dir), ("solution", t.solution_dir)):
                if d.is_dir():
                    shutil.copytree(
                        d, tmp / "scorer" / t.id / part, symlinks=True, ignore=_ignore(tmp)
                    )
            fixture = None
            if t.id in src.fixtures:
                _copy_fixture(src.fixtures[t.id], tmp / "fixtures" / t.id)
                fixture = f"fixtures/{t.id}"
            manifest_tasks[t.id] = BundleTaskEntry(
                eval_target=task_targets[t.id].target,
                fixture=fixture,
                recorded=src.results.get(t.id),
            )
        rebuild = sorted({t.target for t in task_targets.values()})
        if src.fixtures:  # replaying needs the gateway image too
            rebuild.append(gateway.target)
        manifest = BundleManifest(
            bakectl_version=__version__,
            git_commit=git(cat.root, "rev-parse", "HEAD") or None,
            created_at=src.created_at,
            command=_command_line(command),
            source=src.info,
            benchmark=bench.spec.model_dump(mode="json"),
            agent=agent.spec.model_dump(mode="json"),
            registry=renderer.vars["REGISTRY"],
            tasks=manifest_tasks,
            gateway_target=gateway.target,
            rebuild="docker buildx bake -f bake/definition.json --load "
            + " ".join(rebuild)
            + "   # in the bundle directory",
            environment=environment_record(
                dict(os.environ if environ is None else environ), capture_env
            ),
            warnings=warnings,
            files=_file_digests(tmp),
        )
        write_record(tmp / MANIFEST, manifest)
        _normalize(tmp, _epoch(src.created_at))
        _place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if echo is not None:
        for w in warnings:
            print(f"bakectl: warning: {w}", file=echo)
    return out


def copy_bundle(src: Path, out: Path) -> bool:
    """Bundling a bundle: nothing to do when `out` is `src`; else a byte-identical copy.
    Returns whether anything was written."""
    src, out = Path(src).resolve(), Path(out).resolve()
    if src == out:
        return False
    check_out(out)
    tmp = _tmp_for(out)
    tmp.rmdir()
    try:
        shutil.copytree(src, tmp, symlinks=True)  # copy2: modes and mtimes kept
        shutil.copystat(src, tmp)
        _place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


# -- reading and running a bundle -------------------------------------------------------------


class BundleTask(Task):
    """A task read from a bundle: agent-visible files under tasks/, scorer under scorer/."""

    scorer: Path

    @property
    def tests_dir(self) -> Path:
        return self.scorer / "tests"

    @property
    def solution_dir(self) -> Path:
        return self.scorer / "solution"


@dataclass
class Bundle:
    root: Path
    manifest: BundleManifest
    images: dict[str, dict[str, Any]]
    definition: dict[str, Any]

    @property
    def registry(self) -> str:
        return self.manifest.registry or "bakectl"

    @property
    def task_ids(self) -> list[str]:
        return list(self.manifest.tasks)

    def benchmark(self) -> Benchmark:
        return Benchmark(spec=BenchmarkSpec(**self.manifest.benchmark), dir=self.root / "tasks")

    def agent(self) -> Agent:
        return Agent(spec=AgentSpec(**self.manifest.agent), dir=self.root / "contexts")

    def task(self, task_id: str) -> BundleTask:
        if task_id not in self.manifest.tasks:
            raise UsageError(
                f"bundle {self.root} has no task {task_id!r}",
                f"its tasks: {', '.join(self.task_ids)}",
            )
        d = self.root / "tasks" / task_id
        spec = load_toml(d / "task.toml", TaskSpec)
        return BundleTask(
            id=task_id,
            benchmark=self.manifest.benchmark["name"],
            spec=spec,
            dir=d,
            scorer=self.root / "scorer" / task_id,
        )

    def fixture(self, task_id: str) -> Path | None:
        entry = self.manifest.tasks.get(task_id)
        rel = entry.fixture if entry else None
        return self.root / rel if rel else None

    def image_target(self, name: str, registry: str | None = None) -> ImageTarget:
        info = self.images.get(name)
        if not info or not info.get("path") or not info.get("content_hash"):
            raise UsageError(
                f"bundle {self.root}: images.json does not describe target {name!r}",
                "make the bundle again with this bakectl",
            )
        return ImageTarget(
            target=name,
            kind=str(info.get("kind")),
            path=tuple(info["path"]),
            digest=str(info["content_hash"]),
            context=self.root / "contexts" / name,
            dockerfile_text="",
            registry=registry or self.registry,
        )

    def problems(self) -> list[str]:
        """Files that differ from the manifest's digests (edited or missing)."""
        want = self.manifest.files
        have = _file_digests(self.root)
        out = [f"{p}: missing" for p in want if p not in have]
        out += [f"{p}: changed" for p in want if p in have and have[p] != want[p]]
        out += [f"{p}: not in the manifest" for p in have if p not in want]
        return sorted(out)


def load_bundle(path: Path) -> Bundle:
    root = Path(path).resolve()
    if not root.is_dir():
        raise UsageError(
            f"--bundle {path}: no such directory", "give a directory bakectl bundle wrote"
        )
    if not is_bundle(root):
        raise UsageError(
            f"--bundle {path} is not a bundle (no manifest.json of kind {BUNDLE_KIND!r})",
            "make one: bakectl bundle RUN -o DIR",
        )
    manifest = read_record(root / MANIFEST, BundleManifest)
    images = _read_json(root / IMAGES, "bundle images file").get("targets") or {}
    definition = _read_json(root / DEFINITION, "bundle bake definition")
    return Bundle(root, manifest, images, definition)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bakectl" / "bundles"


def absolute_definition(bundle: Bundle, registry: str | None = None) -> Path:
    """The bundle's definition with absolute paths (and tags moved to `registry`), written
    to a cache file, so bake and the podman fallback run from any directory."""
    d = json.loads(json.dumps(bundle.definition))
    old = bundle.registry
    for spec in d.get("target", {}).values():
        ctx = bundle.root / spec.get("context", ".")
        spec["context"] = str(ctx)
        if "dockerfile" in spec and not os.path.isabs(spec["dockerfile"]):
            spec["dockerfile"] = str((ctx / spec["dockerfile"]).resolve())
        for key, value in (spec.get("contexts") or {}).items():
            if value.startswith("contexts/"):
                spec["contexts"][key] = str(bundle.root / value)
        if registry and registry != old:
            spec["tags"] = [
                registry + tag[len(old) :] if tag.startswith(old + "/") else tag
                for tag in spec.get("tags") or []
            ]
    text = _json_text(d)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = _cache_dir() / f"definition-{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home: the temp directory will do
        path = Path(tempfile.gettempdir()) / f"bakectl-bundle-definition-{key}.json"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
    return path


def build_bundle_images(
    bundle: Bundle,
    targets: list[ImageTarget],
    *,
    registry: str | None = None,
    build: bool = True,
    dry_run: bool = False,
) -> None:
    """Build the missing ones with the existing Builder (bake, podman when bake cannot),
    from the bundle's definition alone."""
    from bakectl.engine.build import Builder, BuildOptions
    from bakectl.render.variables import BUILTIN_DEFAULTS

    variables = {k: os.environ.get(k, v) for k, v in BUILTIN_DEFAULTS.items()}
    for spec in bundle.definition.get("target", {}).values():
        for k, v in (spec.get("args") or {}).items():
            if k in variables:
                variables[k] = v  # the base images the bundle was resolved with
    variables["REGISTRY"] = registry or bundle.registry
    variables["TAG"] = ""
    shim = SimpleNamespace(
        catalog=SimpleNamespace(root=bundle.root),  # no docker-bake.hcl: the definition is whole
        vars=variables,
        # The bundle's Dockerfiles are built as they were resolved (no COPY --link rewrite).
        write=lambda _targets, link=False: absolute_definition(bundle, registry),
    )
    builder = Builder(shim, BuildOptions(dry_run=dry_run))  # type: ignore[arg-type]
    missing = builder.missing(targets)
    if not missing:
        return
    if not build:
        raise UsageError(
            f"image {missing[0].image} is not built",
            "drop --no-build: bakectl builds it from the bundle",
        )
    builder.build_missing(missing)


def bundle_spec(
    bundle: Bundle,
    task_id: str,
    options: RunOptions,
    *,
    registry: str | None = None,
    problems: list[str] | None = None,
) -> RunSpec:
    """A validated run of one bundle task, as spec.prepare makes one from the catalog."""
    bench, agent, task = bundle.benchmark(), bundle.agent(), bundle.task(task_id)
    if agent.spec.needs_solution and not (task.solution_dir / "solve.sh").is_file():
        raise UsageError(
            f"agent {agent.name!r} needs the task's solution; the bundle has no "
            f"scorer/{task_id}/solution/solve.sh",
            "bundle again from a catalog whose task has solution/solve.sh",
        )
    if options.gateway is None:
        fixture = bundle.fixture(task_id)
        if fixture is not None:
            options = replace(options, gateway=GatewayConfig.from_flags(fixture, None, None))
    options = with_recorded_model(options, replay_provenance(options))
    warnings = []
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        warnings.append(f"the bundle was edited since it was made: {problems[0]}{more}")
    eval_name = bundle.manifest.tasks[task_id].eval_target
    gw_name = bundle.manifest.gateway_target or "gateway"
    return assemble_spec(
        bench,
        task,
        agent,
        bundle.image_target(eval_name, registry),
        bundle.image_target(gw_name, registry) if options.gateway else None,
        options,
        warnings,
    )


def run_bundle(
    bundle: Bundle,
    task_ids: list[str] | None,
    options: RunOptions,
    *,
    registry: str | None = None,
    on_result=None,
) -> list[TaskResult]:
    """Rebuild the images from the bundle alone and run its tasks (all, or `task_ids`) as
    one job in <out>/<job_id>/, replaying the bundle's fixtures unless options.gateway
    says otherwise."""
    from bakectl.runner import job as jobs
    from bakectl.runner.batch import write_job_summary
    from bakectl.runner.outcome import model_source, this_owner
    from bakectl.runner.task_run import execute

    ids = bundle.task_ids if not task_ids or task_ids == ["all"] else task_ids
    problems = bundle.problems()
    bench, agent = bundle.benchmark(), bundle.agent()
    record = jobs.job_record(
        job_id=jobs.new_job_id(bench.name, agent.name),
        source=TaskSource(kind="bundle", location=str(bundle.root), benchmark=bench.name),
        task_ids=list(ids),
        agent=agent.name,
        agent_version=agent.spec.version,
        model=options.model,
        agent_timeout_sec=options.timeout_sec,
        registry=registry,
        no_build=not options.build,
        owner=this_owner(),
    )
    job_dir = Path(options.out_dir).resolve() / record.job_id
    specs = []
    for t in ids:
        opts = replace(
            options,
            run_id=jobs.run_id(record.job_id, t, 1),
            run_dir=jobs.attempt_dir(job_dir, t, 1),
            job_id=record.job_id,
        )
        specs.append(bundle_spec(bundle, t, opts, registry=registry, problems=problems))
    sources = {s.options.gateway.mode if s.options.gateway else "none" for s in specs}
    if len(sources) == 1 and specs and specs[0].options.gateway is not None:
        one = specs[0].options.gateway
        src = model_source(one)
        if src is not None and len(specs) > 1 and src.kind == "replay":
            src = src.model_copy(update={"location": str(bundle.root / "fixtures")})
            src = src.model_copy(update={"kind": "replay_dir"})
        record = record.model_copy(update={"model_source": src})
    targets: list[ImageTarget] = []
    for s in specs:
        for t in s.targets:
            if t.image not in {x.image for x in targets}:
                targets.append(t)
    build_bundle_images(
        bundle, targets, registry=registry, build=options.build, dry_run=options.dry_run
    )
    results = []
    if not options.dry_run:
        jobs.open_job(job_dir.parent, record)
        for s in specs:
            s.dir.root.parent.mkdir(parents=True, exist_ok=True)
    try:
        for s in specs:
            res = execute(s)
            results.append(res)
            if on_result is not None:
                on_result(res, bundle)
    finally:
        if not options.dry_run:
            write_job_summary(job_dir)
    return results
