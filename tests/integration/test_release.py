"""bakectl release against a real registry on loopback (Debian's docker-registry),
with a fault-injecting relay in front of it for 503 and 401."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, CatalogLab, bakectl
from tests.support.faulty_proxy import FaultyProxy
from tests.support.images import remove_images

pytestmark = pytest.mark.integration

ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


@pytest.fixture(scope="module")
def lab(engine, tmp_path_factory):
    """The example catalog, cut to two per-task environments on the python base (so the
    chat agent installs nothing), its images built once under a namespace of its own:
    the tested images a release publishes."""
    root = tmp_path_factory.mktemp("release") / "proj"
    shutil.copytree(REPO / "containers", root / "containers")
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    # The built-in agents and the two example benchmarks only: the real agents need their
    # vendor caches (test_agents' room), the Harbor examples are test_run_model's.
    for agent in ("claude-code", "codex", "mini-swe-agent", "opencode", "qwen-code"):
        shutil.rmtree(root / "containers/agents" / agent, ignore_errors=True)
    for bench in ("harbor-fields", "harbor-images"):
        shutil.rmtree(root / "containers/benchmarks" / bench, ignore_errors=True)
    tasks = root / "containers/benchmarks/terminal-tasks/tasks"
    for t in ("env-greeting", "word-count"):
        shutil.rmtree(tasks / t)
    df = tasks / "hello-file/environment/Dockerfile"
    df.write_text(df.read_text().replace("DEBIAN_IMAGE", "PYTHON_IMAGE"))
    the_lab = CatalogLab(root, f"itest-rel-{uuid.uuid4().hex[:8]}")
    bakectl("build", "all", env=the_lab.env)
    bakectl("build", "bench", "arith", env=the_lab.env)
    yield the_lab
    remove_images(the_lab.namespace + "/")


def _release(lab: CatalogLab, registry: str, *args: str, out: Path, check=True, env=None):
    return bakectl(
        "release",
        *args,
        "--registry",
        f"{registry}/evals",
        "-o",
        str(out),
        env={**lab.env, **(env or {})},
        check=check,
    )


def _pushes(stderr: str) -> list[str]:
    return [ln.split()[-1] for ln in stderr.splitlines() if ln.startswith("$ docker push")]


def _served_digest(registry: str, ref: str) -> str:
    """What the registry itself serves for `ref` (asked directly, not through a relay)."""
    repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag}", method="HEAD", headers={"Accept": ACCEPT}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Docker-Content-Digest"]


def _check_against_registry(doc: dict, registry: str, via: str | None = None) -> None:
    for ref, digest in doc["refs"].items():
        assert _served_digest(registry, ref.replace(via or registry, registry, 1)) == digest, ref


def test_release_twice_then_one_task_changed(lab, registry, tmp_path):
    out = tmp_path / "release.json"
    cold = _release(lab, registry, "all", "--tag", "v1.0.0", out=out)
    doc = json.loads(out.read_text())
    assert doc["schema"] == "bakectl.release/v1" and doc["tag"] == "v1.0.0"
    refs = [img["ref"] for img in doc["images"]]
    assert sorted(_pushes(cold.stderr)) == sorted(refs)  # each content tag pushed once
    assert {img["status"] for img in doc["images"]} <= {"built", "pushed"}
    kinds = {img["kind"] for img in doc["images"]}
    assert kinds == {"bench", "task", "agent", "eval", "gateway"}
    for img in doc["images"]:
        assert img["size"] > 0 and img["image_id"].startswith("sha256:")
        assert img["labels"]["dev.bakectl.kind"] == img["kind"]
        assert img["aliases"] == [img["ref"].rsplit(":", 1)[0] + t for t in (":v1.0.0", ":latest")]
    _check_against_registry(doc, registry)
    rows = [ln for ln in (tmp_path / "release.md").read_text().splitlines() if ln.startswith("| `")]
    assert len(rows) == len(refs)

    # Nothing changed: nothing is built or pushed, no alias moves.
    again = _release(lab, registry, "all", "--tag", "v1.0.0", out=out)
    assert _pushes(again.stderr) == [] and "docker buildx bake" not in again.stderr
    second = json.loads(out.read_text())
    assert second["summary"]["pushes"] == 0 and second["summary"]["aliases_added"] == 0
    assert {img["status"] for img in second["images"]} == {"present"}
    assert second["refs"] == doc["refs"]

    # One task changes: only its base and its eval images are pushed again.
    env_dir = lab.root / "containers/benchmarks/terminal-tasks/tasks/hello-file/environment"
    (env_dir / "extra.txt").write_text("changed\n")
    df = env_dir / "Dockerfile"
    df.write_text(df.read_text() + "COPY extra.txt /app/extra.txt\n")
    try:
        changed = _release(lab, registry, "all", "--tag", "v1.0.1", out=out)
    finally:
        (env_dir / "extra.txt").unlink()
        df.write_text(df.read_text().replace("COPY extra.txt /app/extra.txt\n", ""))
    paths = sorted(ref.split("/evals/", 1)[1].rsplit(":", 1)[0] for ref in _pushes(changed.stderr))
    assert paths == [
        "eval/terminal-tasks/hello-file/chat",
        "eval/terminal-tasks/hello-file/nop",
        "eval/terminal-tasks/hello-file/oracle",
        "task/terminal-tasks/hello-file",
    ]
    third = json.loads(out.read_text())
    # The new tag points at every image, changed or not, by manifest copy; `latest`
    # moves only where the content changed.
    assert third["summary"]["aliases_added"] == len(refs) + len(paths)
    _check_against_registry(third, registry)


def test_released_digest_is_the_image_a_replayed_run_used(lab, registry, tmp_path):
    res = bakectl(
        "run",
        "arith",
        "--agent",
        "chat",
        "--task-id",
        "1",
        "--replay",
        str(REPO / "tests/fixtures/arith/1-chat"),
        "--out",
        str(tmp_path / "runs"),
        env=lab.env,
    )
    run_json = next((tmp_path / "runs").rglob("run.json"))
    used = json.loads(run_json.read_text())["images"]["eval"]
    assert json.loads((run_json.parent / "result.json").read_text())["status"] == "passed", res
    out = tmp_path / "release.json"
    _release(lab, registry, "arith", "--only", "eval/arith/chat", out=out)
    (img,) = json.loads(out.read_text())["images"]
    assert img["ref"].split("/evals/", 1)[1] == used["ref"].split("/", 1)[1]
    # The registry's image (its config digest) is the very image the run used.
    assert img["image_id"] == used["id"]
    assert img["status"] == "pushed"  # tagged from the tested image, not rebuilt


def test_registry_503_mid_release_is_retried(lab, registry, tmp_path):
    host, port = registry.split(":")
    only = ("--only", "bench/arith,eval/arith/nop,agent/nop")
    # At the registry API (bakectl's own client): retried, announced, never after the last.
    proxy = FaultyProxy((host, int(port)), "503", faults=2)
    try:
        out = tmp_path / "release.json"
        res = _release(lab, proxy.address, "arith", *only, out=out)
        assert proxy.injected == 2
        assert res.stderr.count(f"registry {proxy.address}: GET ") == 2, res.stderr
        assert "retrying (1/4)" in res.stderr and "retrying (2/4)" in res.stderr
        _check_against_registry(json.loads(out.read_text()), registry, via=proxy.address)
    finally:
        proxy.close()
        remove_images(proxy.address + "/")
    # In the middle of the pushes (docker push, or its layer uploads, retry): finished.
    proxy = FaultyProxy((host, int(port)), "503", faults=3, after=6)
    try:
        out = tmp_path / "release2.json"
        _release(lab, proxy.address, "arith", *only, "--republish", out=out)
        assert proxy.injected == 3
        doc = json.loads(out.read_text())
        assert len(doc["images"]) == 3
        _check_against_registry(doc, registry, via=proxy.address)
    finally:
        proxy.close()
        remove_images(proxy.address + "/")


def test_registry_401_stops_and_names_the_credential(lab, registry, tmp_path):
    host, port = registry.split(":")
    proxy = FaultyProxy((host, int(port)), "401", faults=-1)
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text("{}")
    try:
        out = tmp_path / "release.json"
        res = _release(
            lab, proxy.address, "all", out=out, check=False, env={"DOCKER_CONFIG": str(config)}
        )
        assert res.returncode == 1, res.stderr
        err = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
        assert len(err) == 1 and "401 Unauthorized" in err[0], res.stderr
        assert f"{config / 'config.json'} has none for {proxy.address}" in err[0]
        assert f"docker login {proxy.address}" in res.stderr
        assert _pushes(res.stderr) == [] and "retrying" not in res.stderr
        assert not out.exists() and "Traceback" not in res.stderr
    finally:
        proxy.close()


def test_release_killed_mid_push_is_finished_by_a_rerun(lab, registry, tmp_path):
    out = tmp_path / "release.json"
    argv = [sys.executable, "-m", "bakectl.cli.main", "release", "all"]
    argv += ["--registry", f"{registry}/evals", "-o", str(out)]
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env={**os.environ, **lab.env},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its docker push children die with it
    )
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if (
            line.startswith("$ docker push")
            and sum(ln.startswith("$ docker push") for ln in seen) == 3
        ):
            time.sleep(0.3)  # in the middle of that upload
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert not out.exists()  # nothing half-written

    rerun = _release(lab, registry, "all", out=out)
    doc = json.loads(out.read_text())
    statuses = {img["status"] for img in doc["images"]}
    assert "present" in statuses and ("pushed" in statuses or "built" in statuses)
    assert len(_pushes(rerun.stderr)) < len(doc["images"])
    _check_against_registry(doc, registry)
    assert _pushes(_release(lab, registry, "all", out=out).stderr) == []


@pytest.mark.parametrize(
    "args, what",
    [
        (["--registry", "evals"], "not a registry address"),
        (["--registry", "127.0.0.1:5000/Evals"], "invalid image namespace"),
        (["--registry", "127.0.0.1:5000/e", "--shard", "3/2"], "--shard '3/2'"),
        (["--registry", "127.0.0.1:5000/e", "--shard", "0/4"], "--shard '0/4'"),
        (["--registry", "127.0.0.1:5000/e", "--tag", "v1/2"], "--tag 'v1/2'"),
        (["--registry", "127.0.0.1:5000/e", "--platform", "linux/s390x"], "--platform linux/s390x"),
        # The main dockerd is on the classic image store (scripts/setup-engine.sh): the
        # docker driver can hold neither an index nor attestations there, so bakectl says
        # so before building (test_containerd_store builds them on a daemon that can).
        (
            ["--registry", "127.0.0.1:5000/e", "--platform", "linux/amd64,linux/386"],
            "on the classic image store, which cannot hold a multi-platform image",
        ),
        (
            ["--registry", "127.0.0.1:5000/e", "--provenance", "mode=max"],
            "--provenance: builder 'default' is the docker driver on the classic image store",
        ),
        (
            ["--registry", "127.0.0.1:5000/e", "--sbom", "true"],
            "--sbom: builder 'default' is the docker driver on the classic image store",
        ),
        (["--registry", "127.0.0.1:5000/e", "--set", "nope.args.X=1"], "no target in this build"),
        (["--registry", "127.0.0.1:5000/e", "--only", "eval/nothing*"], "matches no image"),
    ],
)
def test_bad_release_input(lab, tmp_path, args, what):
    out = str(tmp_path / "r.json")
    res = bakectl("release", "all", *args, "-o", out, check=False, env=lab.env)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert lines[0].startswith("error: ") and what in lines[0], res.stderr
    assert lines[1].startswith("hint: ") and len(lines) == 2, res.stderr
    assert not (tmp_path / "r.json").exists()


def test_release_plan_shards_cover_the_matrix_once(lab):
    doc = json.loads(bakectl("release", "plan", "--json", "--shards", "3", env=lab.env).stdout)
    assert doc["matrix"]["shard"] == ["1/3", "2/3", "3/3"]
    targets = [img["target"] for img in doc["images"]]
    assert len(targets) == len(set(targets)) and "gateway" in targets
    by_shard = {}
    for img in doc["images"]:
        by_shard.setdefault(img["shard"], []).append(img["target"])
    assert sorted(sum(by_shard.values(), [])) == sorted(targets)
    sizes = [len(v) for v in by_shard.values()]
    assert max(sizes) - min(sizes) <= 1
