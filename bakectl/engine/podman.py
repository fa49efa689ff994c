"""The podman fallback: `docker buildx bake --print` JSON -> `podman build` Steps.

The fallback is derived from what bake itself resolved (`--print` has already
applied `inherits`, `matrix`, variables, `--set` and group expansion), never
maintained by hand. This module is a pure translation: it runs nothing and
writes nothing. Its only look at the filesystem is whether a Dockerfile has a
`<Dockerfile>.dockerignore` beside it (see `translate`).

Paths in the `--print` JSON are relative to the directory bake ran in, and the
steps keep them as printed: run the steps from that same directory, exactly as
a user pasting the printed lines would.

Mapping, checked against podman 4.3.1 (buildah 1.28):

===================  ==========================================================
bake attribute       podman build
===================  ==========================================================
context              positional CONTEXT (default ".")
dockerfile           ``-f <context>/<dockerfile>`` (bake's dockerfile is
                     relative to the context; absolute paths stay as they are)
<df>.dockerignore    ``--ignorefile`` (buildkit reads it, podman 4.3 does not)
dockerfile-inline    ``printf %s <text> | podman build -f - ...`` (a piped Step)
tags                 ``-t`` each, in order
target               ``--target``
platforms            ``--platform a,b`` (several: warning, podman -t names one)
args                 ``--build-arg K=V``, sorted; ``BUILDKIT_*`` dropped + warning
labels               ``--label K=V``, sorted
contexts             ``--build-context name=...``, sorted by name:
                     ``target:X`` -> ``container-image://<X's first tag>``,
                     ``docker-image://ref`` and local dirs as they are,
                     ``cwd://dir`` -> ``dir``, http(s) URLs as they are;
                     ``oci-layout://`` and git: kept + warning. podman
                     matches a context name to FROM/--from literally, buildkit
                     to the short form of the name: a name like
                     ``docker.io/library/x`` or ``x:latest`` gets a warning
secret               ``--secret id=..,src=..`` / ``id=..,env=..`` / ``id=..``
ssh                  ``--ssh`` each (same syntax as buildx)
no-cache             ``--no-cache``
no-cache-filter      ``--no-cache`` for the whole build + warning
pull                 ``--pull=always``; otherwise ``--pull=never`` (see below)
shm-size             ``--shm-size``
ulimits              ``--ulimit`` each
network              ``--network`` (host/none); "default" -> nothing
extra-hosts          ``--add-host host:ip``
output               type=docker / type=image (no push): the image in podman's
                     store; type=local / type=tar: ``--output``; registry,
                     push=true, oci, docker with dest, cacheonly: warning
cache-from/-to       warning (buildah's cache is a different format)
attest, annotations  warning
entitlements, call   warning
anything else        warning ("not translated")
===================  ==========================================================

Every step also gets ``--format docker`` (docker's image store holds docker-
format images; podman's default OCI format drops HEALTHCHECK, SHELL, ...)
and ``--identity-label=false`` (podman would otherwise add an
``io.buildah.version`` label that the bake image does not have).

Pull policy. bake without ``pull`` uses an image the engine already has and
pulls only what is missing. The fallback runs where bake could not: the inputs
it needs (base images, and the images of the targets built before it) must
already be in podman's store, which is separate from docker's. So the default
is ``--pull=never``: a missing base image fails at once with "image not
known" naming it, instead of a registry round-trip that in an offline sandbox
fails only after retries with a network error, and that online could fetch a
*different* image of the same name than the local one bake would have used.
``pull = true`` becomes ``--pull=always``, except for a target with a
``target:`` named context: podman has one pull policy per build and
``always`` would try to pull the in-graph image from a registry, so such a
target gets ``--pull=newer`` (refresh what a registry has, keep local-only
images) and a warning.
"""

from __future__ import annotations

import csv
import json
import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bakectl.engine.plan import Step
from bakectl.errors import UsageError

PODMAN = "podman"

# Attributes every podman build line gets: see the module docstring.
COMMON_FLAGS: tuple[str, ...] = ("--format", "docker", "--identity-label=false")

