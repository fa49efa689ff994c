#!/usr/bin/env bash
set -euo pipefail
# One try, no retry: the server is up because the healthcheck passed first.
python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/ready.txt', timeout=2).read().decode().strip())" > /app/answer.txt
