"""Render catalog entries into a build directory: Dockerfiles and one bake definition."""
