"""Read-only questions to the engine.

The hot path (is this image already built?) is one `docker image ls` call;
richer questions (doctor, inspect) go through python-on-whales, imported
lazily so `bakectl --help` and a no-op build stay fast.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

from bakectl.engine.classify import engine_down
from bakectl.engine.plan import ProcessResult, Step, run_process
from bakectl.errors import BakectlError, UsageError

START_HINT = (
    "start the engine: 'make setup' (scripts/setup-engine.sh) installs and starts "
    "dockerd on Debian; elsewhere start Docker Desktop or 'sudo systemctl start docker'"
)


def _run(argv: list[str], timeout: float = 30) -> ProcessResult:
    """A read-only query through the one subprocess runner."""
    if shutil.which(argv[0]) is None:
        raise UsageError(f"{argv[0]} is not installed", START_HINT)
    res = run_process(Step(tuple(argv), mutates=False), timeout=timeout)
    if res.timed_out:
        raise BakectlError(f"'{' '.join(argv)}' did not answer in {timeout:.0f} s", START_HINT)
    return res


def engine_error(stderr: str) -> UsageError:
    host = os.environ.get("DOCKER_HOST", "the default socket")
    first = stderr.strip().splitlines()[0] if stderr.strip() else "no answer"
    return UsageError(f"the docker engine is not running ({host}): {first}", START_HINT)


def local_images() -> set[str]:
    """Every `repo:tag` in docker's store. One call, whatever the number of images."""
    res = _run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
    if res.returncode != 0:
        if engine_down(res.stderr):
            raise engine_error(res.stderr)
        raise BakectlError(f"docker image ls failed: {res.stderr.strip()}")
    return set(res.stdout.split())


def labelled_images(label: str, fmt: str) -> list[str]:
    """`docker image ls` of the images carrying `label`, one `fmt` line each."""
    res = _run(["docker", "image", "ls", "--filter", f"label={label}", "--format", fmt])
    if res.returncode != 0:
        raise engine_error(res.stderr)
    return res.stdout.splitlines()


def _short(ref: str) -> str:
    """podman names refs in full (localhost/x, docker.io/library/x); docker does not."""
    for prefix in ("localhost/", "docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


def image_ids(refs: list[str]) -> dict[str, str]:
    """{ref: image id} for those of `refs` the store has, asked directly (one
    `docker image inspect`). A podman-backed engine's image list can lag behind builds
    the podman CLI made; inspect reads the store itself."""
    if not refs:
        return {}
    res = _run(["docker", "image", "inspect", *refs])  # exit 1 when some are missing
    try:
        found = json.loads(res.stdout or "[]")
    except ValueError:
        return {}
    ids: dict[str, str] = {}
    for img in found:
        for tag in img.get("RepoTags") or []:
            ids.setdefault(_short(tag), img.get("Id") or "")
    return {r: ids[r] for r in refs if r in ids}


def present_among(refs: list[str]) -> set[str]:
    """Which of `refs` the store has (see image_ids)."""
    return set(image_ids(refs))


def image_exists(ref: str, engine: str = "docker") -> bool:
    return _run([engine, "image", "inspect", ref]).returncode == 0


def server_is_podman() -> bool:
    """A podman-backed DOCKER_HOST shares podman's store: no copy between stores needed."""
    res = _run(["docker", "version", "--format", "{{json .Server}}"])
    return res.returncode == 0 and "podman" in res.stdout.lower()


def check_engine() -> None:
    res = _run(["docker", "info", "--format", "{{.ServerVersion}}"])
    if res.returncode != 0 or not res.stdout.strip():
        raise engine_error(res.stderr)


def check_builder(name: str) -> str:
    """The driver of builder `name`; a clear error when it is unknown or unreachable."""
    res = _run(["docker", "buildx", "inspect", name], timeout=60)
    if res.returncode != 0:
        raise UsageError(
            f"buildx builder {name!r} is not reachable: "
            f"{(res.stderr.strip().splitlines() or ['unknown error'])[-1]}",
            "list builders with 'docker buildx ls'; create one with 'docker buildx create'",
        )
    for line in res.stdout.splitlines():
        if line.strip().startswith("Driver:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


@dataclass(frozen=True)
class BuilderInfo:
    name: str
    driver: str
    platforms: tuple[str, ...]
    containerd_store: bool  # docker driver: can the engine's store hold indexes/attestations?

    @property
    def classic_docker(self) -> bool:
        """The docker driver on the classic image store: one platform, no attestations."""
        return self.driver == "docker" and not self.containerd_store


def builder_info(name: str | None = None) -> BuilderInfo:
    """What a buildx builder (the current one when None) can build."""
    res = _run(["docker", "buildx", "inspect", *([name] if name else [])], timeout=60)
    if res.returncode != 0:
        raise UsageError(
            f"buildx builder {name or '(current)'!r} is not reachable: "
            f"{(res.stderr.strip().splitlines() or ['unknown error'])[-1]}",
            "list builders with 'docker buildx ls'; create one with 'docker buildx create'",
        )
    fields: dict[str, str] = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("Name", "Driver", "Platforms"):
            fields.setdefault(key.strip(), value.strip())
    platforms = tuple(
        p.strip().removesuffix("*") for p in fields.get("Platforms", "").split(",") if p.strip()
    )
    driver = fields.get("Driver", "unknown")
    containerd = False
    if driver == "docker":
        info = _run(["docker", "info", "--format", "{{json .DriverStatus}}"])
        containerd = "io.containerd.snapshotter" in info.stdout
    return BuilderInfo(fields.get("Name", name or "default"), driver, platforms, containerd)


def builder_boot_error(name: str | None = None) -> str:
    """stderr of `docker buildx inspect --bootstrap` when the builder cannot start, else
    "": what classification reads when bake's own stderr went to a terminal."""
    res = _run(
        ["docker", "buildx", "inspect", "--bootstrap", *([name] if name else [])], timeout=120
    )
    return res.stderr if res.returncode != 0 else ""


def whales():
    """python-on-whales' docker client (lazy import: it costs ~150 ms)."""
    from python_on_whales import docker

    return docker
