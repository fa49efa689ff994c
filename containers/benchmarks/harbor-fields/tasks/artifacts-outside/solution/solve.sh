#!/usr/bin/env bash
set -euo pipefail
mkdir -p /var/tmp/report /opt/results
echo total=3 > /var/tmp/report/summary.txt
echo 1 > /opt/results/a.txt
echo 2 > /opt/results/b.txt
echo scratch > /app/scratch.txt
