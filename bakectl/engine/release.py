"""Release: publish exactly the images that were tested, skip what is published.

1. Ask the registry (HTTP API v2, not the local store) which content-hash tags
   it already serves; those are skipped.
2. The rest: a tested image already in the store (same path and content tag
   under a local namespace) is tagged under the registry's name; what no store
   holds is built, all in one bake graph.
3. `docker push` each content tag (transient failures retried).
4. Aliases (the release tag, `latest`) are manifest copies in the registry: the
   same bytes under another tag, nothing rebuilt or uploaded again.
5. `release.json` (every ref -> digest, image ID, size, labels, status) and
   `release.md` (a table for a CI step summary), read back from the registry.

The registry is the journal: a release killed half-way is finished by running
it again, and a release with nothing new pushes nothing.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bakectl.engine.build import Builder, info
from bakectl.engine.plan import Plan, Step, print_plan
from bakectl.engine.registry import Manifest, Registry, split_namespace
from bakectl.errors import UsageError
from bakectl.gitinfo import commit
from bakectl.render.renderer import ImageTarget

SCHEMA = "bakectl.release/v1"
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_CONTENT_TAG_RE = re.compile(r"h[0-9a-f]{12}")


def check_tag(tag: str) -> str:
    if not _TAG_RE.fullmatch(tag) or tag == "latest" or _CONTENT_TAG_RE.fullmatch(tag):
        raise UsageError(
            f"--tag {tag!r} is not a release tag",
            "a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-', e.g. v1.2.0 "
            "('latest' and content tags h<12 hex> are bakectl's own)",
        )
    return tag


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m or not (1 <= int(m[1]) <= int(m[2])):
        raise UsageError(
            f"--shard {text!r} is not I/N with 1 <= I <= N",
            "shards count from 1: --shard 1/4 .. --shard 4/4",
        )
    return int(m[1]), int(m[2])


def select(
    targets: list[ImageTarget], only: str | None, shard: tuple[int, int] | None
) -> list[ImageTarget]:
    """--only (comma-separated globs on the target name or image path), then the
    shard: target i (in name order) belongs to shard i % N + 1, so shards are
    stable while the matrix is unchanged."""
    if only:
        globs = [g.strip() for g in only.split(",") if g.strip()]
        targets = [
            t
            for t in targets
            if any(fnmatch.fnmatchcase(n, g) for g in globs for n in (t.target, "/".join(t.path)))
        ]
        if not targets:
            raise UsageError(
                f"--only {only!r} matches no image of the release",
                "patterns match target names (eval__arith__*) or image paths (eval/arith/*); "
                "'bakectl release plan --json' lists them",
            )
    if shard:
        i, n = shard
        ordered = sorted(targets, key=lambda t: t.target)
        mine = {t.target for k, t in enumerate(ordered) if k % n == i - 1}
        targets = [t for t in targets if t.target in mine]
    return targets


def plan_document(targets: list[ImageTarget], registry: str, shards: int) -> dict:
    """The matrix for a CI job matrix: every image and the shard it belongs to."""
    ordered = sorted(targets, key=lambda t: t.target)
    shard_of = {t.target: k % shards + 1 for k, t in enumerate(ordered)}
    return {
        "schema": "bakectl.release-plan/v1",
        "registry": registry,
        "shards": shards,
        "matrix": {"shard": [f"{i}/{shards}" for i in range(1, shards + 1)]},
        "images": [
            {
                "target": t.target,
                "kind": t.kind,
                "ref": t.image,
                "shard": f"{shard_of[t.target]}/{shards}",
                "depends_on": [d.target for d in t.deps],
            }
            for t in targets
        ],
    }


@dataclass
class ReleaseOptions:
    tag: str | None = None
    latest: bool = True
    out: Path = Path("release.json")
    dry_run: bool = False
    republish: bool = False  # push every content tag, even those the registry has
    tested: list[str] = field(default_factory=list)  # local namespaces to take images from


@dataclass
class Outcome:
    target: ImageTarget
    status: str  # built | pushed | present | missing (dry run)
    manifest: Manifest | None = None
    aliases: list[str] = field(default_factory=list)  # alias refs this run added
    alias_digests: dict[str, str | None] = field(default_factory=dict)  # as first served


class Release:
    def __init__(self, builder: Builder, targets: list[ImageTarget], opts: ReleaseOptions):
        self.b = builder
        self.targets = targets
        self.o = opts
        host, self.path = split_namespace(builder.r.vars["REGISTRY"])
        cache = builder.r.catalog.root / ".bakectl" / "cache" / "blobs"
        self.registry = Registry(host, blob_cache=cache)
        self.pushes = 0

    def repo(self, t: ImageTarget) -> str:
        return "/".join(p for p in (self.path, *t.path) if p)

    def aliases(self) -> list[str]:
        return ([self.o.tag] + (["latest"] if self.o.latest else [])) if self.o.tag else []

    def _ask(self, o: Outcome) -> None:
        """What the registry serves for the content tag and each alias (one round for
        every image, side by side: the warm path is these questions and nothing else)."""
        repo = self.repo(o.target)
        o.manifest = self.registry.manifest(repo, o.target.tag)
        o.alias_digests = {a: self.registry.head_digest(repo, a) for a in self.aliases()}

    def run(self) -> dict:
        self.registry.check()  # a wrong address or credential stops before any build
        outcomes = {t.target: Outcome(t, "present") for t in self.targets}
        self.registry.map(self._ask, list(outcomes.values()))
        pending = [
            t for t in self.targets if self.o.republish or outcomes[t.target].manifest is None
        ]
        for t in self.targets:
            if t not in pending:
                info(f"already in the registry: {t.image}")
        if self.o.dry_run:
            return self._dry_run(pending, outcomes)
        if pending:  # the build and push machinery only when there is something to push
            from bakectl.engine.push import prepare, run_push

            built = prepare(self.b, pending, self.o.tested)
            for t in pending:
                run_push(self.b, Step(("docker", "push", t.image)))
                self.pushes += 1
                o = outcomes[t.target]
                o.status = "built" if t in built else "pushed"
                o.manifest = self.registry.manifest(self.repo(t), t.tag)  # what it serves now
        self.registry.map(self._alias, list(outcomes.values()))
        doc = self._document(outcomes)
        write_outputs(doc, self.o.out)
        s = doc["summary"]
        info(
            f"release: {s['built']} built, {s['pushed']} pushed, {s['present']} already there, "
            f"{s['aliases_added']} alias tag(s) added -> {self.o.out}"
        )
        return doc

    def _alias(self, o: Outcome) -> None:
        assert o.manifest is not None
        repo = self.repo(o.target)
        for alias in self.aliases():
            if o.alias_digests.get(alias) == o.manifest.digest:
                continue
            self.registry.put_manifest(repo, alias, o.manifest)
            ref = f"{o.target.repository}:{alias}"
            info(f"tagged in the registry: {ref} = {o.manifest.digest} (manifest copy)")
            o.aliases.append(ref)

    def _dry_run(self, pending: list[ImageTarget], outcomes: dict[str, Outcome]) -> dict:
        if pending:
            from bakectl.engine.push import prepare

            prepare(self.b, pending, self.o.tested)
            print_plan(Plan([Step(("docker", "push", t.image)) for t in pending]))
        for t in self.targets:
            o = outcomes[t.target]
            for alias in self.aliases():
                if o.manifest is None or o.alias_digests.get(alias) != o.manifest.digest:
                    print(f"# registry: PUT {t.repository}:{alias} <- manifest of {t.image}")
            if t in pending:
                outcomes[t.target].status = "missing"
        return {
            "schema": SCHEMA,
            "dry_run": True,
            "registry": self.b.r.vars["REGISTRY"],
            "images": [
                {"target": t.target, "ref": t.image, "status": outcomes[t.target].status}
                for t in self.targets
            ],
        }

    def _size(self, repo: str, m: Manifest) -> int:
        """Config + layers; for an index, summed over its platform images (attestation
        manifests included: they are stored too)."""
        if not m.is_index:
            return m.size()
        total = 0
        for entry in m.doc.get("manifests", []):
            sub = self.registry.manifest(repo, entry["digest"])
            total += int(entry.get("size", 0)) + (sub.size() if sub else 0)
        return total

    @staticmethod
    def _platforms(m: Manifest) -> list[str]:
        if not m.is_index:
            return []
        out = []
        for entry in m.doc.get("manifests", []):
            p = entry.get("platform") or {}
            if p.get("os") and p.get("os") != "unknown":
                out.append(
                    "/".join(x for x in (p["os"], p.get("architecture"), p.get("variant")) if x)
                )
        return out

    def _read_back(self, o: Outcome) -> tuple[str, dict, int]:
        """(image ID, config, size) of what the registry serves for `o`."""
        assert o.manifest is not None
        repo = self.repo(o.target)
        image_id, config = self.registry.image_config(repo, o.manifest)
        return image_id, config, self._size(repo, o.manifest)

    def _document(self, outcomes: dict[str, Outcome]) -> dict:
        images = []
        refs: dict[str, str] = {}
        read = self.registry.map(self._read_back, [outcomes[t.target] for t in self.targets])
        for t, (image_id, config, size) in zip(self.targets, read, strict=True):
            o = outcomes[t.target]
            assert o.manifest is not None
            alias_refs = [f"{t.repository}:{a}" for a in self.aliases()]
            for ref in (t.image, *alias_refs):
                refs[ref] = o.manifest.digest
            images.append(
                {
                    "target": t.target,
                    "kind": t.kind,
                    "ref": t.image,
                    "aliases": alias_refs,
                    "digest": o.manifest.digest,
                    "image_id": image_id,
                    "media_type": o.manifest.media_type,
                    "size": size,
                    "platforms": self._platforms(o.manifest),
                    "labels": (config.get("config") or {}).get("Labels") or {},
                    "status": o.status,
                }
            )
        count = {
            s: sum(1 for o in outcomes.values() if o.status == s)
            for s in ("built", "pushed", "present")
        }
        return {
            "schema": SCHEMA,
            "registry": self.b.r.vars["REGISTRY"],
            "tag": self.o.tag,
            # When and from which commit this release was made: not image labels (one
            # content tag must name the same bytes at every commit), so they live here.
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "revision": commit(self.b.r.catalog.root) or None,
            "summary": {
                **count,
                "pushes": self.pushes,
                "aliases_added": sum(len(o.aliases) for o in outcomes.values()),
            },
            "refs": refs,
            "images": images,
        }


def markdown(doc: dict) -> str:
    s = doc["summary"]
    lines = [
        f"## Release {doc.get('tag') or '(content tags only)'} to `{doc['registry']}`",
        "",
        f"{s['built']} built, {s['pushed']} pushed, {s['present']} already there, "
        f"{s['aliases_added']} alias tags added.",
        "",
        "| image | status | digest | size |",
        "|---|---|---|---|",
    ]
    for img in doc["images"]:
        lines.append(
            f"| `{img['ref']}` | {img['status']} | `{img['digest'][:19]}` | "
            f"{img['size'] / 1e6:.1f} MB |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(doc: dict, out: Path) -> None:
    """release.json and release.md beside it, each written whole (atomic rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (out, json.dumps(doc, indent=2, sort_keys=True) + "\n"),
        (out.with_suffix(".md"), markdown(doc)),
    ):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
