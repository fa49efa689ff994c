"""bakectl: build, run and release AI-agent evaluation images with docker buildx bake."""

__version__ = "0.1.0"
