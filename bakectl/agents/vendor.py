"""The vendor cache: registry packages fetched on the host, content-addressed, verified.

    <root>/sha256/<hex>                          every fetched file, named by its hash
    <root>/sets/<agent>/<version>/manifest.json  what one agent version needs, with hashes
    <root>/sets/<agent>/<version>/files/<name>   hard links to those blobs: a build context

`<root>` is $BAKECTL_VENDOR_DIR or `<catalog>/.bakectl/vendor` (kept out of git). Packages are
fetched with the registries' own clients (`npm pack`, `pip download`), which check each
registry's integrity data; the cache then keeps a sha256 of every file, and a set that no
longer matches its manifest is refused (exit 2) before any build reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bakectl.agents.plan import PIP_SPEC, InstallPlan, Package
from bakectl.engine.plan import ProcessResult, Step, run_process
from bakectl.errors import BakectlError, UsageError

MANIFEST = "manifest.json"
MANIFEST_KIND = "bakectl.vendor-set"
MANIFEST_VERSION = 1
_VERIFIED = ".verified"  # a stamp: the set's files as they were when last hashed
# Where the wheels run: the agent image's build stage (Debian's python3, x86_64 glibc).
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def vendor_root(catalog_root: Path) -> Path:
    env = os.environ.get("BAKECTL_VENDOR_DIR")
    return Path(env).resolve() if env else catalog_root / ".bakectl" / "vendor"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class VendorSet:
    """One agent version's verified files."""

    dir: Path
    manifest: dict

    @property
    def files_dir(self) -> Path:
        return self.dir / "files"

    @property
    def digest(self) -> str:
        """What the set holds, as one hash: the agent image's tag depends on it."""
        canon = json.dumps(self.manifest["files"], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def file_of(self) -> dict[str, str]:
        """package spec -> file name, for the packages fetched one file each (npm)."""
        return {f["spec"]: f["name"] for f in self.manifest["files"] if f.get("spec")}


def set_dir(root: Path, agent: str, version: str) -> Path:
    return root / "sets" / agent / version


def _fetch_hint(agent: str, version: str) -> str:
    return f"fetch it on a machine that reaches the registries: bakectl agents fetch {agent} --agent-version {version}"


class VendorMissing(UsageError):
    """An agent version not fetched yet: a build precondition, not a descriptor error."""


def vendor_set(root: Path, plan: InstallPlan) -> VendorSet:
    """The verified set of `plan`'s agent version; UsageError when it is missing, does not
    match its hashes, or was fetched for other packages."""
    d = set_dir(root, plan.agent, plan.version)
    path = d / MANIFEST
    if not path.is_file():
        raise VendorMissing(
            f"agent {plan.agent} {plan.version} is not in the vendor cache ({d})",
            _fetch_hint(plan.agent, plan.version),
        )
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        if manifest.get("kind") != MANIFEST_KIND or manifest.get("version") != MANIFEST_VERSION:
            raise ValueError(f"not a {MANIFEST_KIND} v{MANIFEST_VERSION}")
        names = {f["name"]: f for f in files}
        wanted = sorted(p.spec for p in plan.all_packages)
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{path}: unreadable vendor manifest ({exc})", _fetch_hint(plan.agent, plan.version)
        ) from None
    if manifest.get("packages") != wanted:
        raise UsageError(
            f"{path}: fetched for {manifest.get('packages')}, agent.yaml now asks for {wanted}",
            _fetch_hint(plan.agent, plan.version),
        )
    vs = VendorSet(d, manifest)
    present = sorted(p.name for p in vs.files_dir.iterdir()) if vs.files_dir.is_dir() else []
    if present != sorted(names):
        extra = sorted(set(present) - set(names))
        missing = sorted(set(names) - set(present))
        raise UsageError(
            f"vendor cache {d} does not match its manifest "
            f"(missing {missing[:3]}, unlisted {extra[:3]})",
            f"remove {d} and {_fetch_hint(plan.agent, plan.version)}",
        )
    stamp = d / _VERIFIED
    state = json.dumps(
        [
            [n, *(lambda s: (s.st_size, s.st_mtime_ns, s.st_ino))((vs.files_dir / n).stat())]
            for n in sorted(names)
        ]
    )
    if stamp.is_file() and stamp.read_text() == state:
        return vs  # unchanged since its hashes were last checked
    for name, entry in sorted(names.items()):
        got = _sha256(vs.files_dir / name)
        if got != entry["sha256"]:
            raise UsageError(
                f"vendor cache {d}: files/{name} has sha256 {got[:16]}..., its manifest says "
                f"{entry['sha256'][:16]}...",
                f"the cache was altered or damaged; remove {d} and {_fetch_hint(plan.agent, plan.version)}",
            )
    try:
        stamp.write_text(state)
    except OSError:
        pass  # a read-only carried cache: verified again next time
    return vs


# -- fetching ------------------------------------------------------------------------------


def _npm_pack(packages: list[Package], dest: Path) -> Step:
    return Step(
        ("npm", "pack", *(p.spec for p in packages), "--pack-destination", str(dest), "--json")
    )


def _pip_download(plan: InstallPlan, dest: Path) -> Step:
    plat = [a for p in WHEEL_PLATFORMS for a in ("--platform", p)]
    py = plan.python
    return Step(
        (
            sys.executable, "-m", "pip", "download", "--quiet", "--no-cache-dir",
            "--only-binary=:all:", *plat, "--python-version", py, "--implementation", "cp",
            "--dest", str(dest), *(p.spec for p in plan.packages), PIP_SPEC,
        )
    )  # fmt: skip


