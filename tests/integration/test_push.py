"""Push to a real registry on loopback, through a relay that injects faults."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.integration.conftest import bakectl
from tests.support.faulty_proxy import FaultyProxy
from tests.support.images import remove_images

pytestmark = pytest.mark.integration


def _manifest(registry: str, repo: str, tag: str) -> dict:
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def _push_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("$ docker push")]


def test_push_retries_transient_failures(engine, registry):
    host, port = registry.split(":")
    proxy = FaultyProxy((host, int(port)), "reset", faults=2)
    try:
        res = bakectl(
            "push", "eval", "arith", "--agent", "nop", "--registry", f"{proxy.address}/evals"
        )
        assert proxy.injected == 2 and proxy.relayed > 0
        assert len(_push_lines(res.stderr)) >= 2, res.stderr  # retried
        assert "transient failure" in res.stderr
        pushed = [ln.split("pushed: ", 1)[1] for ln in res.stderr.splitlines() if "pushed: " in ln]
        (ref,) = pushed
        repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
        assert repo == "evals/eval/arith/nop"
        # Read back from the registry itself, not through the relay.
        manifest = _manifest(registry, repo, tag)
        assert manifest["layers"]
    finally:
        proxy.close()
        remove_images(proxy.address)


def test_push_does_not_retry_permanent_failures(engine, registry):
    host, port = registry.split(":")
    proxy = FaultyProxy((host, int(port)), "401", faults=-1)
    try:
        res = bakectl(
            "push",
            "eval",
            "arith",
            "--agent",
            "nop",
            "--registry",
            f"{proxy.address}/evals",
            check=False,
        )
        assert res.returncode == 1
        assert len(_push_lines(res.stderr)) == 1, res.stderr
        assert "transient failure" not in res.stderr
        assert "error: push failed" in res.stderr
        assert "Traceback" not in res.stderr
    finally:
        proxy.close()
        remove_images(proxy.address)


def test_push_without_registry_is_bad_input(engine):
    res = bakectl(
        "push", "eval", "arith", "--agent", "nop", check=False, env={"BAKECTL_REGISTRY": ""}
    )
    assert res.returncode == 2
    assert res.stderr.startswith("error: push needs a registry")
