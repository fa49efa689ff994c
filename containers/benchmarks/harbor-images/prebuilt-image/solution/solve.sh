#!/usr/bin/env bash
# Reference solution for prebuilt-image.
set -euo pipefail

head -n 1 /etc/debian_version > /app/release.txt
