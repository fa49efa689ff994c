"""bakectl gateway serve: the model gateway on this host (the same code its image runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The model gateway: record, replay or pass through model traffic.", no_args_is_help=True
)


@app.command("serve")
def serve(
    mode: Annotated[str, typer.Option("--mode", help="record | replay | passthrough")],
    fixture: Annotated[Path | None, typer.Option("--fixture", help="Fixture directory.")] = None,
    upstream: Annotated[str | None, typer.Option("--upstream", help="Provider URL.")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    summary: Annotated[Path | None, typer.Option("--summary", help="Summary JSON path.")] = None,
    trace: Annotated[Path | None, typer.Option("--trace", help="Trace JSONL path.")] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="The agent's normalization rules, JSON (default: $BAKECTL_GATEWAY_RULES).",
        ),
    ] = None,
) -> None:
    """Serve until Ctrl-C; then write the summary (served, misses, unused exchanges)."""
    import json
    import os

    from bakectl.errors import UsageError
    from bakectl.gateway import serve as gateway_serve
    from bakectl.gateway.errors import GatewayError
    from bakectl.gateway.rules import rules_from

    try:
        given = rules_from(str(rules) if rules else None, os.environ)
        result = gateway_serve(
            mode, fixture, upstream, host, port, summary=summary, trace=trace, rules=given
        )
    except GatewayError as exc:
        raise UsageError(exc.message, exc.hint) from None
    print(json.dumps({k: result[k] for k in ("served", "misses", "exhausted", "recorded")}))
