# The bake variables bakectl's generated targets use, with their defaults (shipped with
# bakectl as package data). bakectl passes this file after the generated one:
#   REGISTRY=127.0.0.1:5000/evals docker buildx bake -f .bakectl/build/bake-<hash>.json -f <this file> --push eval__arith__chat
# A docker-bake.hcl at the project root replaces this file; environment variables of the
# same name override both.

# Image namespace: "bakectl" for local images, or "<registry host>/<path>" to push.
variable "REGISTRY" { default = "bakectl" }

# An extra tag for every image (e.g. a release version); empty = content-hash tags only.
variable "TAG" { default = "" }

# Base images the catalog's environments start FROM. With a registry, the official
# images; air-gapped, `bakectl images bootstrap` builds both from Debian's archive.
variable "DEBIAN_IMAGE" { default = "debian:bookworm-slim" }
variable "PYTHON_IMAGE" { default = "python:3.11-slim-bookworm" }
