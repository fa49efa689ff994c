"""Build the example catalog's whole eval matrix: bakectl (one bake graph) vs a
plain loop of `docker build`, one image at a time, on the same catalog, cold
and warm, in one run.

Cold = BuildKit cache pruned and no image of the namespace present (base
images stay: they are the bootstrap's, not the catalog's). Warm = run again
right after. The loop builds each eval image's closure (base, agent layer,
eval) with the same Dockerfiles, args, labels and named contexts bakectl
renders, passing base and agent as docker-image:// contexts.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _util import BAKECTL, REPO

sys.path.insert(0, str(REPO))

from bakectl.catalog import Catalog  # noqa: E402
from bakectl.render import variables  # noqa: E402
from bakectl.render.renderer import Renderer  # noqa: E402
from bakectl.render.select import all_targets  # noqa: E402
from tests.support.images import remove_images  # noqa: E402


def sh(argv: list[str], env: dict[str, str] | None = None) -> None:
    import os

    res = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stderr[-2000:]}")


def clean(namespace: str) -> None:
    remove_images(namespace + "/")
    sh(["docker", "builder", "prune", "-af"])


def docker_loop(namespace: str) -> tuple[float, int]:
    catalog = Catalog(REPO)
    r = Renderer(catalog, variables.resolve(REPO, {"REGISTRY": namespace}))
    evals = all_targets(r)
    r.write(evals)  # the same rendered Dockerfiles bakectl uses
    start = time.perf_counter()
    count = 0
    for ev in evals:
        for t in ev.closure():
            argv = ["docker", "build", "-q", "-f", str(r.dockerfile_path(t)), "-t", t.image]
            for k, v in sorted(t.args.items()):
                argv += ["--build-arg", f"{k}={r.vars[v[2:-1]] if v.startswith('${') else v}"]
            for k, v in sorted(t.labels.items()):
                argv += ["--label", f"{k}={v}"]
            deps = {d.target: d for d in t.deps}
            for name, ref in sorted(t.contexts.items()):
                dep = deps[ref.removeprefix("target:")]
                argv += ["--build-context", f"{name}=docker-image://{dep.image}"]
            sh([*argv, str(t.context)])
            count += 1
    return time.perf_counter() - start, count


def bakectl_build(namespace: str) -> float:
    start = time.perf_counter()
    sh([*BAKECTL, "build", "all"], env={"REGISTRY": namespace})
    return time.perf_counter() - start


def main() -> None:
    ns_bake, ns_loop = "bench-bake", "bench-loop"
    catalog = Catalog(REPO)
    n_evals = len(all_targets(Renderer(catalog, variables.resolve(REPO))))
    print(
        f"eval matrix: {n_evals} eval images "
        f"({len(catalog.benchmark_names())} benchmarks, {len(catalog.agent_names())} agents)"
    )
    clean(ns_bake)
    clean(ns_loop)
    cold_bake = bakectl_build(ns_bake)
    clean(ns_loop)
    cold_loop, n_builds = docker_loop(ns_loop)
    warm_bake = bakectl_build(ns_bake)
    warm_loop, _ = docker_loop(ns_loop)
    print(
        f"cold: bakectl build all {cold_bake:6.2f} s | docker build loop ({n_builds} builds) "
        f"{cold_loop:6.2f} s | ratio loop/bakectl {cold_loop / cold_bake:5.2f}x"
    )
    print(
        f"warm: bakectl build all {warm_bake:6.2f} s | docker build loop ({n_builds} builds) "
        f"{warm_loop:6.2f} s | ratio loop/bakectl {warm_loop / warm_bake:5.2f}x"
    )
    clean(ns_bake)
    clean(ns_loop)


if __name__ == "__main__":
    main()
