"""`--set` overrides: parsed and checked before anything is built, and hashed when
they change what an image holds.

bake's `--set TARGET.KEY=VALUE` (TARGET may be a glob such as `*` or `eval__*`)
rewrites a target after the bake files are read. An override that changes the
image's bytes (args, labels, platform, dockerfile, ...) is part of that target's
content hash, so an image built with `--set '*.args.X=1'` never passes for the one
built without it. Overrides that only say where the image goes or how the build
is cached (tags, output, push, cache-*) do not change the hash.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from bakectl.errors import UsageError

# Keys buildx 0.13's `--set` accepts (bake/bake.go, Target.AddOverrides).
_MAPPED = ("args", "labels", "contexts", "annotations")  # KEY.NAME=VALUE
_PLAIN = (
    "context",
    "dockerfile",
    "target",
    "platform",
    "secrets",
    "ssh",
    "attest",
    "shm-size",
    "ulimits",
    "no-cache-filter",
    "tags",
    "output",
    "push",
    "load",
    "cache-from",
    "cache-to",
    "no-cache",
    "pull",
)
# Where the image goes or how it is cached: not what it holds.
_NOT_CONTENT = frozenset(
    {"tags", "output", "push", "load", "cache-from", "cache-to", "no-cache", "pull"}
)


@dataclass(frozen=True)
class Override:
    raw: str
    pattern: str
    key: str  # "args.FOO", "platform", ...

    @property
    def changes_content(self) -> bool:
        return self.key.split(".", 1)[0] not in _NOT_CONTENT

    def matches(self, target: str) -> bool:
        return fnmatch.fnmatchcase(target, self.pattern)


def _bad(raw: str, why: str, hint: str) -> UsageError:
    return UsageError(f"--set {raw!r}: {why}", hint)


def parse(raw: str) -> Override:
    """`TARGET.KEY[.NAME]=VALUE` -> Override; a malformed or unknown key is bad input."""
    lhs, eq, _ = raw.partition("=")
    if not eq:
        raise _bad(raw, "no '=VALUE'", "write --set TARGET.KEY=VALUE, e.g. '*.args.FOO=bar'")
    pattern, dot, key = lhs.partition(".")
    if not dot or not pattern or not key:
        raise _bad(
            raw, "no target before the key", "write --set TARGET.KEY=VALUE ('*' = every target)"
        )
    head, _, name = key.partition(".")
    if head in _MAPPED:
        if not name:
            raise _bad(raw, f"{head} needs a name", f"write --set {pattern}.{head}.NAME=VALUE")
    elif head not in _PLAIN or name:
        raise _bad(
            raw,
            f"unknown key {key!r}",
            "bake's keys: " + ", ".join([f"{m}.NAME" for m in _MAPPED] + list(_PLAIN)),
        )
    return Override(raw, pattern, key)


def parse_all(values: list[str]) -> list[Override]:
    return [parse(v) for v in values]


def check_targets(overrides: list[Override], targets: list[str]) -> None:
    """Every override must name at least one target of the graph; checked before the
    up-to-date test, so a typo never passes silently because nothing is rebuilt."""
    for o in overrides:
        if not any(o.matches(t) for t in targets):
            from bakectl.catalog.naming import suggest

            raise _bad(
                o.raw, f"no target in this build matches {o.pattern!r}", suggest(o.pattern, targets)
            )


def content_parts(overrides: list[Override], target: str) -> list[str]:
    """The overrides that change `target`'s bytes, as strings for its content hash."""
    return [o.raw for o in overrides if o.changes_content and o.matches(target)]
