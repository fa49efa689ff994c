"""Push built images to a registry, retrying only transient failures."""

from __future__ import annotations

from bakectl.engine.build import Builder, info
from bakectl.engine.plan import Plan, Step, print_plan
from bakectl.errors import BuildError
from bakectl.render.renderer import ImageTarget


def push_steps(targets: list[ImageTarget]) -> list[Step]:
    return [Step(("docker", "push", ref)) for t in targets for ref in t.refs()]


def push_images(builder: Builder, targets: list[ImageTarget]) -> list[str]:
    """Build what is missing into docker's store under the registry's names, then push."""
    builder.build(targets)
    steps = push_steps(targets)
    if builder.o.dry_run:
        print_plan(Plan(steps))
        return []
    pushed = []
    for step in steps:
        res = builder.run_retrying(step)
        if res.returncode != 0:
            raise BuildError(
                f"push failed: {step.shell()} (exit {res.returncode})",
                "the registry's answer is above; check the address and credentials "
                "('docker login HOST')",
            )
        pushed.append(step.argv[-1])
        info(f"pushed: {step.argv[-1]}")
    return pushed
