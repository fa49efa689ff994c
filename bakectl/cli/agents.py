"""bakectl agents ...: the vendor cache of installed agents (fetch, verify, list)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bakectl.cli.common import DryRun

app = typer.Typer(
    help="Installed agents: fetch their packages into the vendor cache, check it.",
    no_args_is_help=True,
)

AgentVersion = Annotated[
    str | None,
    typer.Option("--agent-version", help="Upstream version to fetch instead of agent.yaml's pin."),
]


def _plan(agent: str, agent_version: str | None):
    from bakectl.agents import install_plan, with_version
    from bakectl.catalog import Catalog, find_root

    root = find_root()
    return root, install_plan(with_version(Catalog(root).agent(agent), agent_version))


@app.command("fetch")
def fetch(
    agent: Annotated[str, typer.Argument(help="Agent id (an agent.yaml with `install:`).")],
    agent_version: AgentVersion = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if cached.")] = False,
    dry_run: DryRun = False,
) -> None:
    """Fetch an agent version's packages from npm/PyPI into the vendor cache (.bakectl/vendor),
    so that its image builds with no network, here or on an air-gapped machine."""
    from bakectl.agents import fetch as do_fetch
    from bakectl.agents import vendor_root

    root, plan = _plan(agent, agent_version)
    vs = do_fetch(plan, vendor_root(root), dry_run=dry_run, force=force, echo=sys.stderr)
    if vs is None:
        return
    total = sum(f["size"] for f in vs.manifest["files"])
    n = len(vs.manifest["files"])
    print(f"{plan.agent} {plan.version}: {n} files, {total / 1e6:.1f} MB -> {vs.dir}")


@app.command("verify")
def verify(
    agent: Annotated[str, typer.Argument(help="Agent id.")],
    agent_version: AgentVersion = None,
) -> None:
    """Check an agent version's vendored files against the hashes of its manifest."""
    from bakectl.agents import vendor_root, vendor_set

    root, plan = _plan(agent, agent_version)
    vs = vendor_set(vendor_root(root), plan)
    print(f"{plan.agent} {plan.version}: {len(vs.manifest['files'])} files match {vs.dir}")
