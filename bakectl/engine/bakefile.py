"""Bake any project: `docker buildx bake` with the podman fallback, for bake files
bakectl did not write.

The same path as bakectl's own builds: `bake --print` for the given files and
targets is the definition; bake builds it, and when the builder cannot start (or
with --engine podman) the podman steps are derived from that print. Paths in the
print are relative to the directory bake ran in, so every step runs there.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bakectl.engine import classify
from bakectl.engine.plan import Plan, Step, StepResult, print_plan, run_step
from bakectl.errors import BuildError, UsageError

# Attributes buildx accepts in a bake file but leaves out of `--print` (measured on
# buildx 0.13.1): a translation of the print cannot see them.
PRINT_DROPS = ("network", "call", "entitlements")


def info(msg: str) -> None:
    print(f"bakectl: {msg}", file=sys.stderr, flush=True)


@dataclass
class BakeOptions:
    files: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    engine: str = "auto"
    dry_run: bool = False
    progress: str | None = None


def _argv(o: BakeOptions, *flags: str) -> tuple[str, ...]:
    argv = ["docker", "buildx", "bake"]
    for f in o.files:
        argv += ["-f", f]
    argv += list(flags)
    for s in o.sets:
        argv += ["--set", s]
    return (*argv, *o.targets)


def buildx_version() -> str:
    from bakectl.engine.docker import _run

    res = _run(["docker", "buildx", "version"])
    m = re.search(r"\bv?(\d+\.\d+\.\d+)", res.stdout)
    return m.group(1) if m else "unknown"


def read_print(o: BakeOptions, cwd: Path) -> dict:
    """`bake --print`: a file that does not parse is bad input, with bake's own message
    (it names the file and line)."""
    from bakectl.engine.podman import load_print

    step = Step(_argv(o, "--print"), mutates=False)
    res = run_step(step, capture_stdout=True, quiet=True, cwd=cwd)
    if res.returncode != 0:
        lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
        err = next((ln for ln in reversed(lines) if ln.startswith("ERROR:")), None)
        if classify.engine_down(res.stderr) or err is None:
            raise BuildError(
                "docker buildx bake --print failed: " + (lines[-1] if lines else "no output"),
                "check that the docker CLI and its buildx plugin work ('bakectl doctor')",
            )
        raise UsageError(
            "bake cannot read the definition: " + err.removeprefix("ERROR:").strip(),
            "fix the bake file at that line; 'docker buildx bake --print' shows what it reads",
        )
    return load_print(res.stdout)


def dropped_attributes(o: BakeOptions, cwd: Path, printed: dict) -> list[str]:
    """Warnings for attributes the raw bake files set that `--print` left out."""
    files = o.files or [
        f
        for f in ("docker-bake.json", "docker-bake.hcl", "docker-bake.override.hcl")
        if (cwd / f).is_file()
    ]
    printed_keys = {k for spec in printed.get("target", {}).values() for k in spec}
    out = []
    version = None
    for f in files:
        try:
            text = (cwd / f).read_text()
        except OSError:
            continue
        for attr in PRINT_DROPS:
            if attr in printed_keys:
                continue
            pat = re.compile(rf'^\s*"?{re.escape(attr)}"?\s*[=:]', re.M)
            m = pat.search(text)
            if m:
                version = version or buildx_version()
                line = text.count("\n", 0, m.start()) + 1
                out.append(
                    f"{f}:{line}: '{attr}' is set, but buildx {version} leaves it out of "
                    "'bake --print', so the podman fallback cannot see or apply it"
                )
    return out


def bake(o: BakeOptions, cwd: Path) -> None:
    from bakectl.engine.podman import translate

    printed = read_print(o, cwd)
    tr = translate(printed, o.targets or None, cwd=cwd)
    warnings = dropped_attributes(o, cwd, printed) + tr.warnings
    flags = ["--progress", o.progress] if o.progress else []
    step = Step(_argv(o, *flags))
    fallback = list(tr.steps)
    if o.dry_run:
        for w in warnings:
            print(f"# warning: {w}")
        plan = Plan(fallback) if o.engine == "podman" else Plan([step])
        if o.engine != "podman":
            plan.fallback = fallback
            plan.fallback_reason = "the builder cannot start"
        print_plan(plan)
        return
    if o.engine != "podman":
        res = run_step(step, cwd=cwd, tty=o.progress in (None, "auto", "tty"))
        if res.returncode == 0:
            return
        if o.engine == "bake" or not classify.builder_cannot_boot(res.stderr):
            raise BuildError(
                f"docker buildx bake failed (exit {res.returncode}); its error is above",
                "fix the Dockerfile or build input it names; rerun the printed command by hand",
            )
        info(
            "the buildx builder could not start; falling back to podman build, derived from bake --print"
        )
    for w in warnings:
        info(f"warning: {w}")
    for s in fallback:
        r: StepResult = run_step(s, cwd=cwd)
        if r.returncode != 0:
            raise BuildError(
                f"podman fallback failed at: {s.shell()}", "its error is printed above"
            )
