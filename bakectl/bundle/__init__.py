"""Self-contained bundles: one directory that rebuilds and reruns an evaluation anywhere."""
