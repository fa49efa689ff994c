#!/usr/bin/env bash
set -euo pipefail
id -un > who.txt