# Where a target that has no tags, but is used as another target's named
# context, is tagged so that podman can find it (bake keeps it anonymous).
ANONYMOUS_REPOSITORY = "localhost/bakectl-fallback"

# Attributes that do not change what is built: metadata bake prints, or keys
# `--print` has already resolved.
_NO_OP_ATTRIBUTES = frozenset({"description", "inherits", "matrix", "name"})

_HINT_PRINT = "pass the output of 'docker buildx bake --print' for the same files and targets"


@dataclass
class Translation:
    """`podman build` steps for a set of bake targets, dependencies first."""

    steps: list[Step] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # target -> the tag podman gives it first (the one other targets refer to).
    tags: dict[str, str] = field(default_factory=dict)
    # What the translation changed on purpose (not a loss, unlike warnings).
    notes: list[str] = field(default_factory=list)


def load_print(text: str) -> dict[str, Any]:
    """Parse `docker buildx bake --print` output.

    Tolerates progress lines before the JSON (stderr captured together with
    stdout). Checks the shape: a "target" object, an optional "group" object.
    """
    found = re.search(r"^\{", text, re.MULTILINE)
    if found is None:
        raise UsageError("bake --print output holds no JSON object", _HINT_PRINT)
    start = found.start()
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise UsageError(f"bake --print output is not valid JSON: {exc}", _HINT_PRINT) from exc
    if not isinstance(data, dict) or not isinstance(data.get("target"), dict):
        raise UsageError("bake --print output has no 'target' object", _HINT_PRINT)
    if not isinstance(data.get("group", {}), dict):
        raise UsageError("bake --print output has a 'group' that is not an object", _HINT_PRINT)
    for name, spec in data["target"].items():
        if not isinstance(spec, dict):
            raise UsageError(f"bake --print target {name!r} is not an object", _HINT_PRINT)
    return data


