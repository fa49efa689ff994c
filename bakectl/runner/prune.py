"""Remove what interrupted runs left behind: objects labelled dev.bakectl.run whose owner
process is gone.

Every container, network and snapshot image a run makes carries two labels: the run
(`dev.bakectl.run=<run_id>`) and its owner (`dev.bakectl.owner=<host>/<pid>/<start>`, the
bakectl process, with its start time so a reused pid is told apart). `prune` leaves the
objects of a live owner alone, another bakectl's run in progress included; `--run-id`
names one run, `--all` takes everything. An object without an owner label (an older
bakectl) counts as abandoned.
"""

from __future__ import annotations

import os
import socket
import sys

from bakectl.engine import containers as ops
from bakectl.engine.docker import check_engine
from bakectl.errors import BakectlError

_FORMATS = {
    "container": ("docker", "ps", "-a", "--format", '{{.Names}}\t{{.Label "%s"}}'),
    "network": ("docker", "network", "ls", "--format", '{{.Name}}\t{{.Label "%s"}}'),
    "image": (
        "docker",
        "image",
        "ls",
        "--format",
        '{{.Repository}}:{{.Tag}} {{.ID}}\t{{.Label "%s"}}',
    ),
}


def owner_alive(owner: str) -> bool:
    """Whether the process an owner label names still runs (another host's: assume so)."""
    host, _, rest = owner.partition("/")
    pid_text, _, start_text = rest.partition("/")
    if not host or not pid_text.isdigit():
        return False
    if host != socket.gethostname():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's live process
    try:
        recorded = float(start_text)
    except ValueError:
        return True
    started = ops.process_start(pid)
    return not (recorded and started and abs(started - recorded) > 1.0)


def leftovers(run_id: str | None = None, *, everything: bool = False) -> dict[str, list[str]]:
    """Container names, network names and image refs (or ids) to remove: a run's
    (run_id), every labelled one (everything), else those whose owner is gone."""
    x = ops.Executor(echo=None)
    flt = f"label={ops.RUN_LABEL}" + (f"={run_id}" if run_id else "")
    found: dict[str, list[str]] = {}
    for kind, argv in _FORMATS.items():
        fmt = argv[-1] % ops.OWNER_LABEL
        step = ops.Step((*argv[:-2], "--filter", flt, "--format", fmt), mutates=False)
        res = x(step, phase="prune", record=False)
        if not res.ok:
            raise BakectlError(f"could not list {kind}s: {res.last_error_line()}")
        names: list[str] = []
        for line in res.stdout.splitlines():
            what, _, owner = line.partition("\t")
            if not what.strip():
                continue
            if run_id is None and not everything and owner.strip() and owner_alive(owner.strip()):
                continue  # a live bakectl's run: not a leftover
            if kind == "image":
                ref, _, image_id = what.partition(" ")
                what = image_id if "<none>" in ref else ref
            if what.strip() and what.strip() not in names:
                names.append(what.strip())
        found[kind] = names
    return found


def prune(
    run_id: str | None = None, *, everything: bool = False, dry_run: bool = False
) -> dict[str, list[str]]:
    check_engine()
    found = leftovers(run_id, everything=everything)
    steps = []
    if found["container"]:
        steps.append(ops.remove_containers(found["container"]))
    if found["network"]:
        steps.append(ops.remove_networks(found["network"]))
    if found["image"]:
        steps.append(ops.remove_images(found["image"]))
    if not steps:
        print("bakectl: nothing to prune", file=sys.stderr)
        return found
    if dry_run:
        for step in steps:
            print(f"$ {step.shell()}")
        return found
    x = ops.Executor()
    failed = [s for s in steps if not x(s, phase="prune").ok]
    if failed:
        raise BakectlError(
            f"prune failed at: {failed[0].shell()}", "the command's own error is printed above"
        )
    return found
