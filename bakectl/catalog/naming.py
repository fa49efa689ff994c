"""Ids, image names and bake target names. The one place that owns them.

Image repositories are path-shaped so no id needs escaping and no two
(benchmark, task, agent) triples can collide:
  <ns>/bench/<bench>            shared-environment base
  <ns>/task/<bench>/<task>      per-task base
  <ns>/agent/<agent>            agent layer
  <ns>/eval/<bench>/<agent>     eval image, shared environment
  <ns>/eval/<bench>/<task>/<agent>
Tags are `h<12 hex>`: a content hash of the rendered inputs.
"""

from __future__ import annotations

import difflib
import re

from bakectl.errors import UsageError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
DEFAULT_NAMESPACE = "bakectl"


def check_id(kind: str, value: str, where: str = "") -> str:
    """Reject ids that could escape a directory or break an image name."""
    if not ID_RE.match(value) or ".." in value:
        at = f" in {where}" if where else ""
        raise UsageError(
            f"invalid {kind} id {value!r}{at}",
            "ids are lowercase letters, digits, '.', '_' and '-', start with a letter or digit, "
            "at most 63 characters, and never contain '/', '..' or spaces",
        )
    return value


def suggest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.5)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    shown = ", ".join(sorted(choices)[:10]) + (" ..." if len(choices) > 10 else "")
    return f"known: {shown}" if choices else "the catalog has none"


def repository(namespace: str, kind: str, *parts: str) -> str:
    ns = namespace.rstrip("/") or DEFAULT_NAMESPACE
    return "/".join([ns, kind, *parts])


def target_name(kind: str, *parts: str) -> str:
    """Bake target names allow only [A-Za-z0-9_-]; '__' separates, '.' becomes '_'."""
    return "__".join([kind, *(p.replace(".", "_") for p in parts)])


def hash_tag(digest: str) -> str:
    return "h" + digest[:12]


def registry_host(ref: str) -> str | None:
    """The registry a ref or namespace names (`host[:port]` or `localhost` first), else None:
    `bakectl/eval/x` is a local name, `127.0.0.1:5000/evals` is a registry."""
    first = ref.split("/", 1)[0]
    return first if "." in first or ":" in first or first == "localhost" else None


def dns_safe(name: str) -> str:
    """A folder name as a DNS-safe id (`Terminal Bench 2.0` -> `terminal-bench-2-0`): what a
    benchmark found on disk (`-p PATH`) is called in image names and bake targets."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].rstrip("-")
    if not out:
        raise UsageError(
            f"cannot make an id of the name {name!r}",
            "name it with --name ID (lowercase letters, digits and '-')",
        )
    return out


# Image references as docker's reference grammar reads them: [domain/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REF_RE = re.compile(
    rf"^(?P<name>[A-Za-z0-9.:-]+(?:/{_COMPONENT})+|{_COMPONENT})"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+:[0-9a-f]+))?$"
)
_DOMAIN_RE = re.compile(
    r"^(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
    r"(?::[0-9]+)?$"
)
_DIGEST_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}


def familiar_ref(ref: str) -> str | None:
    """The short form buildkit looks a named context up by (`docker.io/library/python:3.13`
    -> `python:3.13`, `x:latest` -> `x`), or None when `ref` is not an image reference."""
    m = _REF_RE.match(ref)
    if m is None:
        return None
    name, tag, digest = m["name"], m["tag"], m["digest"]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN_RE.match(first):
            return None
        if first in ("docker.io", "index.docker.io"):
            name = rest
    elif not re.fullmatch(rf"{_COMPONENT}(?:/{_COMPONENT})*", name):
        return None
    if digest:
        algo, _, hexpart = digest.partition(":")
        if _DIGEST_LEN.get(algo) != len(hexpart):
            return None
    if name.startswith("library/") and name.count("/") == 1:
        name = name.removeprefix("library/")
    out = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return out.removesuffix(":latest")


def unmapped_hint(ref: str) -> str:
    return (
        f"load or build {ref} locally, or map it to one you have: "
        f"--base-image '{ref}=IMAGE', base_images: in benchmark.yaml, "
        "or [base_images] in bakectl.toml"
    )
