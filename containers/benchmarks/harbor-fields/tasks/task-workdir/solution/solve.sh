#!/usr/bin/env bash
set -euo pipefail
pwd > answer.txt
