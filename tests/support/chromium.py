"""Debian's chromium as playwright drives it here: its path and the flags known to work
in this sandbox (headless, no sandbox, nothing that reaches the network)."""

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
