#!/usr/bin/env bash
# Installs Neutrino's Debian packages and npm dependencies when they are missing (idempotent;
# quick when everything is present). Debian 12, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(iproute2 nftables dnsmasq-base dnsmasq-utils busybox iputils-ping conntrack ethtool iperf3
  procps postgresql python3-openstackclient chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "install: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [[ ! -f dist/cli/main.js ]] || [[ -n $(find src -newer dist/cli/main.js -print -quit) ]] ||
  [[ ! -f dist/web/index.html ]] || [[ -n $(find web -newer dist/web/index.html -print -quit) ]]; then
  echo "install: npm run build"
  npm run build --silent
fi