def fetch_steps(plan: InstallPlan, tmp: Path) -> list[Step]:
    """The registry commands that fetch `plan`'s packages into `tmp`."""
    npm = [p for p in plan.all_packages if p.registry == "npm"]
    steps = [_npm_pack(npm, tmp)] if npm else []
    if any(p.registry == "pypi" for p in plan.packages):
        steps.append(_pip_download(plan, tmp))
    return steps


def _run(step: Step, echo: TextIO | None) -> ProcessResult:
    if echo is not None:
        print(f"$ {step.shell()}", file=echo, flush=True)
    if shutil.which(step.argv[0]) is None:
        raise UsageError(
            f"{step.argv[0]} is not installed; fetching this agent needs it",
            "install npm (Debian: apt-get install npm) and try again",
        )
    return run_process(step)


def check_exists(pkg: Package, echo: TextIO | None) -> None:
    """UsageError when the registry has no such version (a typo, an unpublished release)."""
    if pkg.registry == "npm":
        res = _run(Step(("npm", "view", pkg.spec, "version", "--json"), mutates=False), echo)
        found = res.returncode == 0 and res.stdout.strip() not in ("", "[]")
        offline = res.returncode != 0 and "E404" not in res.stderr + res.stdout
    else:
        step = Step(
            (
                sys.executable,
                "-m",
                "pip",
                "index",
                "versions",
                pkg.name,
                "--disable-pip-version-check",
            ),
            mutates=False,
        )
        res = _run(step, echo)
        m = re.search(r"Available versions:\s*(.*)", res.stdout)
        versions = [v.strip() for v in m.group(1).split(",")] if m else []
        found = pkg.version in versions
        offline = res.returncode != 0 and "No matching distribution" not in res.stderr
    if offline:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise BakectlError(
            f"cannot ask the {pkg.registry} registry about {pkg.spec}: {last}",
            "fetching needs the registry; on an air-gapped machine, carry a fetched vendor cache "
            "(.bakectl/vendor) over instead",
        )
    if not found:
        raise UsageError(
            f"{pkg.registry} has no {pkg.spec}",
            f"check the version: {'npm view ' + pkg.name + ' versions' if pkg.registry == 'npm' else 'pip index versions ' + pkg.name}",
        )


def fetch(
    plan: InstallPlan,
    root: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    echo: TextIO | None = sys.stderr,
) -> VendorSet | None:
    """Fetch `plan`'s packages into the cache (nothing when the set is there and verifies).
    Under dry_run, print the commands and fetch nothing. Returns the set (None on dry_run)."""
    d = set_dir(root, plan.agent, plan.version)
    if not force and (d / MANIFEST).is_file():
        try:
            vs = vendor_set(root, plan)
            if echo is not None:
                print(f"# {plan.agent} {plan.version}: already in {d}", file=echo)
            return vs
        except UsageError:
            pass  # refetch what does not verify
    tmp = root / "tmp" / f"{plan.agent}-{plan.version}-{os.getpid()}"
    if dry_run:
        for step in fetch_steps(plan, tmp):
            print(f"$ {step.shell()}", file=echo or sys.stdout)
        return None
    for pkg in plan.all_packages:
        check_exists(pkg, echo)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        specs: dict[str, str] = {}
        for step in fetch_steps(plan, tmp):
            res = _run(step, echo)
            if res.returncode != 0:
                tail = "\n".join(res.stderr.strip().splitlines()[-5:])
                raise BakectlError(
                    f"{step.argv[0]} {step.argv[1]} failed for {plan.agent} {plan.version}:\n{tail}",
                    "see the command above; rerun it by hand to see all of its output",
                )
            if step.argv[:2] == ("npm", "pack"):
                for entry in json.loads(res.stdout):
                    specs[entry["filename"]] = _spec_for(entry, plan)
        return _commit(plan, root, tmp, d, specs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _spec_for(entry: dict, plan: InstallPlan) -> str:
    """The plan's spec an `npm pack --json` entry answers (its id is name@version)."""
    for p in plan.all_packages:
        if p.registry == "npm" and entry.get("id") == p.spec:
            return p.spec
    for p in plan.all_packages:
        if p.registry == "npm" and entry.get("name") == p.name:
            return p.spec
    raise BakectlError(f"npm pack answered an unexpected package {entry.get('id')!r}")


def _commit(plan: InstallPlan, root: Path, tmp: Path, d: Path, specs: dict[str, str]) -> VendorSet:
    """Move the fetched files into the blobs, link them into a new set, then swap it in."""
    blobs = root / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    staging = d.with_name(f".{d.name}.{os.getpid()}.new")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "files").mkdir(parents=True)
    files = []
    for f in sorted(tmp.iterdir()):
        digest = _sha256(f)
        blob = blobs / digest
        if not blob.exists():
            os.replace(f, blob)
        link = staging / "files" / f.name
        try:
            os.link(blob, link)
        except OSError:
            shutil.copyfile(blob, link)  # another filesystem: a copy, hashed the same
        entry = {"name": f.name, "sha256": digest, "size": blob.stat().st_size}
        if f.name in specs:
            entry["spec"] = specs[f.name]
        files.append(entry)
    manifest = {
        "kind": MANIFEST_KIND,
        "version": MANIFEST_VERSION,
        "agent": plan.agent,
        "agent_version": plan.version,
        "runtime": plan.runtime,
        "packages": sorted(p.spec for p in plan.all_packages),
        "files": files,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if d.exists():
        shutil.rmtree(d)
    d.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, d)
    return VendorSet(d, manifest)
