"""Which images a command asks for: benchmark x task x agent -> ImageTargets."""

from __future__ import annotations

from bakectl.catalog import Catalog
from bakectl.errors import UsageError
from bakectl.render.renderer import ImageTarget, Renderer


def _tasks(catalog: Catalog, bench: str, task_ids: list[str] | None):
    if not task_ids or task_ids == ["all"]:
        return catalog.tasks(bench)
    return [catalog.task(bench, t) for t in task_ids]


def bench_targets(r: Renderer, bench: str, task_ids: list[str] | None) -> list[ImageTarget]:
    b = r.catalog.benchmark(bench)
    if b.shared:
        for t in task_ids or []:
            if t != "all":
                r.catalog.task(bench, t)  # validate: a typo must not pass silently
        return [r.base(b, None)]
    return [r.base(b, t) for t in _tasks(r.catalog, bench, task_ids)]


def agent_targets(r: Renderer, agents: list[str]) -> list[ImageTarget]:
    return [r.agent(r.catalog.agent(a)) for a in agents]


def eval_targets(
    r: Renderer, bench: str, agent: str, task_ids: list[str] | None
) -> list[ImageTarget]:
    b = r.catalog.benchmark(bench)
    a = r.catalog.agent(agent)
    if b.shared:
        for t in task_ids or []:
            if t != "all":
                r.catalog.task(bench, t)
        return [r.eval(b, a, None)]
    return [r.eval(b, a, t) for t in _tasks(r.catalog, bench, task_ids)]


def all_targets(r: Renderer, agents: list[str] | None = None) -> list[ImageTarget]:
    out: list[ImageTarget] = []
    for agent in agents or r.catalog.agent_names():
        for bench in r.catalog.benchmark_names():
            out.extend(eval_targets(r, bench, agent, None))
    return out


def release_targets(r: Renderer, benches: list[str] | None) -> list[ImageTarget]:
    """The whole release matrix: every base (shared or per task), agent layer and eval
    image of the benchmarks (all when None or ['all']), and the gateway; each once,
    dependencies first."""
    names = r.catalog.benchmark_names() if not benches or benches == ["all"] else benches
    out: list[ImageTarget] = []
    for bench in names:
        for agent in r.catalog.agent_names():
            for t in eval_targets(r, bench, agent, None):
                out.extend(c for c in t.closure() if c not in out)
    out.append(r.gateway())
    return out


def render_errors(r: Renderer) -> list[UsageError]:
    """What `build` would reject at render time, found without building: template errors
    in every environment Dockerfile.j2, and ids that collide as bake target names."""
    errors: list[UsageError] = []
    rendered: list[ImageTarget] = []
    for bench in r.catalog.benchmark_names():
        b = r.catalog.benchmark(bench)
        for task in [None] if b.shared else r.catalog.tasks(bench):
            try:
                rendered.append(r.base(b, task))
            except UsageError as exc:
                errors.append(exc)
    from bakectl.agents.vendor import VendorMissing

    agents = []
    for a in r.catalog.agent_names():
        try:
            agents.append(r.agent(r.catalog.agent(a)))
        except VendorMissing:
            continue  # not fetched yet: build says so (bakectl agents fetch A)
        except UsageError as exc:
            errors.append(exc)
    try:
        r.bake_definition(rendered + agents)
    except UsageError as exc:
        errors.append(exc)
    return errors
