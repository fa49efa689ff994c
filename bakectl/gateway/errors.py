"""The gateway's expected failures.

Same shape as bakectl.errors.BakectlError (message, hint, exit_code), which the gateway cannot
import: it runs in an image with nothing but python3 and this package.
"""

from __future__ import annotations


class GatewayError(Exception):
    """A failure the user can act on: bad flags, an unusable fixture or upstream."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message


class FixtureError(GatewayError):
    """A fixture that does not parse, has the wrong version, or is missing."""
