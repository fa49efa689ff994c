"""A task's environment/docker-compose.yaml: the main service plus sidecars.

The main service is the task's environment container (built from environment/
like any task); its `environment:` joins the container's env. Every other service
is a sidecar: built with `docker build` from its `build:` context (or a local
`image:`), started on the run's private network under its service name, waited
for when it has a healthcheck, removed with the run. What bakectl cannot run
(volumes, ports, networks, secrets, ...) is a UsageError naming the key.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bakectl.engine import containers as ops
from bakectl.errors import UsageError

COMPOSE_FILES = ("docker-compose.yaml", "docker-compose.yml", "compose.yaml", "compose.yml")
MAIN = "main"
_TOP_IGNORED = {"version", "name"}
_MAIN_KEYS = {"build", "image", "environment", "depends_on", "init", "command", "healthcheck"}
_SIDECAR_KEYS = {
    "build",
    "image",
    "environment",
    "command",
    "entrypoint",
    "healthcheck",
    "user",
    "working_dir",
    "depends_on",
    "expose",
    "init",
    "restart",
    "container_name",
}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


@dataclass(frozen=True)
class Sidecar:
    service: str
    image: str | None  # a local image, or the tag bakectl builds from `build`
    build: Path | None = None
    dockerfile: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    user: str | None = None
    workdir: str | None = None
    health: ops.Health | None = None


@dataclass(frozen=True)
class Compose:
    path: Path
    main_env: tuple[tuple[str, str], ...] = ()
    sidecars: tuple[Sidecar, ...] = field(default_factory=tuple)


def compose_file(env_dir: Path) -> Path | None:
    for name in COMPOSE_FILES:
        if (env_dir / name).is_file():
            return env_dir / name
    return None


def load_compose(env_dir: Path, tag_prefix: str) -> Compose | None:
    """The compose file of a task's environment, checked; None when there is none."""
    import yaml

    path = compose_file(env_dir)
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}", "fix the compose file") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise UsageError(f"{path}: no services: mapping", "a compose file lists services:")
    for key in data:
        if key not in _TOP_IGNORED and key != "services" and not str(key).startswith("x-"):
            _cannot(path, f"top-level {key!r}")
    services = data["services"]
    main_env: tuple[tuple[str, str], ...] = ()
    sidecars = []
    for name, svc in services.items():
        svc = svc or {}
        if not isinstance(svc, dict):
            raise UsageError(f"{path}: service {name!r} is not a mapping", "fix the compose file")
        allowed = _MAIN_KEYS if name == MAIN else _SIDECAR_KEYS
        for key in svc:
            if key not in allowed and not str(key).startswith("x-"):
                _cannot(path, f"services.{name}.{key}")
        if name == MAIN:
            main_env = _env(path, name, svc.get("environment"))
            continue
        sidecars.append(_sidecar(path, env_dir, str(name), svc, tag_prefix))
    return Compose(path, main_env, tuple(sidecars))


def _cannot(path: Path, what: str) -> None:
    raise UsageError(
        f"{path}: {what} is not something bakectl can run",
        "bakectl runs a main service plus sidecars (build/image, environment, command, "
        "entrypoint, healthcheck, user, working_dir, depends_on) on the run's private network",
    )


def _env(path: Path, service: str, raw) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if isinstance(raw, list):
        pairs = [str(item).partition("=")[::2] for item in raw]
    elif isinstance(raw, dict):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in raw.items()]
    else:
        raise UsageError(f"{path}: services.{service}.environment: a list or a mapping", "")
    from bakectl.runner.phases import resolve_env

    resolved = resolve_env(dict(pairs))
    return tuple((k, v if v is not None else os.environ.get(k, "")) for k, v in resolved)


def _argv(path: Path, where: str, raw) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return ("sh", "-c", raw)
    if isinstance(raw, list):
        return tuple(str(a) for a in raw)
    raise UsageError(f"{path}: {where}: a string or a list", "fix the compose file")


