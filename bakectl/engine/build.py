"""Build images: one `docker buildx bake` per command, podman when bake cannot.

The podman fallback is derived from `docker buildx bake --print` for the same
files and targets (bakectl.engine.podman), never maintained by hand.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from bakectl.catalog.naming import familiar_ref, registry_host, unmapped_hint
from bakectl.engine import classify
from bakectl.engine.docker import (
    builder_boot_error,
    builder_info,
    check_builder,
    engine_error,
    image_exists,
    local_images,
    present_among,
    server_is_podman,
)
from bakectl.engine.plan import Plan, Step, StepResult, print_plan, run_step
from bakectl.errors import BakectlError, BuildError, UsageError
from bakectl.render.renderer import BASE_ARGS, ImageTarget, Renderer


@dataclass
class BuildOptions:
    push: bool = False
    builder: str | None = None
    platforms: list[str] = field(default_factory=list)
    no_cache: bool = False
    sets: list[str] = field(default_factory=list)
    engine: str = "auto"  # auto | bake | podman
    dry_run: bool = False
    retries: int = 4  # attempts for transient registry failures
    progress: str | None = None  # bake --progress: auto | plain | tty | quiet
    provenance: str | None = None  # bake --provenance (e.g. mode=max)
    sbom: str | None = None  # bake --sbom (e.g. true)

    def __post_init__(self) -> None:
        # `--platform a,b` and `--platform a --platform b` mean the same list.
        self.platforms = [p.strip() for x in self.platforms for p in x.split(",") if p.strip()]

    def all_sets(self) -> list[str]:
        """Every `--set` bake gets: `--platform` as `*.platform`, then the user's."""
        platform = [f"*.platform={','.join(self.platforms)}"] if self.platforms else []
        return platform + list(self.sets)

    def hashed_sets(self) -> list[str]:
        """all_sets plus the attestations, which bake's --provenance/--sbom are shorthand
        for (`*.attest=type=...`): an image with attestations is other bytes in the
        registry (an index), so it never passes for the same image without them."""
        attest = [
            f"*.attest=type={kind},{value}"
            for kind, value in (("provenance", self.provenance), ("sbom", self.sbom))
            if value
        ]
        return self.all_sets() + attest


# Targets (dependencies included) in one bake invocation; BAKECTL_BAKE_BATCH overrides.
BAKE_BATCH = 40


def info(msg: str) -> None:
    print(f"bakectl: {msg}", file=sys.stderr, flush=True)


def check_push_registry(registry: str) -> None:
    if registry_host(registry) is None:
        raise UsageError(
            f"cannot push to {registry!r}: it is not a registry address",
            "pass --registry HOST[:PORT]/PATH (or set BAKECTL_REGISTRY)",
        )


