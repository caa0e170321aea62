#!/usr/bin/env bash
# Headless Chromium (Debian's package) for the QC report's browser test. Idempotent.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: need root and apt-get to install Debian's chromium; install it yourself" >&2
  exit 1
fi
echo "install_browser: installing Debian's chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
