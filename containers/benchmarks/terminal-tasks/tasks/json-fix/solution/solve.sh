#!/usr/bin/env bash
# Reference solution for json-fix: rewrite the config as valid JSON with the
# same settings and port 8080, then check it parses.
set -euo pipefail

cat > /app/config.json <<'JSON'
{
  "name": "demo-service",
  "port": 8080,
  "debug": false,
  "hosts": ["alpha.internal", "beta.internal"],
  "limits": {
    "max_connections": 64,
    "timeout_seconds": 30
  }
}
JSON

python3 -c 'import json; assert json.load(open("/app/config.json"))["port"] == 8080'
