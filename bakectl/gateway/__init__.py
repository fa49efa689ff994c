"""The model gateway: record, replay or pass through LLM API traffic (standard library only).

Run it as `python3 -m bakectl.gateway serve --mode replay --fixture DIR`, or from Python:

    serve(mode, fixture, upstream, host, port, summary=..., rules=...)  # until SIGINT/SIGTERM
    start_in_thread(mode, fixture, upstream, rules=...) -> RunningGateway  # .url, .stop()
    load_exchanges(path), update_provenance(path, **fields), read_provenance(path)
    parse_rules(data, where) -> Rules   # an agent's normalization rules (RulesError if bad);
                                        # the gateway process reads them from --rules FILE or
                                        # $BAKECTL_GATEWAY_RULES (RULES_ENV), JSON
    scan_for_secrets(path, extra_values=()) -> list[Finding]
    FixtureError / GatewayError (message, hint, exit_code)

Names load on first use, so `from bakectl.gateway import scan_for_secrets` does not pay for the
HTTP server's imports (the bakectl CLI stays quick).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FixtureError": "errors",
    "GatewayError": "errors",
    "FIXTURE_VERSION": "fixture",
    "PROVENANCE_FIELDS": "fixture",
    "fixture_paths": "fixture",
    "load_exchanges": "fixture",
    "read_provenance": "fixture",
    "update_provenance": "fixture",
    "normalize_body": "normalize",
    "request_key": "normalize",
    "DEFAULT_RULES": "rules",
    "RULES_ENV": "rules",
    "Rules": "rules",
    "RulesError": "rules",
    "parse_rules": "rules",
    "Finding": "redact",
    "scan_for_secrets": "redact",
    "Gateway": "server",
    "RunningGateway": "server",
    "serve": "server",
    "start_in_thread": "server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bakectl.gateway' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bakectl.gateway.{module}"), name)
