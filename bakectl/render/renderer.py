"""Render the images one command needs into the build directory.

Rendering is lazy: asking for one eval image renders its base, its agent layer
and itself, nothing else, so a command's cost does not grow with the catalog.
Everything is rendered in memory first and written only when all of it
succeeded, so a bad template leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import jinja2

from bakectl import __version__
from bakectl.agents.layer import agent_layer, agent_prefix, dockerfile_filters
from bakectl.catalog import Agent, Benchmark, Catalog, Task
from bakectl.catalog.loader import env_dockerfile
from bakectl.catalog.naming import hash_tag, repository, target_name
from bakectl.errors import UsageError
from bakectl.gitinfo import git
from bakectl.render import baseimages
from bakectl.render.hashing import hash_parts, hash_tree
from bakectl.render.overrides import Override, content_parts

LABEL_NS = "dev.bakectl"
BASE_ARGS = ("DEBIAN_IMAGE", "PYTHON_IMAGE")
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ImageTarget:
    """One bake target: an image with its inputs and content hash."""

    target: str
    kind: str  # bench | task | agent | eval
    path: tuple[str, ...]  # repository path under the namespace, e.g. ("eval", "arith", "chat")
    digest: str
    context: Path
    dockerfile_text: str
    contexts: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    deps: list[ImageTarget] = field(default_factory=list)
    # Images the build takes from the local store as they are (an unmapped docker_image):
    # the builder checks they are there before it runs anything.
    needs_local: list[str] = field(default_factory=list)
    registry: str = "bakectl"
    extra_tag: str = ""
    network: str = ""  # bake's `network` for RUN steps: "none" for agent installs
    # The same Dockerfile with the agent layer `COPY --link`ed (an eval image): the same image,
    # built without copying that layer per image where the builder's snapshotter stacks layers
    # (the containerd image store). Not hashed: it changes how, not what.
    linked_text: str = ""

    @property
    def tag(self) -> str:
        return hash_tag(self.digest)

    @property
    def name(self) -> str:
        """The repository path and tag without the namespace (`eval/arith/chat:h...`):
        what labels and Dockerfiles may say, so the bytes do not depend on the registry."""
        return "/".join(self.path) + ":" + self.tag

    @property
    def repository(self) -> str:
        return repository(self.registry, *self.path)

    @property
    def image(self) -> str:
        return f"{self.repository}:{self.tag}"

    def refs(self) -> list[str]:
        """Every name the image is tagged with: the content tag, then TAG when set."""
        return [self.image] + ([f"{self.repository}:{self.extra_tag}"] if self.extra_tag else [])

    def tag_exprs(self) -> list[str]:
        """Tags as written into the bake file: `${REGISTRY}` stays a bake variable."""
        repo = "/".join(["${REGISTRY}", *self.path])
        tags = [f"{repo}:{self.tag}"]
        if self.extra_tag:
            tags.append(f"{repo}:{self.extra_tag}")
        return tags

    def closure(self) -> list[ImageTarget]:
        """This target and its dependencies, dependencies first."""
        out: list[ImageTarget] = []
        for dep in self.deps:
            out.extend(t for t in dep.closure() if t not in out)
        out.append(self)
        return out


def source_url(root: Path) -> str:
    """The checkout's public address for `org.opencontainers.image.source` (what GHCR
    links a package to its repository by): the git remote, with any credential in it
    dropped and `git@host:org/repo` written as https; "" without a remote (a file://
    path names one machine's disk, and would put that path into the content hash)."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    url = git(root, "config", "--get", "remote.origin.url")
    if not url:
        return ""
    scp = re.fullmatch(r"[\w.-]+@([\w.-]+):(?!//)(.+)", url)
    if scp:
        url = f"https://{scp[1]}/{scp[2]}"
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return ""
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(
        (
            "https" if parts.scheme == "ssh" else parts.scheme,
            netloc,
            parts.path.removesuffix(".git"),
            "",
            "",
        )
    )


def _template_line(exc: BaseException, filename: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Renderer:
    def __init__(
        self,
        catalog: Catalog,
        variables: dict[str, str],
        build_dir: Path | None = None,
        base_images: dict[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.vars = variables
        # The user's base-image mapping (bakectl.toml, then --base-image); it overrides
        # each benchmark's own (render/baseimages.py).
        self.base_images = base_images or {}
        self.build_dir = build_dir or Path(
            os.environ.get("BAKECTL_BUILD_DIR") or catalog.root / ".bakectl" / "build"
        )
        self._cache: dict[str, ImageTarget] = {}
        # `--set` overrides (render/overrides.py): those that change a target's bytes
        # are part of its content hash. Set before any target is rendered.
        self.overrides: list[Override] = []
        self._jinja = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
        )
        # bakectl's own templates (eval, agent, gateway Dockerfiles): loaded and compiled
        # once, however many images a command renders.
        self._builtins = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_TEMPLATES),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        self._builtins.filters.update(dockerfile_filters())

    def _builtin(self, name: str) -> jinja2.Template:
        return self._builtins.get_template(name)

    @cached_property
    def _core_digest(self) -> str:
        """The runtime every eval image shares, hashed once per command (not per image)."""
        core = self.catalog.core_dir
        if not (core / "entrypoint.sh").is_file():
            raise UsageError(
                f"the runtime is missing: {core / 'entrypoint.sh'}",
                "a catalog's containers/core replaces bakectl's own runtime (bakectl/data/core) "
                "whole: give it entrypoint.sh and setup.sh, or remove it",
            )
        return hash_tree(core)

    # -- shared label material ---------------------------------------------------------
    @cached_property
    def _oci(self) -> dict[str, str]:
        """OCI labels of the project, not of one image. Only what is the same for every
        build of the same inputs: the source address (hashed into every tag, see _new).
        The commit and the build time are not labels: they change with every commit
        while the inputs stay the same, so one content tag would name images with
        different bytes; the release records them (release.json: revision, created)."""
        source = source_url(self.catalog.root)
        return {"org.opencontainers.image.source": source} if source else {}

    def _labels(
        self, t: ImageTarget, title: str, description: str, version: str, **bakectl: str
    ) -> dict[str, str]:
        labels = dict(self._oci)
        labels.update(
            {
                "org.opencontainers.image.title": title,  # namespace-free: see ImageTarget.name
                "org.opencontainers.image.description": description,
                "org.opencontainers.image.version": version,
                f"{LABEL_NS}.kind": t.kind,
                f"{LABEL_NS}.content-hash": t.digest,
                f"{LABEL_NS}.bakectl-version": __version__,
            }
        )
        labels.update({f"{LABEL_NS}.{k.replace('_', '-')}": v for k, v in bakectl.items()})
        return labels

    def _new(self, kind: str, path: tuple[str, ...], digest: str, **kw) -> ImageTarget:
        name = target_name(kind, *path[1:])
        # The --set overrides that change the bytes, and the project labels every
        # image carries: same tag, same bytes.
        extra = content_parts(self.overrides, name) + [f"{k}={v}" for k, v in self._oci.items()]
        if extra:
            digest = hash_parts(digest, *extra)
        return ImageTarget(
            target=name,
            kind=kind,
            path=path,
            digest=digest,
            registry=self.vars["REGISTRY"],
            extra_tag=self.vars.get("TAG", ""),
            **kw,
        )

    # -- rendering -----------------------------------------------------------------------
    def _render_env_dockerfile(self, env_dir: Path, bench: Benchmark, task: Task | None) -> str:
        src = env_dockerfile(env_dir)
        assert src is not None  # the loader checked
        text = src.read_text()
        if src.suffix != ".j2":
            return text
        try:
            # Includes resolve inside the (hashed) environment directory only.
            env = self._jinja.overlay(loader=jinja2.FileSystemLoader(str(env_dir)))
            template = env.from_string(text)
            template.filename = str(src)
            return template.render(
                benchmark=bench.spec.model_dump(),
                workdir=bench.spec.workdir,
                task_id=task.id if task else None,
            )
        except UnicodeDecodeError as exc:  # a file it includes (the loader checked src itself)
            raise UsageError(
                f"{src}: a template it includes is not UTF-8 text (byte at offset {exc.start})",
                "save the included files as UTF-8",
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise UsageError(
                f"{src}:{exc.lineno}: template syntax error: {exc.message}",
                "fix the jinja2 syntax at that line",
            ) from None
        except jinja2.TemplateError as exc:  # undefined variables, missing includes
            line = _template_line(exc, str(src))
            at = f"{src}:{line}" if line else str(src)
            if isinstance(exc, jinja2.UndefinedError):
                raise UsageError(
                    f"{at}: undefined template variable: {exc.message}",
                    "templates see: benchmark (benchmark.yaml fields), task_id, workdir",
                ) from None
            raise UsageError(
                f"{at}: template error: {exc}",
                "includes are resolved inside the environment directory",
            ) from None

    def base(self, bench: Benchmark, task: Task | None) -> ImageTarget:
        """The environment image: one per shared benchmark, one per task otherwise."""
        key = f"base:{bench.name}:{'' if bench.shared else task.id if task else ''}"
        if key in self._cache:
            return self._cache[key]
        if bench.shared:
            env_dir, path, kind = bench.env_dir, ("bench", bench.name), "bench"
        else:
            if task is None:
                raise UsageError(
                    f"benchmark {bench.name!r} has per-task environments",
                    "pass --task-id, or build every task with --task-id all",
                )
            env_dir, path, kind = task.env_dir, ("task", bench.name, task.id), "task"
        prebuilt = task.docker_image if task is not None and not bench.shared else None
        if prebuilt is not None:
            text = f"# Generated by bakectl {__version__}: [environment] docker_image\nFROM {prebuilt}\n"
        else:
            text = self._render_env_dockerfile(env_dir, bench, task)
        args = {a: f"${{{a}}}" for a in BASE_ARGS}
        mapping = baseimages.merge(bench.spec.base_images, self.base_images)
        contexts = baseimages.contexts_for(
            baseimages.from_refs(text, {a: self.vars[a] for a in BASE_ARGS}), mapping
        )
        digest = hash_parts(
            kind,
            text,
            # Labels come from it: same tag, same labels. The mapping counts below, by the
            # entries this Dockerfile uses, so an unrelated one changes no tag.
            bench.spec.model_dump_json(exclude={"base_images"}),
            hash_tree(env_dir),
            *(f"{a}={self.vars[a]}" for a in BASE_ARGS),
            *baseimages.hash_lines(contexts),
        )
        t = self._new(
            kind, path, digest, context=env_dir, dockerfile_text=text, args=args, contexts=contexts
        )
        if prebuilt is not None:
            # No environment/ to send: the context is the target's own build folder.
            t.context = self.build_dir / t.target
            if not contexts:
                t.needs_local = [prebuilt]
        extra = {"task": task.id} if task and not bench.shared else {}
        t.labels = self._labels(
            t,
            "/".join(t.path),
            bench.spec.description or f"{bench.name} environment",
            bench.spec.version,
            benchmark=bench.name,
            data_revision=bench.spec.version,
            **extra,
        )
        self._cache[key] = t
        return t

    def agent(self, agent: Agent) -> ImageTarget:
        key = f"agent:{agent.name}:{agent.spec.version}"
        if key in self._cache:
            return self._cache[key]
        layer = agent_layer(agent, self.catalog.root, self.vars)
        text = self._builtin("agent.Dockerfile.j2").render(
            version=__version__, agent=agent.name, **layer.template
        )
        digest = hash_parts("agent", text, hash_tree(agent.dir), *layer.hashed)
        t = self._new(
            "agent",
            ("agent", agent.name),
            digest,
            context=agent.dir,
            dockerfile_text=text,
            contexts=layer.contexts,
            args=layer.args,
            network=layer.network,
        )
        t.labels = self._labels(
            t,
            "/".join(t.path),
            agent.spec.description or agent.name,
            agent.spec.version,
            agent=agent.name,
            agent_version=agent.spec.version,
        )
        self._cache[key] = t
        return t

    def gateway(self) -> ImageTarget:
        """The model gateway image: bakectl/gateway on the python base, nothing else."""
        key = "gateway"
        if key in self._cache:
            return self._cache[key]
        src = Path(__file__).resolve().parents[1] / "gateway"
        text = self._builtin("gateway.Dockerfile.j2").render(version=__version__)
        digest = hash_parts(
            "gateway", text, hash_tree(src), f"PYTHON_IMAGE={self.vars['PYTHON_IMAGE']}"
        )
        t = self._new(
            "gateway",
            ("gateway",),
            digest,
            context=src,
            dockerfile_text=text,
            args={"PYTHON_IMAGE": "${PYTHON_IMAGE}"},
        )
        t.labels = self._labels(t, "gateway", "bakectl model gateway (record/replay)", __version__)
        self._cache[key] = t
        return t

    def eval(self, bench: Benchmark, agent: Agent, task: Task | None) -> ImageTarget:
        base = self.base(bench, task)
        agent_t = self.agent(agent)
        per_task = not bench.shared
        path = ("eval", bench.name, *((task.id,) if per_task and task else ()), agent.name)
        key = "eval:" + "/".join(path) + f"@{agent.spec.version}"
        if key in self._cache:
            return self._cache[key]
        values = dict(
            version=__version__,
            agent=agent.name,
            workdir=bench.spec.workdir,
            base_desc=base.name,
            has_install=(agent.dir / "install.sh").is_file(),
            prefix=agent_prefix(agent),
            environment=sorted(agent.spec.environment.items()),
        )
        text = self._builtin("eval.Dockerfile.j2").render(link=False, **values)
        digest = hash_parts("eval", text, base.digest, agent_t.digest, self._core_digest)
        t = self._new(
            "eval",
            path,
            digest,
            context=self.catalog.core_dir,
            dockerfile_text=text,
            contexts={"base": f"target:{base.target}", "agent": f"target:{agent_t.target}"},
            deps=[base, agent_t],
            linked_text=self._builtin("eval.Dockerfile.j2").render(link=True, **values),
        )
        extra = {"task": task.id} if per_task and task else {}
        t.labels = self._labels(
            t,
            "/".join(t.path),
            f"{bench.name} x {agent.name} evaluation image",
            f"{bench.spec.version}+{agent.spec.version}",
            benchmark=bench.name,
            agent=agent.name,
            agent_version=agent.spec.version,
            data_revision=bench.spec.version,
            base_image=base.name,  # relative to the namespace the image is tagged under
            **extra,
        )
        self._cache[key] = t
        return t

    # -- output --------------------------------------------------------------------------
    def dockerfile_path(self, t: ImageTarget) -> Path:
        return self.build_dir / t.target / f"Dockerfile.{t.tag}"

    def bake_definition(self, targets: list[ImageTarget]) -> dict:
        closure: list[ImageTarget] = []
        for t in targets:
            closure.extend(c for c in t.closure() if c not in closure)
        seen: dict[str, ImageTarget] = {}
        out: dict[str, dict] = {}
        for t in closure:
            if t.target in seen and seen[t.target].path != t.path:
                raise UsageError(
                    f"ids {'/'.join(t.path)!r} and {'/'.join(seen[t.target].path)!r} map to the "
                    f"same bake target {t.target!r}",
                    "rename one of them ('.' and '_' collide)",
                )
            seen[t.target] = t
            spec: dict = {
                "context": str(t.context),
                "dockerfile": str(self.dockerfile_path(t)),
                "tags": t.tag_exprs(),
                "labels": t.labels,
            }
            if t.args:
                spec["args"] = t.args
            if t.contexts:
                spec["contexts"] = t.contexts
            if t.network:
                spec["network"] = t.network
            out[t.target] = spec
        return {"target": out}

    def write(self, targets: list[ImageTarget], *, link: bool = False) -> Path:
        """Write Dockerfiles and the bake file; returns the bake file's path. `link`: eval
        images copy their agent layer with COPY --link (see ImageTarget.linked_text)."""
        definition = self.bake_definition(targets)
        text = json.dumps(definition, indent=2, sort_keys=True) + "\n"
        files: dict[Path, str] = {}
        for t in targets:
            for c in t.closure():
                files[self.dockerfile_path(c)] = (link and c.linked_text) or c.dockerfile_text
        # Named by what it builds, not by its text (which holds a timestamp), so
        # repeated builds of the same images reuse one file.
        key = hash_parts(*sorted(f"{t.target}={t.digest}" for t in targets))
        name = "bake-" + key[:12] + ".json"
        files[self.build_dir / name] = text
        for path, content in files.items():
            _write_if_changed(path, content)
        return self.build_dir / name


def _write_if_changed(path: Path, content: str) -> None:
    try:
        if path.read_text() == content:
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(content)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