def translate(
    printed: dict[str, Any],
    targets: list[str] | None = None,
    *,
    no_cache: bool = False,
    pull: bool | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Translation:
    """Translate bake's resolved targets into `podman build` steps.

    `targets` are target or group names as given to bake; None or empty means
    the "default" group (which `--print` always writes: the names bake was asked
    for). Dependencies (`target:` named contexts) come first, in the order
    bake was asked for the targets otherwise.

    `no_cache` adds `--no-cache` to every build (bake --no-cache); `pull` True
    or False overrides every target's `pull` (bake --pull); None keeps each
    target's own.

    `cwd` is the directory bake ran in (default: the current one); it is used
    only to look for `<Dockerfile>.dockerignore` files. The steps themselves
    keep the printed relative paths and must run in that directory.
    """
    all_targets: dict[str, dict[str, Any]] = printed.get("target", {})
    requested = expand_names(printed, targets or ["default"])
    order = build_order(all_targets, requested)

    tr = Translation(order=order)
    all_targets = _inherit_platforms(all_targets, order, tr)
    for name in order:
        tags = list(all_targets[name].get("tags") or [])
        if tags:
            tr.tags[name] = tags[0]
    base = os.fspath(cwd) if cwd is not None else os.getcwd()
    # Anonymous targets that others use through `target:` get a tag of their own,
    # unique per project (the directory bake ran in) and content (the resolved target):
    # a shared `<target>:latest` let one project's build pick up another's leftover.
    for name in order:
        for ctx_name, dep in _target_contexts(all_targets[name]):
            if dep not in tr.tags:
                tr.tags[dep] = anonymous_tag(base, dep, all_targets[dep], tr.tags)
                tr.warnings.append(
                    f"target {dep!r}: tags: it has none, but target {name!r} uses it as "
                    f"named context {ctx_name!r}; podman tags it {tr.tags[dep]!r} so that "
                    f"the build of {name!r} can refer to it (bake keeps it anonymous)"
                )
    for name in order:
        _TargetTranslator(name, all_targets[name], tr, base, no_cache, pull).run()
    return tr


def _inherit_platforms(
    all_targets: dict[str, dict[str, Any]], order: list[str], tr: Translation
) -> dict[str, dict[str, Any]]:
    """D1: a `target:` dependency without `platforms` is built for its consumer's
    platforms, as bake does (podman built it for the host, and the consumer for another
    platform then found no image). Consumers that disagree: the first one's, and a
    warning."""
    wanted: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    effective: dict[str, tuple[str, ...]] = {}
    for name in reversed(order):  # consumers before what they use
        spec = all_targets[name]
        own = tuple(str(p) for p in spec.get("platforms") or [])
        inherited = [p for _c, p in wanted.get(name, [])]
        effective[name] = own or (inherited[0] if inherited else ())
        if effective[name]:
            for _ctx, dep in _target_contexts(spec):
                wanted.setdefault(dep, []).append((name, effective[name]))
    out = dict(all_targets)
    for name in order:
        if all_targets[name].get("platforms") or not wanted.get(name):
            continue
        choices = wanted[name]
        out[name] = {**all_targets[name], "platforms": list(choices[0][1])}
        tr.notes.append(
            f"target {name!r}: platforms {','.join(choices[0][1])}, from target "
            f"{choices[0][0]!r} that uses it (bake builds a dependency for its consumer)"
        )
        others = sorted({(c, p) for c, p in choices if p != choices[0][1]})
        if others:
            asked = "; ".join(c + ": " + ",".join(p) for c, p in [choices[0], *others])
            tr.warnings.append(
                f"target {name!r}: platforms: its consumers want different platforms "
                f"({asked}); "
                f"podman builds it once, for {','.join(choices[0][1])} (bake builds each): "
                "give the dependency its own platforms"
            )
    return out


def anonymous_tag(base: str, name: str, spec: dict[str, Any], tags: dict[str, str]) -> str:
    """`localhost/bakectl-fallback/<target>:<12 hex>` over the project directory, the
    target's resolved definition and the tags of the targets it is built from."""
    import hashlib

    deps = {dep: tags.get(dep, "") for _c, dep in _target_contexts(spec)}
    key = json.dumps([os.path.abspath(base), spec, deps], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{ANONYMOUS_REPOSITORY}/{_repo_component(name)}:{digest}"


_VAR = re.compile(r"\$\{(\w+)(?::([-+])([^}]*))?\}|\$(\w+)")


def _substitute(text: str, values: dict[str, str]) -> str:
    """Dockerfile variable syntax: $X, ${X}, ${X:-default}, ${X:+alternative}."""

    def one(m: re.Match) -> str:
        name = m.group(1) or m.group(4)
        value = values.get(name, "")
        if m.group(2) == "-":
            return value or m.group(3)
        if m.group(2) == "+":
            return m.group(3) if value else ""
        return value

    return _VAR.sub(one, text)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None  # remote or unreadable: podman reads it as printed


def expand_names(printed: dict[str, Any], names: Iterable[str]) -> list[str]:
    """Group and target names -> target names, groups expanded, first occurrence kept.

    A name that is both a group and a target is a group, as in bake.
    """
    all_targets = printed.get("target", {})
    groups = printed.get("group", {}) or {}
    out: list[str] = []

    def add(name: str, stack: tuple[str, ...]) -> None:
        if name in groups:
            if name in stack:
                chain = " -> ".join((*stack[stack.index(name) :], name))
                raise UsageError(f"bake groups form a cycle: {chain}", _HINT_PRINT)
            for member in groups[name].get("targets") or []:
                add(member, (*stack, name))
        elif name in all_targets:
            if name not in out:
                out.append(name)
        else:
            known = sorted({*groups, *all_targets})
            what = f"in group {stack[-1]!r} " if stack else ""
            raise UsageError(
                f"bake target or group {name!r} {what}is not in the bake --print output",
                "known: " + (", ".join(known) if known else "none") + "; " + _HINT_PRINT,
            )

    for name in names:
        add(name, ())
    return out


def build_order(all_targets: dict[str, dict[str, Any]], requested: list[str]) -> list[str]:
    """Requested targets and their `target:` dependencies, each after what it uses."""
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            chain = " -> ".join((*path[path.index(name) :], name))
            raise UsageError(
                f"bake targets form a cycle through their target: contexts: {chain}",
                "a target cannot use itself, directly or through others, as a named context",
            )
        if name not in all_targets:
            why = (
                f"target {path[-1]!r} uses 'target:{name}' as a named context, but " if path else ""
            )
            raise UsageError(f"{why}{name!r} is not in the bake --print output", _HINT_PRINT)
        for _ctx, dep in _target_contexts(all_targets[name]):
            visit(dep, (*path, name))
        done.add(name)
        order.append(name)

    for name in requested:
        visit(name, ())
    return order


# -- one target ---------------------------------------------------------------------------


def _target_contexts(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(context name, target) for each `target:` named context, by context name."""
    out = []
    for ctx_name, value in sorted((spec.get("contexts") or {}).items()):
        if isinstance(value, str) and value.startswith("target:"):
            out.append((ctx_name, value[len("target:") :]))
    return out


def _repo_component(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("._-")
    return cleaned or "target"


def _kv(value: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Parse bake's CSV `k=v,k=v` syntax into pairs (keys lowercased) and bare fields."""
    pairs: list[tuple[str, str]] = []
    bare: list[str] = []
    for item in next(csv.reader([value]), []):
        key, sep, val = item.partition("=")
        if sep:
            pairs.append((key.strip().lower(), val))
        elif item.strip():
            bare.append(item.strip())
    return pairs, bare


def _strip_cwd(path: str) -> str:
    return path[len("cwd://") :] if path.startswith("cwd://") else path


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "git://", "git@", "ssh://"))


def _looks_like_git(value: str) -> bool:
    if value.startswith(("git://", "git@", "ssh://")):
        return True
    if value.startswith(("http://", "https://")):
        return value.split("#", 1)[0].endswith(".git") or "#" in value
    return False


class _TargetTranslator:
    def __init__(
        self,
        name: str,
        spec: dict[str, Any],
        tr: Translation,
        base: str,
        no_cache: bool,
        pull: bool | None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.tr = tr
        self.base = base
        self.no_cache = no_cache
        self.pull = pull
        self.argv: list[str] = [PODMAN, "build", *COMMON_FLAGS]
        self.inline: str | None = None  # Dockerfile text piped in (-f -)

    def warn(self, attribute: str, message: str) -> None:
        self.tr.warnings.append(f"target {self.name!r}: {attribute}: {message}")

    def add(self, *args: str) -> None:
        self.argv.extend(args)

    def run(self) -> None:
        spec = self.spec
        handled: set[str] = set(_NO_OP_ATTRIBUTES)
        context = _strip_cwd(str(spec.get("context") or "."))
        inline = spec.get("dockerfile-inline")
        handled |= {"context", "dockerfile", "dockerfile-inline"}
        self._dockerfile(context, inline)

        for tag in self.tags():
            self.add("-t", tag)
        handled.add("tags")
        if spec.get("target"):
            self.add("--target", str(spec["target"]))
        handled.add("target")
        self._platforms(spec.get("platforms") or [])
        handled.add("platforms")
        self._args(spec.get("args") or {})
        handled.add("args")
        for key, value in sorted((spec.get("labels") or {}).items()):
            if value is not None:  # bake drops null labels too
                self.add("--label", f"{key}={value}")
        handled.add("labels")
        self._contexts(spec.get("contexts") or {})
        handled.add("contexts")
        for secret in spec.get("secret") or []:
            self._secret(str(secret))
        handled.add("secret")
        for ssh in spec.get("ssh") or []:
            self.add("--ssh", str(ssh))
        handled.add("ssh")
        self._cache(spec)
        handled |= {"no-cache", "no-cache-filter", "cache-from", "cache-to"}
        self._pull(spec.get("pull"))
        handled.add("pull")
        self._runtime(spec)
        handled |= {"network", "shm-size", "ulimits", "extra-hosts"}
        self._outputs(spec.get("output") or [])
        handled.add("output")
        self._unsupported(spec)
        handled |= {"attest", "annotations", "entitlements", "call"}
        for key in sorted(set(spec) - handled):
            self.warn(key, f"{spec[key]!r} is not translated to podman build (ignored)")

        self.add(context)
        note = f"bake target {self.name!r} (podman fallback)"
        if self.inline is not None:
            self.tr.steps.append(
                Step(("printf", "%s", self.inline), pipe_to=tuple(self.argv), note=note)
            )
        else:
            self.tr.steps.append(Step(tuple(self.argv), note=note))

    def tags(self) -> list[str]:
        tags = [str(t) for t in self.spec.get("tags") or []]
        if not tags and self.name in self.tr.tags:
            tags = [self.tr.tags[self.name]]
        return tags

    # -- fields -----------------------------------------------------------------------

    def _dockerfile(self, context: str, inline: Any) -> None:
        if isinstance(inline, str):
            self.add("-f", "-")  # the Step pipes the text in
            self.inline = self._resolve_from(inline)
            return
        dockerfile = str(self.spec.get("dockerfile") or "Dockerfile")
        if dockerfile.startswith("cwd://"):
            path = _strip_cwd(dockerfile)
        elif posixpath.isabs(dockerfile):
            path = dockerfile
        elif _is_url(context):
            if dockerfile != "Dockerfile":
                self.add("-f", dockerfile)
                self.warn(
                    "dockerfile",
                    f"{dockerfile!r} is inside the remote context {context!r}; podman "
                    "looks for it in the current directory first, then in the context",
                )
            return
        else:
            path = posixpath.normpath(posixpath.join(context, dockerfile))
        text = _read_text(os.path.join(self.base, path))
        resolved = self._resolve_from(text) if text is not None else None
        if resolved is not None and resolved != text:
            self.add("-f", "-")  # the resolved text is piped in (see _resolve_from)
            self.inline = resolved
        else:
            self.add("-f", path)
        ignore = path + ".dockerignore"
        if os.path.isfile(os.path.join(self.base, ignore)):
            self.add("--ignorefile", ignore)

    def _resolve_from(self, text: str) -> str:
        """FROM lines that name their image through an ARG, made concrete.

        podman 4.3 applies a named context to a literal FROM but not to `FROM ${ARG}`:
        with a context keyed `debian:bookworm-slim` and `ARG BASE=debian:bookworm-slim`,
        `FROM ${BASE}` silently used the store's debian (exit 0, the wrong base). So the
        global ARGs (defaults, then the target's args) are substituted, and a result that
        names a context becomes that context's image (a target's tag, a docker-image://
        or container-image:// reference).
        """
        lines = text.split("\n")
        values: dict[str, str] = {}
        args = {k: str(v) for k, v in (self.spec.get("args") or {}).items() if v is not None}
        contexts = self.spec.get("contexts") or {}
        stages: set[str] = set()
        changed = False
        seen_from = False
        for i, line in enumerate(lines):
            words = line.split()
            if not words:
                continue
            op = words[0].upper()
            if op == "ARG" and not seen_from:
                for decl in words[1:]:
                    key, eq, default = decl.partition("=")
                    values[key] = args.get(
                        key, _substitute(default.strip('"'), values) if eq else ""
                    )
            elif op == "FROM":
                seen_from = True
                image_at = next(
                    (k for k in range(1, len(words)) if not words[k].startswith("--")), None
                )
                if image_at is None:
                    continue
                image = words[image_at]
                if "$" in image:
                    ref = _substitute(image, values)
                    if ref not in stages:
                        ref = self._context_image(ref, contexts) or ref
                    words[image_at] = ref
                    lines[i] = " ".join(words)
                    changed = True
                if len(words) > image_at + 2 and words[image_at + 1].upper() == "AS":
                    stages.add(words[image_at + 2])
        if changed:
            self.tr.notes.append(f"target {self.name!r}: FROM lines resolved: ARGs substituted")
        return "\n".join(lines) if changed else text

    def _context_image(self, ref: str, contexts: dict[str, Any]) -> str | None:
        value = contexts.get(ref)
        if value is None and ":" not in ref.rsplit("/", 1)[-1]:
            value = contexts.get(f"{ref}:latest")
        if not isinstance(value, str):
            return None
        if value.startswith("target:"):
            return self.tr.tags.get(value[len("target:") :])
        for scheme in ("docker-image://", "container-image://"):
            if value.startswith(scheme):
                return value[len(scheme) :]
        return None  # a directory or URL context: podman applies it to the literal FROM

    def _platforms(self, platforms: list[str]) -> None:
        if not platforms:
            return
        self.add("--platform", ",".join(str(p) for p in platforms))
        if len(platforms) > 1:
            self.warn(
                "platforms",
                f"{len(platforms)} platforms: podman builds each, but its -t tags name "
                "only one of the images (a multi-platform image needs a manifest list, "
                "'podman build --manifest', which docker's classic image store cannot "
                "hold either); RUN steps for a foreign platform need qemu emulation",
            )

    def _args(self, args: dict[str, Any]) -> None:
        dropped = []
        for key, value in sorted(args.items()):
            if value is None:  # bake drops null args too
                continue
            if key.startswith("BUILDKIT_"):
                dropped.append(key)
                continue
            self.add("--build-arg", f"{key}={value}")
        if dropped:
            self.warn(
                "args",
                ", ".join(dropped) + ": buildkit frontend settings that podman does not "
                "read; not passed",
            )

    def _contexts(self, contexts: dict[str, Any]) -> None:
        for ctx_name, raw in sorted(contexts.items()):
            value = str(raw)
            if value.startswith("target:"):
                dep = value[len("target:") :]
                value = f"container-image://{self.tr.tags[dep]}"
            elif value.startswith("cwd://"):
                value = _strip_cwd(value)
            elif value.startswith("oci-layout://"):
                self.warn(
                    "contexts",
                    f"{ctx_name}={raw}: podman 4.3 has no oci-layout:// build context; "
                    "passed as is, so the build fails where it is used (load the layout "
                    "into podman's store and use docker-image:// instead)",
                )
            elif _looks_like_git(value):
                self.warn(
                    "contexts",
                    f"{ctx_name}={raw}: podman 4.3 documents only local directories, "
                    "images and HTTP tarball URLs as build contexts; a git repository "
                    "(and its #ref:subdir) may not be fetched as buildx would",
                )
            if ctx_name.startswith(("docker.io/", "index.docker.io/")) or ctx_name.endswith(
                ":latest"
            ):
                self.warn(
                    "contexts",
                    f"{ctx_name}: buildkit matches a named context against the short form "
                    "of FROM/--from names (docker.io/library/ and :latest removed), so it "
                    "never matches a name spelled like this; podman matches it where a "
                    "Dockerfile spells it exactly so",
                )
            self.add("--build-context", f"{ctx_name}={value}")

    def _secret(self, raw: str) -> None:
        pairs, bare = _kv(raw)
        sid = src = env = typ = None
        unknown = list(bare)
        for key, val in pairs:
            if key == "id":
                sid = val
            elif key in ("src", "source"):
                src = val
            elif key == "env":
                env = val
            elif key == "type":
                typ = val
            else:
                unknown.append(f"{key}={val}")
        if typ not in (None, "file", "env"):
            self.warn("secret", f"{raw!r}: type {typ!r} is not file or env; not passed")
            return
        if typ == "env" and env is None:  # buildx: with type=env, src names the variable
            env, src = src, None
        if not sid:
            self.warn("secret", f"{raw!r} has no id; not passed")
            return
        if unknown:
            self.warn("secret", f"{raw!r}: {', '.join(unknown)} not understood; ignored")
        if env is not None:
            self.add("--secret", f"id={sid},env={env}")
        elif src is not None:
            self.add("--secret", f"id={sid},src={src}")
        else:
            # Like buildkit, podman 4.3 reads the env var named by the id, else that file.
            self.add("--secret", f"id={sid}")

    def _cache(self, spec: dict[str, Any]) -> None:
        if spec.get("no-cache") or self.no_cache:
            self.add("--no-cache")
        elif spec.get("no-cache-filter"):
            self.add("--no-cache")
            self.warn(
                "no-cache-filter",
                f"{spec['no-cache-filter']!r}: podman cannot skip the cache for some "
                "stages only; the whole build runs with --no-cache",
            )
        for attribute in ("cache-from", "cache-to"):
            entries = spec.get(attribute) or []
            if entries:
                self.warn(
                    attribute,
                    f"{', '.join(map(str, entries))}: not used; podman's "
                    f"--{attribute} reads and writes buildah's own cache images, not "
                    "buildkit cache exports",
                )

    def _pull(self, target_pull: Any) -> None:
        want = self.pull if self.pull is not None else bool(target_pull)
        if not want:
            self.add("--pull=never")
            return
        deps = _target_contexts(self.spec)
        if deps:
            self.add("--pull=newer")
            names = ", ".join(f"target:{dep}" for _c, dep in deps)
            self.warn(
                "pull",
                f"true, but podman has one pull policy per build and 'always' would try to "
                f"pull {names} from a registry; using --pull=newer (refresh from a "
                "registry where it answers, keep images that exist only locally)",
            )
        else:
            self.add("--pull=always")

    def _runtime(self, spec: dict[str, Any]) -> None:
        network = spec.get("network")
        if network and network != "default":
            if network in ("host", "none"):
                self.add("--network", str(network))
            else:
                self.warn("network", f"{network!r} has no podman build equivalent; ignored")
        if spec.get("shm-size"):
            self.add("--shm-size", str(spec["shm-size"]))
        for ulimit in spec.get("ulimits") or []:
            self.add("--ulimit", str(ulimit))
        hosts = spec.get("extra-hosts") or {}
        for host, ip in sorted(hosts.items()) if isinstance(hosts, dict) else []:
            self.add("--add-host", f"{host}:{ip}")
        if hosts and not isinstance(hosts, dict):
            self.warn("extra-hosts", f"{hosts!r} is not a host -> ip map; ignored")

    def _outputs(self, outputs: list[Any]) -> None:
        exported = False
        for raw in map(str, outputs):
            pairs, bare = _kv(raw)
            attrs = dict(pairs)
            if not pairs and len(bare) == 1:  # buildx shorthand: a path, or "-" for a tar
                attrs = {"type": "tar" if bare[0] == "-" else "local", "dest": bare[0]}
            typ = attrs.get("type", "local" if "dest" in attrs else "")
            if typ in ("docker", "image", "moby") and "dest" not in attrs:
                if typ == "image" and attrs.get("push", "false").lower() in ("true", "1"):
                    self.warn(
                        "output",
                        f"{raw!r}: podman build does not push; the image stays in podman's store",
                    )
                extra = sorted(set(attrs) - {"type", "push"})
                if extra:
                    self.warn("output", f"{raw!r}: {', '.join(extra)} not translated")
            elif typ in ("local", "tar") and attrs.get("dest") and not exported:
                self.add("--output", f"type={typ},dest={attrs['dest']}")
                exported = True
                extra = sorted(set(attrs) - {"type", "dest"})
                if extra:
                    self.warn("output", f"{raw!r}: {', '.join(extra)} not translated")
            elif typ in ("local", "tar") and attrs.get("dest"):
                self.warn("output", f"{raw!r}: podman build takes one --output; not exported")
            elif typ == "registry":
                self.warn(
                    "output",
                    f"{raw!r}: podman build does not push; the image stays in podman's store",
                )
            else:
                self.warn(
                    "output",
                    f"{raw!r}: podman build has no such exporter; the image stays in "
                    "podman's store",
                )

    def _unsupported(self, spec: dict[str, Any]) -> None:
        reasons = {
            "attest": "podman build makes no SBOM or provenance attestations",
            "annotations": "podman builds docker-format images here (as docker's image "
            "store holds), which carry no manifest annotations",
            "entitlements": "podman build has no entitlements; run it with the privileges "
            "the build needs",
        }
        for attribute, reason in reasons.items():
            value = spec.get(attribute)
            if value:
                shown = ", ".join(map(str, value)) if isinstance(value, list) else repr(value)
                self.warn(attribute, f"{shown}: not honoured; {reason}")
        call = spec.get("call")
        if call and call != "build":
            self.warn("call", f"{call!r}: podman build only builds; it runs no other frontend")
