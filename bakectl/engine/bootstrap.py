"""Base images without a registry: debootstrap a Debian root filesystem and
import it into the local store. Air-gapped users get the same base images the
catalog's Dockerfiles name; users with a registry never need this."""

from __future__ import annotations

import os
from pathlib import Path

from bakectl.engine.plan import Plan, Step

SUITE = "bookworm"
# What each base-image variable holds: extra Debian packages on top of minbase.
RECIPES = {
    "DEBIAN_IMAGE": (),
    "PYTHON_IMAGE": ("python3",),
}


def mirror() -> str:
    return os.environ.get("BAKECTL_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def bootstrap_plan(
    variables: dict[str, str], work_dir: Path, engine: str, missing: list[str]
) -> Plan:
    """Steps that build each missing base image. `missing` holds variable names."""
    plan = Plan()
    cache = work_dir / "debootstrap-cache"
    for var in missing:
        ref = variables[var]
        rootfs = work_dir / f"rootfs-{var.lower()}"
        include = RECIPES[var]
        argv = ["debootstrap", "--variant=minbase", f"--cache-dir={cache}"]
        if include:
            argv.append("--include=" + ",".join(include))
        argv += [SUITE, str(rootfs), mirror()]
        plan.add(Step(("rm", "-rf", str(rootfs)), note="start from an empty root"))
        plan.add(Step(("mkdir", "-p", str(cache))))
        plan.add(Step(tuple(argv)))
        plan.add(
            Step(
                ("tar", "-C", str(rootfs), "--numeric-owner", "-c", "."),
                pipe_to=(engine, "import", "--change", 'CMD ["bash"]', "-", ref),
            )
        )
        plan.add(Step(("rm", "-rf", str(rootfs))))
    return plan
