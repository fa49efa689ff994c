#!/usr/bin/env bash
set -euo pipefail
python3 -c "import urllib.request; open('/app/Release','wb').write(urllib.request.urlopen('http://deb.debian.org/debian/dists/bookworm/Release', timeout=20).read())"
