"""Multi-platform images and attestations, for real, on a dockerd of the test's own.

The main dockerd uses the classic image store, where the docker driver can hold neither
an index nor attestations (bakectl refuses them there before building: test_release).
This test starts a second dockerd with the containerd image store
(`"features": {"containerd-snapshotter": true}`) on its own socket, data root, exec
root, pidfile and bridge (a bridge interface of its own, no iptables), seeds it with
the bootstrapped debian:bookworm-slim from the main daemon (`docker save | docker
load`: nothing can be pulled), and releases through it (DOCKER_HOST) to a loopback
registry: two platforms, provenance and an SBOM.

This machine has no QEMU/binfmt_misc, so linux/arm64 cannot be built; the two
platforms are the ones the builder lists natively (linux/amd64 and linux/amd64/v2),
which is a real multi-platform index all the same (docs/multi-arch.md says what an
arm64 build needs). The SBOM generator BuildKit uses by default
(docker/buildkit-syft-scanner) cannot be pulled either: the test builds a small
generator that follows BuildKit's SBOM protocol (the Debian packages of the scanned
root filesystem, as SPDX) and passes it as `--sbom generator=...`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import _need, bakectl

pytestmark = pytest.mark.integration

SCANNER = "bakectl-itest/sbom-scanner:1"
PLATFORMS = ["linux/amd64", "linux/amd64/v2"]
ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"

# BuildKit's SBOM protocol: scan $BUILDKIT_SCAN_SOURCE, write an in-toto statement with
# an SPDX predicate to $BUILDKIT_SCAN_DESTINATION/<name>.spdx.json.
SCAN_SH = r"""#!/bin/sh
set -eu
src="$BUILDKIT_SCAN_SOURCE"
name=$(basename "$src")
pkgs=$(awk -F': ' '/^Package: /{p=$2} /^Version: /{printf "%s{\"SPDXID\":\"SPDXRef-Package-%s\",\"name\":\"%s\",\"versionInfo\":\"%s\",\"downloadLocation\":\"NOASSERTION\"}", sep, p, p, $2; sep=","}' "$src/var/lib/dpkg/status")
printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"%s","documentNamespace":"https://bakectl.invalid/sbom/%s","creationInfo":{"created":"1970-01-01T00:00:00Z","creators":["Tool: bakectl-itest-dpkg-scanner"]},"packages":[%s]}}\n' "$name" "$name" "$pkgs" > "$BUILDKIT_SCAN_DESTINATION/$name.spdx.json"
"""


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def _free_subnet() -> str:
    used = _run(["ip", "-4", "-o", "addr"]).stdout + _run(["ip", "-4", "route"]).stdout
    for _ in range(50):
        third = random.randrange(1, 255)
        if f"10.213.{third}." not in used:
            return f"10.213.{third}.1/24"
    raise RuntimeError("no free 10.213.x.0/24 subnet for the test's bridge")


def _unmount_under(top: Path) -> None:
    """Mounts the daemon left under its own directories (none when it stopped cleanly)."""
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in sorted((p for p in points if p.startswith(str(top))), reverse=True):
        _run(["umount", "-l", point])


class OwnDockerd:
    """A dockerd of the test's own (containerd image store); never the main one."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bkcd-", dir="/tmp"))  # short: socket path
        self.bridge = f"bkcd{uuid.uuid4().hex[:6]}"
        self.sock = self.dir / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def docker(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return _run(["docker", *args], env={**os.environ, **self.env}, **kw)

    def start(self) -> None:
        (self.dir / "daemon.json").write_text(
            json.dumps({"features": {"containerd-snapshotter": True}})
        )
        for argv in (
            ["ip", "link", "add", "name", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", _free_subnet(), "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            res = _run(argv)
            assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr}"
        log = (self.dir / "dockerd.log").open("w")
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--config-file", str(self.dir / "daemon.json"),
                "-H", self.host,
                "--data-root", str(self.dir / "data"),
                "--exec-root", str(self.dir / "exec"),
                "--pidfile", str(self.dir / "docker.pid"),
                "--bridge", self.bridge,
                "--iptables=false",
                "--ip6tables=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {(self.dir / 'dockerd.log').read_text()}")
            if self.docker("version").returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError(f"dockerd did not answer: {(self.dir / 'dockerd.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own process, by its handle
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        _run(["ip", "link", "delete", self.bridge])
        _unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def own_dockerd(engine):
    _need(os.geteuid() == 0, "root (to start a dockerd of the test's own)")
    _need(shutil.which("dockerd") is not None, "the dockerd binary")
    _need(shutil.which("ip") is not None, "iproute2 (the test dockerd's own bridge)")
    d = OwnDockerd()
    try:
        d.start()
        status = d.docker("info", "--format", "{{json .DriverStatus}}").stdout
        assert "io.containerd.snapshotter" in status, status
        save = subprocess.Popen(["docker", "save", "debian:bookworm-slim"], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "load"],
            stdin=save.stdout,
            capture_output=True,
            env={**os.environ, **d.env},
            timeout=150,
        )
        save.wait(timeout=30)
        assert load.returncode == 0 and save.returncode == 0, load.stderr
        scanner = d.dir / "scanner"
        scanner.mkdir()
        (scanner / "scan.sh").write_text(SCAN_SH)
        (scanner / "scan.sh").chmod(0o755)
        (scanner / "Dockerfile").write_text(
            'FROM debian:bookworm-slim\nCOPY scan.sh /scan.sh\nENTRYPOINT ["/scan.sh"]\n'
        )
        res = d.docker("buildx", "build", "-q", "-t", SCANNER, str(scanner))
        assert res.returncode == 0, res.stderr
        yield d
    finally:
        d.stop()


@pytest.fixture
def multi_catalog(tmp_path) -> Path:
    """One shared-environment benchmark on debian whose image records the platform
    it was built for."""
    root = tmp_path / "proj"
    bench = root / "containers/benchmarks/multi"
    (bench / "environment").mkdir(parents=True)
    (bench / "benchmark.yaml").write_text("name: multi\nversion: '1'\nenvironment: shared\n")
    (bench / "environment/Dockerfile").write_text(
        "ARG DEBIAN_IMAGE=debian:bookworm-slim\nFROM ${DEBIAN_IMAGE}\nARG TARGETPLATFORM\n"
        'RUN echo "$TARGETPLATFORM" > /built-for\nWORKDIR /app\n'
    )
    task = bench / "tasks/one"
    (task / "tests").mkdir(parents=True)
    (task / "task.toml").write_text("[agent]\ntimeout_sec = 60.0\n[verifier]\ntimeout_sec = 30.0\n")
    (task / "instruction.md").write_text("Nothing to do.\n")
    (task / "tests/test.sh").write_text("echo 1 > /logs/verifier/reward.txt\n")
    return root


def _get(url: str, accept: str = ACCEPT) -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def test_multi_platform_release_with_provenance_and_sbom(own_dockerd, multi_catalog, registry):
    ns = f"itest-cd-{uuid.uuid4().hex[:6]}"
    out = multi_catalog / "release.json"
    argv = [
        "release", "multi", "--only", "bench/*",
        "--registry", f"{registry}/evals", "--tag", "v1.0.0", "-o", str(out),
        "--platform", ",".join(PLATFORMS),
        "--provenance", "mode=max",
        "--sbom", f"generator={SCANNER}",
    ]  # fmt: skip
    env = {**own_dockerd.env, "BAKECTL_ROOT": str(multi_catalog), "REGISTRY": ns}
    first = bakectl(*argv, env=env, timeout=150)
    assert "--provenance mode=max" in first.stderr and f"--sbom generator={SCANNER}" in first.stderr
    (img,) = json.loads(out.read_text())["images"]
    assert img["status"] == "built" and img["platforms"] == PLATFORMS, img
    assert img["media_type"] == "application/vnd.oci.image.index.v1+json"

    # What the registry serves: the index release.json names, one image per platform
    # (each built for its own platform), and an attestation manifest for each.
    repo, tag = img["ref"].split("/", 1)[1].rsplit(":", 1)
    base = f"http://{registry}/v2/{repo}"
    index = json.loads(_get(f"{base}/manifests/{tag}"))
    with urllib.request.urlopen(
        urllib.request.Request(
            f"{base}/manifests/v1.0.0", method="HEAD", headers={"Accept": ACCEPT}
        )
    ) as resp:
        assert resp.headers["Docker-Content-Digest"] == img["digest"]  # the alias, same bytes
    by_digest = {m["digest"]: m for m in index["manifests"]}
    images = [m for m in index["manifests"] if m["platform"]["os"] != "unknown"]
    attest = [m for m in index["manifests"] if m["platform"]["os"] == "unknown"]
    assert len(images) == 2 and len(attest) == 2, index
    predicates: dict[str, set[str]] = {}
    for a in attest:
        subject = a["annotations"]["vnd.docker.reference.digest"]
        assert a["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
        assert subject in by_digest
        manifest = json.loads(_get(f"{base}/manifests/{a['digest']}"))
        for layer in manifest["layers"]:
            kind = layer["annotations"]["in-toto.io/predicate-type"]
            predicates.setdefault(subject, set()).add(kind)
            if kind == "https://spdx.dev/Document":
                sbom = json.loads(_get(f"{base}/blobs/{layer['digest']}", "*/*"))
                names = {p["name"] for p in sbom["predicate"]["packages"]}
                assert {"dpkg", "bash", "libc6"} <= names, sorted(names)[:20]
    for subject, kinds in predicates.items():
        assert "https://spdx.dev/Document" in kinds, (subject, kinds)
        assert any(k.startswith("https://slsa.dev/provenance/") for k in kinds), kinds
    for m in images:
        config = json.loads(_get(f"{base}/manifests/{m['digest']}"))["config"]["digest"]
        arch = json.loads(_get(f"{base}/blobs/{config}", "*/*"))
        want = m["platform"]
        assert (arch["architecture"], arch.get("variant")) == (
            want["architecture"],
            want.get("variant"),
        )

    # Released again, nothing changed: nothing built or pushed, the same digest.
    again = bakectl(*argv, env=env, timeout=120)
    assert not [ln for ln in again.stderr.splitlines() if ln.startswith("$ docker push")]
    (img2,) = json.loads(out.read_text())["images"]
    assert img2["status"] == "present" and img2["digest"] == img["digest"]

    # The main daemon never saw any of it.
    main = _run(["docker", "image", "ls", "--format", "{{.Repository}}"]).stdout.split()
    assert not [r for r in main if ns in r or r.startswith(registry)], main
