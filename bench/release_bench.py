"""Release and large-graph figures (printed, not asserted).

  python3 bench/release_bench.py catalog   # the example catalog released to a loopback
                                           # registry: cold, then again with nothing changed
  python3 bench/release_bench.py tested    # pushing an already-tested image: tag + upload only
  python3 bench/release_bench.py graph [TASKS]   # cold build of a per-task benchmark of
                                           # TASKS tasks x 2 agents (default 100: 302 targets)
                                           # in one command, against 48 tasks (146 targets)

Each part uses namespaces and a registry of its own and removes what it built.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import BAKECTL, REPO, generate_catalog  # noqa: E402
from tests.support.images import remove_images  # noqa: E402

LAST_CPU = [0.0]  # user+sys seconds of the last run(): what the load average does not stretch


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            argv, env={**os.environ, **(env or {})}, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        err.seek(0)
        stderr = err.read()
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}):\n{stderr[-4000:]}")
    return elapsed, stderr


class LoopbackRegistry:
    """Debian's docker-registry on a free loopback port, data in a temporary directory."""

    def __enter__(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="bakectl-bench-registry-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cfg = self.dir / "config.yml"
        cfg.write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.dir / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        binary = shutil.which("docker-registry")
        if binary is None:
            raise SystemExit("docker-registry is not installed (make setup)")
        self.proc = subprocess.Popen(
            [binary, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.address = f"127.0.0.1:{port}"
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        return self.address

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def docker_calls(stderr: str) -> int:
    return sum(1 for ln in stderr.splitlines() if ln.startswith("$ docker"))


def pushes(stderr: str) -> int:
    return sum(1 for ln in stderr.splitlines() if ln.startswith("$ docker push"))


def example_catalog(root: Path) -> list[str]:
    """A copy of the example catalog without the real agents whose vendor cache this
    machine lacks (they cannot be built offline); returns the agents left out."""
    shutil.copytree(REPO / "containers", root / "containers")
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    sets = Path(os.environ.get("BAKECTL_VENDOR_DIR") or REPO / ".bakectl/vendor") / "sets"
    dropped = []
    for agent in sorted((root / "containers/agents").iterdir()):
        vendored = "\ninstall:" in (agent / "agent.yaml").read_text()
        if vendored and not (sets / agent.name).is_dir():
            shutil.rmtree(agent)
            dropped.append(agent.name)
    return dropped


def bench_catalog() -> None:
    local = f"bench-rel-{uuid.uuid4().hex[:6]}"
    with LoopbackRegistry() as reg, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "release.json"
        dropped = example_catalog(Path(tmp) / "proj")
        if dropped:
            print(f"(agents without a vendor cache here, left out: {', '.join(dropped)})")
        env = {"REGISTRY": local, "BAKECTL_ROOT": str(Path(tmp) / "proj")}
        argv = [*BAKECTL, "release", "all", "--registry", f"{reg}/evals", "-o", str(out)]
        try:
            cold, err = run([*argv, "--tag", "v1.0.0"], env)
            doc = json.loads(out.read_text())
            s = doc["summary"]
            print(
                f"release cold (example catalog, {len(doc['images'])} images): {cold:6.1f} s  "
                f"{s['built']} built, {s['pushed']} tagged+pushed, {pushes(err)} docker push"
            )
            warm = []
            for _ in range(3):
                t, err = run([*argv, "--tag", "v1.0.0"], env)
                summary = json.loads(out.read_text())["summary"]
                warm.append((t, LAST_CPU[0], pushes(err), summary, docker_calls(err)))
            best = sorted(warm)[1]
            print(
                f"release again, nothing changed (median of 3): {best[0]:6.2f} s "
                f"(cpu {best[1]:.2f} s, load {os.getloadavg()[0]:.1f})  {best[2]} docker push, "
                f"{best[4]} docker commands, {best[3]['aliases_added']} aliases moved "
                f"(target: 0 pushes, < 3 s)   ratio cold/warm {cold / best[0]:.0f}x"
            )
        finally:
            remove_images(local + "/")
            remove_images(reg + "/")


def bench_tested() -> None:
    local = f"bench-rel-{uuid.uuid4().hex[:6]}"
    with LoopbackRegistry() as reg:
        try:
            build, _ = run(
                [*BAKECTL, "build", "eval", "arith", "--agent", "oracle"], {"REGISTRY": local}
            )
            t, err = run(
                [*BAKECTL, "push", "eval", "arith", "--agent", "oracle", "--registry", f"{reg}/e"],
                {"REGISTRY": local},
            )
            bakes = sum(
                1 for ln in err.splitlines() if "docker buildx bake" in ln and ln.startswith("$")
            )
            up = [ln for ln in err.splitlines() if ln.startswith("$ docker push")]
            print(
                f"push an already-tested image: {t:5.1f} s  (bake steps: {bakes}; "
                f"{len(up)} docker push; the build before it took {build:5.1f} s)"
            )
        finally:
            remove_images(local + "/")
            remove_images(reg + "/")


def bench_graph(tasks: int) -> None:
    results = []
    for n in (48, tasks):
        local = f"bench-graph-{uuid.uuid4().hex[:6]}"
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "proj"
            generate_catalog(root, 1, n)
            env = {"BAKECTL_ROOT": str(root), "REGISTRY": local}
            argv = [*BAKECTL, "build", "all", "--agent", "nop", "--agent", "oracle"]
            try:
                t, err = run(argv, env)
            finally:
                remove_images(local + "/")
            targets = n + 2 + 2 * n
            retried = err.count("BuildKit session error")
            results.append((n, targets, t, retried))
            print(
                f"cold build, {n} tasks x 2 agents ({targets} targets, one command): "
                f"{t:7.1f} s  {t / targets * 1000:6.0f} ms/target  session retries: {retried}",
                flush=True,
            )
    (n0, k0, t0, _), (n1, k1, t1, _) = results
    print(
        f"cost per target, {k1} vs {k0} targets: {t1 / k1 * 1000:.0f} vs {t0 / k0 * 1000:.0f} ms "
        f"(ratio {(t1 / k1) / (t0 / k0):.2f})"
    )


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("catalog", "all"):
        bench_catalog()
    if what in ("tested", "all"):
        bench_tested()
    if what in ("graph", "all"):
        bench_graph(int(sys.argv[2]) if len(sys.argv) > 2 else 100)


if __name__ == "__main__":
    main()
