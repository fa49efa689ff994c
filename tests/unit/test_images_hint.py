"""`bakectl images bootstrap` names what to check by the step that failed."""

from __future__ import annotations

import pytest

from bakectl.cli.images import _failure_hint


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        ("debootstrap --variant=minbase bookworm /x http://deb.debian.org/debian", "archive"),
        ("tar -C /x --numeric-owner -c . | docker import - debian:bookworm-slim", "engine"),
        ("docker pull debian:bookworm-slim", "registry"),
        ("rm -rf /x", "printed above"),
    ],
)
def test_hint_follows_the_failed_step(command: str, needle: str) -> None:
    assert needle in _failure_hint(command)
