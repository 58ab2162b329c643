#!/usr/bin/env bash
# Debian packages the test suite needs: iproute2 (network namespaces for the
# live-capture test), curl (real HTTP traffic inside them), procps (sysctl) and
# chromium (the dashboard's real-browser test drives /usr/bin/chromium through
# Playwright; Playwright's own browser downloads are never used).
# Installs only what is missing; needs root (CI runs as root).
set -euo pipefail
declare -A need=([ip]=iproute2 [curl]=curl [sysctl]=procps [chromium]=chromium)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