class Builder:
    def __init__(self, renderer: Renderer, options: BuildOptions) -> None:
        self.r = renderer
        self.o = options
        # The project's docker-bake.hcl, else the defaults bakectl ships (catalog.bake_file);
        # a bundle's definition is whole and has neither.
        self.root_hcl = getattr(renderer.catalog, "bake_file", None) or (
            renderer.catalog.root / "docker-bake.hcl"
        )
        if options.builder:
            options.push = True  # a remote builder cannot load into the local store
        if options.push:
            check_push_registry(renderer.vars["REGISTRY"])

    # -- commands ------------------------------------------------------------------------
    def _env(self) -> tuple[tuple[str, str], ...]:
        env = [("REGISTRY", self.r.vars["REGISTRY"])]
        if self.r.vars.get("TAG"):
            env.append(("TAG", self.r.vars["TAG"]))
        return tuple(env)

    def _files(self, bake_file: Path) -> list[str]:
        files = ["-f", str(bake_file)]
        if self.root_hcl.is_file():
            files += ["-f", str(self.root_hcl)]
        return files

    def _bake_argv(self, bake_file: Path, targets: list[ImageTarget], *flags: str) -> tuple:
        argv = ["docker", "buildx", "bake", *self._files(bake_file), *flags]
        for s in self.o.all_sets():
            argv += ["--set", s]
        return (*argv, *(t.target for t in targets))

    def bake_step(self, bake_file: Path, targets: list[ImageTarget]) -> Step:
        flags = ["--builder", self.o.builder] if self.o.builder else []
        flags.append("--push" if self.o.push else "--load")
        if self.o.no_cache:
            flags.append("--no-cache")
        if self.o.progress:
            flags += ["--progress", self.o.progress]
        if self.o.provenance:
            flags += ["--provenance", self.o.provenance]
        if self.o.sbom:
            flags += ["--sbom", self.o.sbom]
        return Step(self._bake_argv(bake_file, targets, *flags), env=self._env())

    def print_step(self, bake_file: Path, targets: list[ImageTarget]) -> Step:
        return Step(self._bake_argv(bake_file, targets, "--print"), env=self._env(), mutates=False)

    def bake_print(self, bake_file: Path, targets: list[ImageTarget]) -> dict:
        """The resolved definition (`bake --print`), checked for shape."""
        from bakectl.engine.podman import load_print

        res = run_step(self.print_step(bake_file, targets), capture_stdout=True, quiet=True)
        if res.returncode != 0:
            raise BuildError(
                "docker buildx bake --print failed: "
                + (res.stderr.strip().splitlines() or ["no output"])[-1],
                "check that the docker CLI and its buildx plugin are installed ('bakectl doctor')",
            )
        return load_print(res.stdout)

    # -- the fallback --------------------------------------------------------------------
    def podman_plan(self, bake_file: Path, targets: list[ImageTarget]) -> tuple[Plan, list[str]]:
        from bakectl.engine.podman import translate

        printed = self.bake_print(bake_file, targets)
        tr = translate(printed, [t.target for t in targets], no_cache=self.o.no_cache)
        plan = Plan()
        separate = not self._docker_is_podman()
        if separate:
            # podman cannot pull here (air-gapped): give it the base images docker has.
            # ... and the images mapped FROM references stand in for (docker-image:// contexts).
            mapped = {
                v.removeprefix("docker-image://")
                for spec in printed.get("target", {}).values()
                for v in (spec.get("contexts") or {}).values()
                if isinstance(v, str) and v.startswith("docker-image://")
            }
            local = {ref for t in targets for c in t.closure() for ref in c.needs_local}
            for base in sorted({self.r.vars[a] for a in BASE_ARGS} | mapped | local):
                if self.o.dry_run or not image_exists(base, "podman"):
                    plan.add(
                        Step(
                            ("docker", "image", "save", base),
                            pipe_to=("podman", "load"),
                            note="copy base image into podman's store",
                        )
                    )
        plan.steps.extend(tr.steps)
        if separate and not self.o.push:
            for t in targets:
                plan.add(
                    Step(
                        ("podman", "image", "save", t.image),
                        pipe_to=("docker", "load"),
                        note="move the built image into docker's store",
                    )
                )
                if registry_host(t.image) is None:
                    # podman qualifies short names as localhost/NAME; docker looks up NAME.
                    plan.add(Step(("docker", "tag", f"localhost/{t.image}", t.image)))
        if self.o.push:
            for t in targets:
                for ref in t.refs():
                    plan.add(Step(("podman", "push", ref)))
        return plan, list(tr.warnings)

    _podman_backed: bool | None = None
    _links: bool | None = None

    def link_agent_layer(self) -> bool:
        """Whether eval images `COPY --link` their agent layer (the same image, the same tag).
        On the containerd image store BuildKit then makes that layer once and stacks it on
        every task image: 4 more codex eval images took 42 s linked against 204 s copied
        (bench/agent_bench.py); on the classic store a linked layer is still copied per
        image, and measured as fast or faster (1.0-1.6 s per image against 1.6-1.7 s). Not
        under podman, which refuses --link. BAKECTL_COPY_LINK=0 turns it off."""
        if self._links is None:
            self._links = self.o.engine != "podman" and os.environ.get("BAKECTL_COPY_LINK") != "0"
        return self._links

    def _docker_is_podman(self) -> bool:
        if self._podman_backed is None:
            self._podman_backed = server_is_podman()
        return self._podman_backed

    def _run_fallback(self, bake_file: Path, targets: list[ImageTarget]) -> None:
        plan, warnings = self.podman_plan(bake_file, targets)
        for w in warnings:
            info(f"warning: {w}")
        for step in plan.steps:
            res = self.run_retrying(step) if step.argv[:2] == ("podman", "push") else run_step(step)
            if res.returncode != 0:
                hint = "the command's own error is printed above"
                if "image not known" in res.stderr:
                    hint = (
                        "podman's store lacks a base image: run 'bakectl images bootstrap "
                        "--engine podman' (or podman pull it)"
                    )
                raise BuildError(f"podman fallback failed at: {step.shell()}", hint)

    # -- running -------------------------------------------------------------------------
    def run_retrying(self, step: Step) -> StepResult:
        """Run, retrying only failures whose stderr says they are transient."""

        def transient(res: StepResult) -> bool:
            return res.returncode != 0 and classify.is_transient(res.stderr)

        def say(state) -> None:  # before a retry that will happen: never after the last
            code = state.outcome.result().returncode
            info(
                f"transient failure (exit {code}); retrying with backoff "
                f"({state.attempt_number}/{self.o.retries - 1})"
            )

        retry = Retrying(
            stop=stop_after_attempt(self.o.retries),
            wait=wait_exponential(multiplier=0.5, max=8),
            retry=retry_if_result(transient),
            before_sleep=say,
            retry_error_callback=lambda s: s.outcome.result(),
        )
        return retry(lambda: run_step(step))

    def _retry_sessions(
        self, res: StepResult, pending: list[ImageTarget]
    ) -> tuple[StepResult, list[ImageTarget]]:
        """BuildKit session errors are transient (not the user's Dockerfile): rerun
        bake on the targets that did not finish, a bounded number of times."""
        left = pending
        for attempt in range(1, self.o.retries):
            if res.returncode == 0 or not classify.buildkit_session_error(res.stderr):
                break
            # Loaded images are finished; with --push the store cannot tell, so all again
            # (BuildKit's cache makes the finished ones cheap).
            if not self.o.push:
                left = self.missing(left)
                if not left:  # every image arrived before the session broke
                    return StepResult(res.step, 0, res.stderr), left
            info(
                f"BuildKit session error (transient, not your Dockerfile); retrying "
                f"{len(left)} unfinished target(s) ({attempt}/{self.o.retries - 1})"
            )
            step = self.bake_step(self.r.write(left, link=self.link_agent_layer()), left)
            res = self.run_retrying(step) if self.o.push else run_step(step)
        if res.returncode != 0 and classify.buildkit_session_error(res.stderr):
            raise BuildError(
                f"BuildKit kept losing its session ({self.o.retries} attempts); "
                f"{len(left)} target(s) unfinished",
                "a builder or daemon fault, not your Dockerfile: rerun (finished images are "
                "kept), or restart the builder ('docker buildx stop')",
            )
        return res, left

    def _should_fall_back(self, stderr: str) -> str | None:
        if classify.builder_cannot_boot(stderr):
            return "the buildx builder could not start"
        missing = classify.unresolved_images(stderr)
        local = [ref for ref in missing if image_exists(ref)]
        if local:
            return f"the buildx builder cannot see local image(s) {', '.join(local)}"
        return None

    def check_platforms(self) -> None:
        """Refuse, before building, what the builder cannot do (never drop it silently):
        a platform it does not list; several platforms or attestations on the docker
        driver with the classic image store (it can neither load an index nor keep
        attestations)."""
        wants_attest = bool(self.o.provenance or self.o.sbom)
        if not self.o.platforms and not wants_attest:
            return
        b = builder_info(self.o.builder)
        hint = (
            "use a builder that can: 'docker buildx create --driver docker-container' with "
            '--push, or the containerd image store (dockerd\'s "containerd-snapshotter" feature)'
        )
        for p in self.o.platforms:
            if b.platforms and p not in b.platforms:
                raise UsageError(
                    f"--platform {p}: builder {b.name!r} ({b.driver} driver) builds only "
                    + ", ".join(b.platforms),
                    "register QEMU emulators (binfmt_misc) or use a builder for that platform "
                    "('docker buildx create --platform ...')",
                )
        if b.classic_docker and len(self.o.platforms) > 1:
            raise UsageError(
                f"--platform {','.join(self.o.platforms)}: builder {b.name!r} is the docker "
                "driver on the classic image store, which cannot hold a multi-platform image",
                hint,
            )
        if b.classic_docker and wants_attest:
            flag = "--provenance" if self.o.provenance else "--sbom"
            raise UsageError(
                f"{flag}: builder {b.name!r} is the docker driver on the classic image store, "
                "which cannot keep attestations",
                hint,
            )

    def check_overrides(self, targets: list[ImageTarget]) -> None:
        """`--set` names targets of this graph (before the up-to-date test)."""
        from bakectl.render.overrides import check_targets, parse_all

        names = list(dict.fromkeys(c.target for t in targets for c in t.closure()))
        check_targets(self.r.overrides or parse_all(self.o.hashed_sets()), names)

    def missing(self, targets: list[ImageTarget]) -> list[ImageTarget]:
        """The targets to build: those the local store lacks (all of them when pushing
        or with --no-cache; under --dry-run without an engine, all, to print everything)."""
        if self.o.push or self.o.no_cache:
            return list(targets)
        try:
            have = local_images()
        except BakectlError:
            if not self.o.dry_run:
                raise
            return list(targets)
        if have:  # ask the store once more about the missing ones (podman's list lags)
            have |= present_among([t.image for t in targets if t.image not in have])
        return [t for t in targets if t.image not in have]

    def build(self, targets: list[ImageTarget]) -> None:
        """Build what is missing of `targets` in one bake graph; say what is up to date."""
        if self.o.builder:  # read-only, so dry-run checks it too
            check_builder(self.o.builder)
        self.check_overrides(targets)
        self.check_platforms()
        pending = self.missing(targets)
        if not pending:
            for t in targets:
                info(f"up to date: {t.image}")
            return
        self.build_missing(pending)

    def _check_local_inputs(self, pending: list[ImageTarget]) -> None:
        """An image a build takes from the local store as it is (a task's docker_image) must
        be there: say which, and how to map it, before anything runs."""
        for t in pending:
            for c in t.closure():
                for ref in c.needs_local:
                    if not image_exists(ref):
                        raise UsageError(
                            f"{c.target}: [environment] docker_image {ref!r} is neither a local "
                            "image nor mapped to one",
                            unmapped_hint(ref),
                        )

    def batches(self, pending: list[ImageTarget]) -> list[list[ImageTarget]]:
        """`pending` cut into bake graphs of at most BAKE_BATCH targets (dependencies
        counted), in dependency order. One bake of a few hundred targets on the docker
        driver loses BuildKit sessions ('only one connection allowed', 'forwarding Ping:
        no such job'): a cold 48 tasks x 2 agents (146 targets) failed 4 times running;
        bounded graphs do not, and a dependency shared by batches is a cache hit."""
        limit = max(1, int(os.environ.get("BAKECTL_BAKE_BATCH") or BAKE_BATCH))
        out: list[list[ImageTarget]] = []
        cur: list[ImageTarget] = []
        seen: set[str] = set()
        for t in pending:
            need = {c.target for c in t.closure()}
            if cur and len(seen | need) > limit:
                out.append(cur)
                cur, seen = [], set()
            cur.append(t)
            seen |= need
        if cur:
            out.append(cur)
        return out

    def build_missing(self, pending: list[ImageTarget]) -> None:
        """Build `pending` (as `missing` found them) in bounded bake graphs."""
        if not self.o.dry_run and not self.o.push:
            self._check_local_inputs(pending)
        groups = self.batches(pending)
        for k, group in enumerate(groups, 1):
            if len(groups) > 1:
                info(f"bake graph {k}/{len(groups)}: {len(group)} target(s)")
            self._build_graph(group)

    def _build_graph(self, pending: list[ImageTarget]) -> None:
        """One bake graph, with the podman fallback."""
        bake_file = self.r.write(
            pending, link=self.o.engine != "podman" and self.link_agent_layer()
        )
        step = self.bake_step(bake_file, pending)
        if self.o.dry_run:
            plan = Plan([step]) if self.o.engine != "podman" else Plan()
            try:
                fallback, warnings = self.podman_plan(bake_file, pending)
            except BuildError as exc:
                print(f"# podman fallback unavailable: {exc.message}")
            else:
                if self.o.engine == "podman":
                    plan.steps = fallback.steps
                else:
                    plan.fallback = fallback.steps
                    plan.fallback_reason = (
                        "the builder cannot start or cannot see a locally built image"
                    )
                for w in warnings:
                    print(f"# warning: {w}")
            print_plan(plan)
            return
        if self.o.engine == "podman":
            self._run_fallback(bake_file, pending)
        else:
            tty = self.o.progress in (None, "auto", "tty")  # bake's display on a terminal
            res = self.run_retrying(step) if self.o.push else run_step(step, tty=tty)
            if res.returncode != 0 and not res.stderr:  # not captured: ask the builder
                res = StepResult(res.step, res.returncode, builder_boot_error(self.o.builder))
            res, pending_now = self._retry_sessions(res, pending)
            if res.returncode != 0:
                bake_file = self.r.write(pending_now)  # podman refuses COPY --link
                if classify.engine_down(res.stderr) and not self.o.builder:
                    raise engine_error(res.stderr)
                reason = self._should_fall_back(res.stderr) if self.o.engine == "auto" else None
                # A base image nobody could give: name it and say how to map it.
                unresolved = [r for r in classify.unresolved_images(res.stderr) if familiar_ref(r)]
                if reason is None and unresolved:
                    raise BuildError(
                        f"docker buildx bake could not get base image(s) {', '.join(unresolved)}: "
                        "not in the local store and no registry gave them",
                        unmapped_hint(unresolved[0]),
                    )
                if reason is None:
                    raise BuildError(
                        f"docker buildx bake failed (exit {res.returncode}); its error is above",
                        "fix the Dockerfile or build input it names; rerun the printed command "
                        "by hand to iterate",
                    )
                info(f"{reason}; falling back to podman build, derived from bake --print")
                self._run_fallback(bake_file, pending_now)
        for t in pending:
            info(f"built: {t.image}")
