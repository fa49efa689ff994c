#!/usr/bin/env bash
# Scorer for json-fix: /app/config.json must parse, "port" must be the integer
# 8080, and every other setting must keep its original value.
# Always writes a reward and exits 0.
set -u

config=/app/config.json
reward_file=/logs/verifier/reward.txt

mkdir -p /logs/verifier
echo 0 > "$reward_file"

if [ ! -f "$config" ]; then
    echo "FAIL: $config does not exist"
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "FAIL: python3 is not available in the verifier container"
    exit 0
fi

if python3 - "$config" <<'PY'
import json
import sys

path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
except Exception as exc:  # any parse or read error fails the task
    print(f"FAIL: {path} does not parse: {exc}")
    sys.exit(1)

expected = {
    "name": "demo-service",
    "port": 8080,
    "debug": False,
    "hosts": ["alpha.internal", "beta.internal"],
    "limits": {"max_connections": 64, "timeout_seconds": 30},
}
if not isinstance(data, dict):
    print(f"FAIL: top level is {type(data).__name__}, expected an object")
    sys.exit(1)
port = data.get("port")
if type(port) is not int or port != 8080:
    print(f"FAIL: port is {port!r}, expected the integer 8080")
    sys.exit(1)
# Compare canonical JSON text so false/0 and 64/64.0 are told apart.
if json.dumps(data, sort_keys=True) != json.dumps(expected, sort_keys=True):
    print(f"FAIL: settings changed: got {data!r}, expected {expected!r}")
    sys.exit(1)
print("PASS: config parses and port is 8080")
PY
then
    echo 1 > "$reward_file"
fi
exit 0
