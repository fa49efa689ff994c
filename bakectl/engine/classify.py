"""Read a failed command's stderr: is it transient, a builder that cannot see
local images or cannot start, or a real error in the user's input?"""

from __future__ import annotations

import re

# Registry/network hiccups worth a retry (matched on captured stderr).
TRANSIENT = re.compile(
    r"connection reset|connection refused|broken pipe|i/o timeout|TLS handshake timeout"
    r"|use of closed network connection"
    r"|unexpected EOF|\b(500|502|503|504)\b|Service Unavailable|Bad Gateway|Gateway Timeout"
    r"|Internal Server Error|\b429\b|Too Many Requests|toomanyrequests",
    re.I,
)
# Never retried: the same request will fail the same way.
PERMANENT = re.compile(
    r"unauthorized|authentication required|denied|manifest unknown|name unknown"
    r"|invalid reference format|no basic auth credentials|\b40[134]\b",
    re.I,
)
# The buildx builder could not start (a podman-backed DOCKER_HOST, a
# docker-container builder that cannot pull moby/buildkit, a remote one that is down).
BUILDER_BOOT = re.compile(
    r"booting buildkit|failed to bootstrap|no builder .* found|failed to find driver"
    r"|error during connect|failed to dial gRPC|buildkit .* not (?:supported|running)"
    r"|Error response from daemon: .*moby/buildkit",
    re.I,
)
# BuildKit could not find an image. Whether the builder merely cannot see a
# local image, or the image truly does not exist, is decided by asking docker.
UNRESOLVED = re.compile(
    r"failed to resolve source metadata for ([^\s:@]+(?::[^\s:@]+)?(?:@\w+:[0-9a-f]+)?)(?::|\s)"
    r"|pull access denied for ([^\s,]+)"
    r"|([^\s\"]+): not found",
)
# BuildKit lost a session or a gRPC stream with its client: large graphs hit these
# (a cold bake of 64 bases + 64 eval images did), reruns succeed; never the user's input.
BUILDKIT_SESSION = re.compile(
    r"only one connection allowed|forwarding Ping: no such job|no active sessions?"
    r"|session .*(?:not found|closed)|failed to get session|no such job"
    r"|rpc error: code = (?:Unavailable|Canceled) desc = (?:transport is closing|"
    r"error reading from server|closing transport)|failed to receive status: rpc error",
    re.I,
)
ENGINE_DOWN = re.compile(
    r"Cannot connect to the Docker daemon|Is the docker daemon running|connect: no such file"
    r"|error during connect",
    re.I,
)


def is_transient(stderr: str) -> bool:
    return bool(TRANSIENT.search(stderr)) and not PERMANENT.search(stderr)


def buildkit_session_error(stderr: str) -> bool:
    return bool(BUILDKIT_SESSION.search(stderr))


def builder_cannot_boot(stderr: str) -> bool:
    return bool(BUILDER_BOOT.search(stderr))


def unresolved_images(stderr: str) -> list[str]:
    refs: list[str] = []
    for m in UNRESOLVED.finditer(stderr):
        ref = next(g for g in m.groups() if g)
        ref = ref.removeprefix("docker.io/library/").removeprefix("docker.io/")
        if ref not in refs:
            refs.append(ref)
    return refs


def engine_down(stderr: str) -> bool:
    return bool(ENGINE_DOWN.search(stderr))
