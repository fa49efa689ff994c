"""What every bakectl install ships, so it runs in a directory with no containers/ at all:

  core/              the runtime every eval image shares (entrypoint.sh, setup.sh)
  agents/oracle/     runs the task's solution/solve.sh (mounted at run time only)
  agents/nop/        does nothing: a scorer must give it less than 1
  docker-bake.hcl    the bake variables and their defaults (REGISTRY, TAG, base images)

A catalog overrides any of them by holding its own: containers/core/,
containers/agents/<name>/, or docker-bake.hcl at the project root (a whole
directory or file replaces the shipped one; nothing is merged file by file).
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
CORE_DIR = DATA_DIR / "core"
AGENTS_DIR = DATA_DIR / "agents"
BAKE_DEFAULTS = DATA_DIR / "docker-bake.hcl"
