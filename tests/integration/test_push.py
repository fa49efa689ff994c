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
        remove_images(proxy.address + "/")


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
        remove_images(proxy.address + "/")


def test_push_without_registry_is_bad_input(engine):
    res = bakectl(
        "push", "eval", "arith", "--agent", "nop", check=False, env={"BAKECTL_REGISTRY": ""}
    )
    assert res.returncode == 2
    assert res.stderr.startswith("error: push needs a registry")


def _image_id(ref: str) -> str:
    import subprocess

    return subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_pushing_a_tested_image_tags_it_and_builds_nothing(engine, registry):
    import uuid

    local = f"itest-{uuid.uuid4().hex[:8]}"
    try:
        built = bakectl("build", "eval", "arith", "--agent", "nop", env={"REGISTRY": local})
        (tested,) = [
            ln.split("built: ", 1)[1] for ln in built.stderr.splitlines() if "built: " in ln
        ]
        res = bakectl(
            "push",
            "eval",
            "arith",
            "--agent",
            "nop",
            "--registry",
            f"{registry}/evals",
            env={"REGISTRY": local},
        )
        assert "docker buildx bake" not in res.stderr and "podman build" not in res.stderr
        ref = f"{registry}/evals/{tested.split('/', 1)[1]}"  # same path and content tag
        assert f"$ docker tag {tested} {ref}" in res.stderr
        assert _image_id(ref) == _image_id(tested)
        repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
        # The registry serves the tested image: its config digest is the local image ID.
        assert _manifest(registry, repo, tag)["config"]["digest"] == _image_id(tested)
    finally:
        remove_images(local + "/")
        remove_images(registry + "/")


def test_bad_namespace_is_bad_input_for_every_command(engine):
    bad = {"BAKECTL_REGISTRY": "127.0.0.1:5000/Evals"}
    for argv in (
        ["build", "eval", "arith", "--agent", "nop"],
        ["list", "benchmarks"],
        ["validate"],
    ):
        res = bakectl(*argv, check=False, env=bad)
        assert res.returncode == 2, (argv, res.stderr)
        assert res.stderr.startswith("error: invalid image namespace '127.0.0.1:5000/Evals'")
        assert "hint: " in res.stderr and "Traceback" not in res.stderr
