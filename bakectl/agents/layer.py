"""The agent image's inputs for the renderer: install stage, named contexts, hashed parts.

An agent without `install:` is its files alone (FROM scratch). An installed agent adds an
install stage on a base image (Debian for native and Node CLIs, the Python base for PyPI
agents) that runs install-prefix.sh over the verified vendor set with no network; the image
keeps only the prefix and the agent's files.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from bakectl.agents.plan import install_plan, installer_steps, prefix_of
from bakectl.agents.vendor import vendor_root, vendor_set
from bakectl.catalog.models import Agent

INSTALLER_DIR = Path(__file__).parent / "installer"


@dataclass(frozen=True)
class AgentLayer:
    template: dict = field(default_factory=dict)  # variables of agent.Dockerfile.j2
    hashed: tuple[str, ...] = ()  # what else determines the image's bytes
    contexts: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    network: str = ""


def agent_prefix(agent: Agent) -> str:
    """Where an installed agent's prefix lives in the image ('' for catalog-only agents)."""
    return prefix_of(agent.name, agent.spec.version) if agent.spec.install else ""


def agent_layer(agent: Agent, catalog_root: Path, variables: dict[str, str]) -> AgentLayer:
    if agent.spec.install is None:
        return AgentLayer(template={"install": False})
    from bakectl.render.hashing import hash_tree

    plan = install_plan(agent)
    vs = vendor_set(vendor_root(catalog_root), plan)
    builder_arg = "PYTHON_IMAGE" if plan.runtime == "python" else "DEBIAN_IMAGE"
    template = {
        "install": True,
        "agent_version": plan.version,
        "prefix": plan.prefix,
        "runtime": plan.runtime,
        "builder_arg": builder_arg,
        "steps": installer_steps(plan, vs.file_of()),
    }
    return AgentLayer(
        template=template,
        hashed=(
            vs.digest,
            hash_tree(INSTALLER_DIR),
            f"{builder_arg}={variables[builder_arg]}",
        ),
        contexts={"vendor": str(vs.files_dir), "installer": str(INSTALLER_DIR)},
        args={builder_arg: f"${{{builder_arg}}}"},
        network="none",
    )


def _envquote(value: str) -> str:
    """A Dockerfile ENV value: double-quoted, with the characters ENV interprets escaped."""
    return json.dumps(value).replace("$", "\\$")


def dockerfile_filters() -> dict:
    return {"shquote": shlex.quote, "envquote": _envquote}
