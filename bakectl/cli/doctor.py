"""bakectl doctor: what works, and what to do about what does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from bakectl.cli.common import Registry


def _cmd(argv: list[str]) -> tuple[bool, str]:
    if shutil.which(argv[0]) is None:
        return False, f"{argv[0]} not installed"
    from bakectl.engine.plan import Step, run_process

    res = run_process(Step(tuple(argv), mutates=False), timeout=30)
    if res.timed_out:
        return False, "timed out"
    out = (res.stdout or res.stderr).strip().splitlines()
    return res.returncode == 0, out[0] if out else ""


def doctor(
    registry: Registry = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON on stdout (nothing else there).")
    ] = False,
) -> None:
    """Check the engine, buildx, the builder, podman, base images and the registry."""
    import urllib.request

    from bakectl.catalog import find_root
    from bakectl.catalog.naming import registry_host
    from bakectl.engine.bootstrap import RECIPES
    from bakectl.render import variables

    checks: list[tuple[str, bool, str, str]] = []
    ok, out = _cmd(["docker", "version", "--format", "{{.Server.Version}}"])
    checks.append(("docker engine", ok, out, "make setup  (or start Docker Desktop / dockerd)"))
    engine_ok = ok
    ok, out = _cmd(["docker", "buildx", "version"])
    checks.append(("buildx plugin", ok, out, "install docker-buildx (make setup does)"))
    if engine_ok and ok:
        try:
            from bakectl.engine.docker import whales

            b = whales().buildx.inspect()
            checks.append(("builder", True, f"{b.name} (driver {b.driver})", ""))
        except Exception as exc:  # noqa: BLE001 - report, do not crash
            checks.append(("builder", False, str(exc).splitlines()[0], "docker buildx use default"))
    ok, out = _cmd(["podman", "--version"])
    checks.append(("podman (fallback)", ok, out, "apt-get install podman (make setup does)"))
    ok, out = _cmd(["debootstrap", "--version"])
    checks.append(("debootstrap", ok, out or "present", "apt-get install debootstrap"))
    try:
        values = variables.resolve(find_root(), {"REGISTRY": registry})
    except Exception as exc:  # noqa: BLE001
        checks.append(("catalog", False, str(exc), "run inside a bakectl checkout"))
        values = variables.resolve(Path.cwd(), {"REGISTRY": registry})
    if engine_ok:
        from bakectl.engine.docker import present_among

        present = present_among([values[var] for var in RECIPES])
        for var in RECIPES:
            ok = values[var] in present
            checks.append(
                (
                    f"base {values[var]}",
                    ok,
                    "present" if ok else "missing",
                    "bakectl images bootstrap  (or docker pull)",
                )
            )
    reg = values["REGISTRY"]
    host = registry_host(reg)
    if host is not None:
        scheme = "http" if host.startswith(("127.", "localhost")) else "https"
        try:
            with urllib.request.urlopen(f"{scheme}://{host}/v2/", timeout=5) as resp:
                checks.append(("registry " + host, True, f"HTTP {resp.status}", ""))
        except urllib.error.HTTPError as exc:  # 401 still means it answers
            checks.append(
                ("registry " + host, exc.code == 401, f"HTTP {exc.code}", "docker login " + host)
            )
        except OSError as exc:
            checks.append(
                (
                    "registry " + host,
                    False,
                    str(exc),
                    "check the address; start one on loopback with docker-registry",
                )
            )
    failed = sum(not ok for _, ok, _, _ in checks)
    if as_json:
        rows = [
            {"name": name, "ok": ok, "detail": detail, "fix": "" if ok else fix}
            for name, ok, detail, fix in checks
        ]
        print(json.dumps({"ok": not failed, "checks": rows}, indent=2))
        if failed:
            raise SystemExit(1)
        return
    for name, ok, detail, fix in checks:
        mark = "ok  " if ok else "FAIL"
        print(f"{mark} {name:<28} {detail}")
        if not ok:
            print(f"     fix: {fix}")
    if failed:
        raise SystemExit(1)
