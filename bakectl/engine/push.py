"""Push built images to a registry, retrying only transient failures.

Tags are content hashes that never include the namespace, so an image built
and tested under a local name (`bakectl/eval/arith/chat:h...`) is the same image
(same ID) as the one to publish: it is tagged under the registry's name and
pushed, with no build step.
"""

from __future__ import annotations

from bakectl.engine.build import Builder, info
from bakectl.engine.docker import image_ids
from bakectl.engine.plan import Plan, Step, print_plan, run_step
from bakectl.errors import BuildError
from bakectl.render.renderer import ImageTarget


def push_steps(targets: list[ImageTarget], content_only: bool = False) -> list[Step]:
    return [
        Step(("docker", "push", ref))
        for t in targets
        for ref in (t.refs()[:1] if content_only else t.refs())
    ]


def tag_tested(targets: list[ImageTarget], namespaces: list[str]) -> tuple[list[Step], list]:
    """`docker tag` steps for the targets the store already holds under another
    namespace (same path and content tag), and the targets it holds under none."""
    steps: list[Step] = []
    rest: list[ImageTarget] = []
    local = {ns: f"{ns}/" for ns in namespaces}
    candidates = [local[ns] + t.name for t in targets for ns in namespaces]
    have = image_ids(candidates)
    for t in targets:
        src = next((local[ns] + t.name for ns in namespaces if local[ns] + t.name in have), None)
        if src is None:
            rest.append(t)
            continue
        steps.append(Step(("docker", "tag", src, t.image), note="the tested image, renamed"))
        steps.extend(Step(("docker", "tag", src, ref)) for ref in t.refs()[1:])
    return steps, rest


def prepare(builder: Builder, targets: list[ImageTarget], tested: list[str]) -> list[ImageTarget]:
    """Make every target present under its registry name: tag what was built under a
    tested namespace, build the rest in one bake graph. Returns the targets built."""
    builder.check_overrides(targets)
    pending = builder.missing(targets)
    others = [ns for ns in dict.fromkeys(tested) if ns != builder.r.vars["REGISTRY"]]
    steps, rest = tag_tested(pending, others) if others and pending else ([], pending)
    if builder.o.dry_run:
        print_plan(Plan(steps))
    else:
        for step in steps:
            if run_step(step).returncode != 0:
                raise BuildError(f"tagging failed: {step.shell()}", "docker's error is above")
    if rest:
        builder.build_missing(rest)
    else:
        for t in targets:
            if t not in pending:
                info(f"up to date: {t.image}")
    return rest


def push_images(builder: Builder, targets: list[ImageTarget], tested: list[str]) -> list[str]:
    """Tag or build what is missing under the registry's names, then push."""
    prepare(builder, targets, tested)
    steps = push_steps(targets)
    if builder.o.dry_run:
        print_plan(Plan(steps))
        return []
    return [run_push(builder, step) for step in steps]


def run_push(builder: Builder, step: Step) -> str:
    res = builder.run_retrying(step)
    if res.returncode != 0:
        raise BuildError(
            f"push failed: {step.shell()} (exit {res.returncode})",
            "the registry's answer is above; check the address and credentials "
            "('docker login HOST')",
        )
    info(f"pushed: {step.argv[-1]}")
    return step.argv[-1]
