"""The typer app: one module per command group; parse, call, print."""