def _seconds(path: Path, where: str, raw, default: float) -> float:
    if raw is None:
        return default
    if isinstance(raw, int | float):
        return float(raw)
    text = str(raw).strip()
    if not _DURATION.match(text):
        raise UsageError(f"{path}: {where}: {raw!r} is not a duration", "e.g. 5s, 1m30s")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in _PART.findall(text))


def _health(path: Path, service: str, raw) -> ops.Health | None:
    if not raw or raw.get("disable"):
        return None
    test = raw.get("test")
    where = f"services.{service}.healthcheck"
    if isinstance(test, str):
        command = test
    elif isinstance(test, list) and test and test[0] == "CMD-SHELL":
        command = " ".join(str(t) for t in test[1:])
    elif isinstance(test, list) and test and test[0] == "CMD":
        import shlex

        command = shlex.join(str(t) for t in test[1:])
    else:
        raise UsageError(f"{path}: {where}.test: CMD, CMD-SHELL or a string", "")
    return ops.Health(
        command,
        _seconds(path, where + ".interval", raw.get("interval"), 5.0),
        _seconds(path, where + ".timeout", raw.get("timeout"), 30.0),
        _seconds(path, where + ".start_period", raw.get("start_period"), 0.0),
        _seconds(path, where + ".start_interval", raw.get("start_interval"), 5.0),
        int(raw.get("retries", 3)),
    )


def _sidecar(path: Path, env_dir: Path, name: str, svc: dict, tag_prefix: str) -> Sidecar:
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise UsageError(f"{path}: service name {name!r} is not a valid name", "use [A-Za-z0-9_.-]")
    build = svc.get("build")
    context, dockerfile = None, None
    if isinstance(build, str):
        context = build
    elif isinstance(build, dict):
        for key in build:
            if key not in ("context", "dockerfile"):
                _cannot(path, f"services.{name}.build.{key}")
        context, dockerfile = build.get("context", "."), build.get("dockerfile")
    image = svc.get("image")
    ctx = None
    if context is not None:
        ctx = (env_dir / context).resolve()
        if not ctx.is_dir() or env_dir.resolve() not in (ctx, *ctx.parents):
            raise UsageError(
                f"{path}: services.{name}.build context {context!r} is not a folder "
                f"inside {env_dir}",
                "point build: at a folder of the task's environment/",
            )
        image = f"{tag_prefix}-{name.lower()}:h{_tree_hash(ctx)}"
    elif not image:
        raise UsageError(f"{path}: service {name!r} has neither build: nor image:", "")
    user = svc.get("user")
    return Sidecar(
        service=name,
        image=str(image),
        build=ctx,
        dockerfile=dockerfile,
        env=_env(path, name, svc.get("environment")),
        command=_argv(path, f"services.{name}.command", svc.get("command")),
        entrypoint=_argv(path, f"services.{name}.entrypoint", svc.get("entrypoint")),
        user=None if user is None else str(user),
        workdir=svc.get("working_dir"),
        health=_health(path, name, svc.get("healthcheck")),
    )


def _tree_hash(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(d)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


# -- the engine side ---------------------------------------------------------------------


def build_step(s: Sidecar) -> ops.Step:
    assert s.build is not None and s.image is not None
    argv = ["docker", "build", "-q", "-t", s.image]
    if s.dockerfile:
        argv += ["-f", str(s.build / s.dockerfile)]
    argv.append(str(s.build))
    return ops.Step(tuple(argv))


def run_step(names: ops.Names, s: Sidecar, network: str) -> ops.Step:
    assert s.image is not None
    entry = list(s.entrypoint) if s.entrypoint is not None else None
    args = list(s.command or ())
    if entry:
        args = entry[1:] + args
    return ops.container_run(
        names,
        names.sidecar(s.service),
        s.image,
        network=network,
        alias=s.service,
        user=s.user,
        env=list(s.env),
        entrypoint=entry[0] if entry else ("" if entry == [] else None),
        args=args,
        init=True,
        workdir=s.workdir,
        health=s.health,
    )
