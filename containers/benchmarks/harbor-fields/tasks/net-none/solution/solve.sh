#!/usr/bin/env bash
set -uo pipefail
# The task says allow_internet = false: the fetch must fail.
if python3 -c "import urllib.request; urllib.request.urlopen('http://deb.debian.org/debian/dists/bookworm/Release', timeout=5).read(100)" 2>/dev/null; then
  echo online > /app/network.txt
else
  echo offline > /app/network.txt
fi
