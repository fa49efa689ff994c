"""bakectl doctor against the real engine and a real (or absent) loopback registry."""

from __future__ import annotations

import pytest

from tests.integration.conftest import bakectl, free_port

pytestmark = pytest.mark.integration


def test_doctor_reports_a_working_setup(engine, registry):
    res = bakectl("doctor", "--registry", f"{registry}/evals")
    lines = res.stdout.splitlines()
    for name in (
        "docker engine",
        "buildx plugin",
        "builder",
        "podman (fallback)",
        "debootstrap",
        f"registry {registry}",
    ):
        assert any(ln.startswith("ok   " + name) for ln in lines), res.stdout
    assert "driver docker" in res.stdout


def test_doctor_says_what_to_do_about_an_unreachable_registry(engine):
    dead = f"127.0.0.1:{free_port()}"
    res = bakectl("doctor", "--registry", f"{dead}/evals", check=False)
    assert res.returncode == 1
    assert f"FAIL registry {dead}" in res.stdout
    assert "fix: " in res.stdout
    assert "Traceback" not in res.stderr


def test_doctor_json_is_the_checks_alone(engine):
    import json

    dead = f"127.0.0.1:{free_port()}"
    res = bakectl("doctor", "--registry", f"{dead}/evals", "--json", check=False)
    assert res.returncode == 1
    data = json.loads(res.stdout)  # nothing but the JSON on stdout
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ok"] is False
    assert checks["docker engine"]["ok"] and checks["docker engine"]["fix"] == ""
    assert not checks[f"registry {dead}"]["ok"] and checks[f"registry {dead}"]["fix"]
