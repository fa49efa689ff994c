"""The docker objects bakectl runs label (dev.bakectl.run), for tests that check none is left."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager

LABEL = "dev.bakectl.run"


def labelled(fragment: str) -> set[str]:
    """Containers ("c NAME") and networks ("n NAME") labelled by a run whose name holds
    `fragment`: only a test's own runs, the engine is shared with whatever else runs here."""
    out = set()
    for argv in (
        ["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format", "c {{.Names}}"],
        ["docker", "network", "ls", "--filter", f"label={LABEL}", "--format", "n {{.Name}}"],
    ):
        out |= set(subprocess.run(argv, capture_output=True, text=True).stdout.splitlines())
    return {ln for ln in out if fragment in ln}


@contextmanager
def none_left_behind(fragment: str):
    """Fails when the block leaves a labelled container or network of `fragment` behind."""
    before = labelled(fragment)
    yield
    left = labelled(fragment) - before
    assert not left, f"left behind: {sorted(left)}"
