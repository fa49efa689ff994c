"""Plans, bake invocations, the podman fallback, pushes and docker queries."""
