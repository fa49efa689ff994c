"""The provider URL the gateway forwards to: checked once, here, for the CLI and the server."""

from __future__ import annotations

from urllib.parse import urlsplit

from bakectl.gateway.errors import GatewayError


def parse_upstream(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, base path without a trailing /v1: routes carry their own)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port, parts = None, parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GatewayError(
            f"bad upstream URL {url!r}",
            "use http(s)://host[:port], e.g. https://api.openai.com",
        )
    base = parts.path.rstrip("/")
    base = base[: -len("/v1")] if base.endswith("/v1") else base
    return parts.scheme, parts.hostname, port, base
