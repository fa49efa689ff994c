"""The model gateway as a run sees it: which mode, its container, its health, its trace.

The gateway (bakectl.gateway) runs in its own container on the run's internal
network under the alias `gateway`; with an upstream it also joins a second,
non-internal network to reach it. Upstream credentials go to this container
alone, passed by name so no command line or run.json ever holds them.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bakectl.engine import containers as ops
from bakectl.errors import UsageError
from bakectl.gateway.redact import CREDENTIAL_ENV  # read by the gateway to authenticate upstream
from bakectl.gateway.rules import RULES_ENV

FIXTURE_MOUNT = "/fixture"
OUT_MOUNT = "/bakectl-out"
SUMMARY_FILE = "summary.json"
TRACE_FILE = "trace.jsonl"
HEALTH_TIMEOUT = 30.0


@dataclass(frozen=True)
class GatewayConfig:
    mode: str  # replay | record | passthrough
    fixture: Path | None = None
    upstream: str | None = None
    # The agent's normalization rules (agent.yaml `normalize`, checked by
    # bakectl.gateway.parse_rules); None: the gateway's defaults, or at replay the fixture's.
    rules: dict | None = None

    @classmethod
    def from_flags(
        cls, replay: Path | None, record: Path | None, upstream: str | None
    ) -> GatewayConfig | None:
        """Validate --replay / --record / --upstream; None when no gateway runs."""
        if replay and record:
            raise UsageError(
                "--replay and --record exclude each other",
                "replay a fixture, or record a new one with --record DIR --upstream URL",
            )
        if upstream is not None:
            from bakectl.gateway.errors import GatewayError
            from bakectl.gateway.upstream import parse_upstream

            try:
                parse_upstream(upstream)  # the gateway's own check, so both agree
            except GatewayError:
                raise UsageError(
                    f"--upstream {upstream!r} is not an http(s) URL",
                    "e.g. --upstream https://api.openai.com",
                ) from None
        if replay is not None:
            if upstream:
                raise UsageError(
                    "--replay answers from the fixture alone; it takes no --upstream",
                    "drop --upstream, or record with --record DIR --upstream URL",
                )
            _check_replay(replay)
            return cls("replay", replay.resolve())
        if record is not None:
            if not upstream:
                raise UsageError(
                    "--record needs --upstream URL: the provider to record from",
                    "e.g. --record fx/arith-3 --upstream https://api.openai.com",
                )
            if record.is_file() and record.suffix != ".jsonl":
                raise UsageError(
                    f"--record {record} is a file, not a fixture directory",
                    "pass a directory (it is created) or a path ending in .jsonl",
                )
            return cls("record", record.resolve(), upstream)
        if upstream:
            return cls("passthrough", None, upstream)
        return None

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "fixture": str(self.fixture) if self.fixture else None,
            "upstream": _without_userinfo(self.upstream) if self.upstream else None,
        }

    # -- the container ---------------------------------------------------------------
    def _fixture_mount(self) -> tuple[ops.Mount, str] | None:
        if self.fixture is None:
            return None
        ro = self.mode == "replay"
        if self.fixture.suffix == ".jsonl":
            d, arg = self.fixture.parent, f"{FIXTURE_MOUNT}/{self.fixture.name}"
        else:
            d, arg = self.fixture, FIXTURE_MOUNT
        return ops.Mount(d, FIXTURE_MOUNT, readonly=ro), arg

    def prepare_host(self) -> None:
        """Record mode writes into the fixture directory, which must exist to be mounted."""
        fm = self._fixture_mount()
        if fm and self.mode == "record":
            fm[0].source.mkdir(parents=True, exist_ok=True)

    def run_step(self, names: ops.Names, image: str, out_dir: Path) -> ops.Step:
        mounts = [ops.Mount(out_dir, OUT_MOUNT)]
        args = ["serve", "--mode", self.mode]
        fm = self._fixture_mount()
        if fm:
            mounts.insert(0, fm[0])
            args += ["--fixture", fm[1]]
        if self.upstream:
            args += ["--upstream", self.upstream]
        args += ["--host", "0.0.0.0", "--port", str(ops.GATEWAY_PORT)]
        args += ["--summary", f"{OUT_MOUNT}/{SUMMARY_FILE}", "--trace", f"{OUT_MOUNT}/{TRACE_FILE}"]
        env: list[tuple[str, str | None]] = []
        if self.upstream:
            env = [(name, None) for name in CREDENTIAL_ENV]
        if self.rules is not None:
            env.append((RULES_ENV, json.dumps(self.rules, sort_keys=True)))
        return ops.container_run(
            names,
            names.gateway,
            image,
            network=names.network,
            alias=ops.GATEWAY_ALIAS,
            mounts=mounts,
            env=env,
            args=args,
            # An upstream on this host (a local model server) is host.docker.internal.
            hosts=["host.docker.internal:host-gateway"] if self.upstream else None,
        )

    @property
    def needs_egress(self) -> bool:
        return self.upstream is not None


def _check_replay(path: Path) -> None:
    from bakectl.gateway import FixtureError, load_exchanges, read_provenance

    if not path.exists():
        raise UsageError(
            f"--replay {path}: no such fixture",
            "pass a fixture directory (holding exchanges.jsonl) or an exchanges .jsonl file",
        )
    try:
        load_exchanges(path)
        read_provenance(path)  # a corrupt provenance.json is an error, never ignored
    except FixtureError as exc:
        raise UsageError(f"--replay {path}: {exc.message}", exc.hint) from None


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def agent_env() -> list[tuple[str, str]]:
    """What the agent is told about the gateway: URLs and placeholder keys, never a credential."""
    base = f"http://{ops.GATEWAY_ALIAS}:{ops.GATEWAY_PORT}"
    return [
        ("OPENAI_BASE_URL", f"{base}/v1"),
        ("ANTHROPIC_BASE_URL", f"{base}/anthropic"),
        ("OPENAI_API_KEY", "bakectl-placeholder"),
        ("ANTHROPIC_API_KEY", "bakectl-placeholder"),
    ]


def wait_healthy(execute: ops.Executor, names: ops.Names) -> str | None:
    """None once the gateway answers /health from inside its container; else why not.

    Asked with `docker exec`: the host may have no route into an internal network.
    """
    deadline = time.monotonic() + HEALTH_TIMEOUT
    first = True
    while True:
        res = execute(ops.health_probe(names.gateway), phase="gateway", timeout=10, record=first)
        if res.ok:
            return None
        first = False
        st = execute(ops.state(names.gateway), phase="gateway", record=False)
        status = st.stdout.split()
        if st.ok and status and status[0] != "running":
            code = status[1] if len(status) > 1 else "?"
            return f"the gateway exited before it was healthy (exit code {code})"
        if time.monotonic() > deadline:
            return f"the gateway did not answer /health within {HEALTH_TIMEOUT:.0f} s"
        time.sleep(0.2)


def collect_trace(gateway_dir: Path, trace: Path) -> Path | None:
    """Move the gateway's trace (every answered exchange, one a line, written live
    by `--trace`) into the run directory. None when the gateway answered nothing."""
    src = gateway_dir / TRACE_FILE
    if not src.is_file():
        return None
    src.replace(trace)
    return trace


def annotate_fixture(config: GatewayConfig, gateway_dir: Path, **fields) -> str | None:
    """After a recording run: add what the gateway cannot know (benchmark, task, agent,
    model, image digests, reward) to the fixture's provenance.json; keep a copy in the run.
    Returns a warning when that failed (the run's result stands either way)."""
    from bakectl.gateway import GatewayError, fixture_paths, read_provenance, update_provenance

    if config.mode != "record" or config.fixture is None:
        return None
    try:
        if fields.get("model") is None or read_provenance(config.fixture).get("model"):
            fields.pop("model", None)  # the model the gateway saw beats the --model flag
        update_provenance(config.fixture, **fields)
        shutil.copyfile(fixture_paths(config.fixture).provenance, gateway_dir / "provenance.json")
    except (GatewayError, OSError) as exc:
        return f"could not annotate the fixture's provenance: {exc}"
    return None
