"""Base-image mapping: FROM references as a Dockerfile writes them -> the local or mirror
images that stand in for them, applied as bake named contexts (the Dockerfile stays as
it is) and hashed into the image's tag (a changed mapping is a new image).

Where a mapping comes from, the later overriding the earlier for the same reference:
  1. `base_images:` in the benchmark's benchmark.yaml (what the benchmark's author pins);
  2. `[base_images]` in bakectl.toml at the project root (this machine's or team's mirror);
  3. `--base-image REF=IMAGE` on the command line.

References are compared in the short form buildkit looks named contexts up by
(`docker.io/library/python:3.13-slim` = `python:3.13-slim`, `x:latest` = `x`); a tag and
a digest (`python:3.13-slim@sha256:...`) are one reference, distinct from the tag alone.
"""

from __future__ import annotations

import re
import shlex

from bakectl.catalog.naming import familiar_ref
from bakectl.errors import UsageError

_FLAG_HINT = (
    "write --base-image REF=IMAGE, e.g. "
    "--base-image 'python:3.13-slim@sha256:<64 hex>=python:3.11-slim-bookworm'"
)
_VAR_RE = re.compile(r"\$(?:\{(\w+)(?::?[-+][^}]*)?\}|(\w+))")


def parse_flags(values: list[str] | None) -> dict[str, str]:
    """`--base-image REF=IMAGE` (repeatable) as a mapping; malformed -> UsageError."""
    out: dict[str, str] = {}
    for raw in values or []:
        ref, sep, image = raw.partition("=")
        ref, image = ref.strip(), image.strip()
        if not sep or not ref or not image:
            raise UsageError(f"--base-image {raw!r}: expected REF=IMAGE", _FLAG_HINT)
        if familiar_ref(ref) is None:
            raise UsageError(f"--base-image {raw!r}: {ref!r} is not an image reference", _FLAG_HINT)
        if familiar_ref(image.removeprefix("docker-image://")) is None:
            raise UsageError(
                f"--base-image {raw!r}: {image!r} is not an image reference", _FLAG_HINT
            )
        out[ref] = image
    return out


def merge(*layers: dict[str, str]) -> dict[str, str]:
    """One mapping, keyed by the short form; later layers win."""
    out: dict[str, str] = {}
    for layer in layers:
        for ref, image in layer.items():
            key = familiar_ref(ref)
            if key is not None:
                out[key] = image
    return out


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    cur = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not cur and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            cur += stripped[:-1] + " "
            continue
        lines.append(cur + stripped)
        cur = ""
    if cur:
        lines.append(cur)
    return lines


def from_refs(dockerfile: str, args: dict[str, str]) -> list[str]:
    """The images a Dockerfile starts FROM (and COPY --from=), as written, with build args
    expanded: `args` first (what bake passes), then the Dockerfile's own ARG defaults.
    Stage names, `scratch` and numeric stage indexes are not images."""
    defaults: dict[str, str] = {}
    stages: set[str] = set()
    refs: list[str] = []

    def expand(word: str) -> str:
        def one(m: re.Match) -> str:
            name = m.group(1) or m.group(2)
            return args.get(name, defaults.get(name, ""))

        return _VAR_RE.sub(one, word)

    def add(ref: str) -> None:
        ref = expand(ref)
        if ref and ref.lower() != "scratch" and ref not in stages and not ref.isdigit():
            if ref not in refs:
                refs.append(ref)

    seen_from = False
    for line in _logical_lines(dockerfile):
        try:
            words = shlex.split(line, comments=False)
        except ValueError:
            words = line.split()
        if not words:
            continue
        op, rest = words[0].upper(), words[1:]
        if op == "ARG" and not seen_from:
            for w in rest:
                name, eq, value = w.partition("=")
                if eq:
                    defaults.setdefault(name, value)
        elif op == "FROM":
            seen_from = True
            plain = [w for w in rest if not w.startswith("--")]
            if plain:
                add(plain[0])
                if len(plain) >= 3 and plain[1].upper() == "AS":
                    stages.add(plain[2])
        elif op == "COPY":
            for w in rest:
                if w.startswith("--from="):
                    add(w.removeprefix("--from="))
    return refs


def contexts_for(refs: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Named contexts for the mapped ones of `refs`. buildkit looks a context up by the
    short form of the name; podman by the name as written: both keys when they differ."""
    out: dict[str, str] = {}
    for ref in refs:
        key = familiar_ref(ref)
        if key is None or key not in mapping:
            continue
        image = mapping[key]
        value = image if image.startswith("docker-image://") else f"docker-image://{image}"
        out[key] = value
        out.setdefault(ref, value)
    return out


def hash_lines(contexts: dict[str, str]) -> list[str]:
    """What the content hash takes from a mapping: its entries, sorted."""
    return [f"base-image {k}={v}" for k, v in sorted(contexts.items())]


# The stand-ins `bakectl images bootstrap` can make, by the official image a reference names:
# the bootstrap recipe (a base-image variable) that builds a look-alike from Debian's archive.
STAND_IN_RECIPES = {"debian": "DEBIAN_IMAGE", "python": "PYTHON_IMAGE"}


def stand_ins(mapping: dict[str, str]) -> dict[str, str]:
    """{mapped image: recipe} for the entries of `mapping` bootstrap knows how to stand in
    for (`python:3.13-slim@sha256:...` -> Debian's python3; `debian:*` -> Debian)."""
    out: dict[str, str] = {}
    for ref, image in mapping.items():
        short = familiar_ref(ref) or ""
        repo = short.split("@", 1)[0].split(":", 1)[0]
        if repo in STAND_IN_RECIPES:
            out[image.removeprefix("docker-image://")] = STAND_IN_RECIPES[repo]
    return out
