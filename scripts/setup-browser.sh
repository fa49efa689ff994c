#!/bin/sh
# Headless Chromium for the results-page browser tests (tests/integration/test_page_browser.py).
# Debian's own package: playwright drives it through executable_path=/usr/bin/chromium,
# so `playwright install` (which downloads its own browsers) is never needed.
set -eu
if [ -x /usr/bin/chromium ]; then
    /usr/bin/chromium --version
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
/usr/bin/chromium --version
