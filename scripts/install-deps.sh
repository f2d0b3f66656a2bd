#!/usr/bin/env bash
# Installs Neutrino's Debian packages and npm dependencies when they are missing (idempotent;
# quick when everything is present). Debian 12, as root.
#   install-deps.sh            what `neutrino up`/`agent` run: the kernel tools, npm ci, the build
#   install-deps.sh --test     that, and what the test suite and benchmarks use besides
#   install-deps.sh --npm-only npm ci and the build only (the server and the client commands)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-runtime}
case $mode in runtime | --test | --npm-only) ;; *)
  echo "usage: $0 [--test | --npm-only]" >&2
  exit 2
  ;;
esac
# At run time: ip, bridge; nft; dnsmasq and dhcp_release; busybox (udhcpc, arping, nc); ping (trace
# --probe, check); conntrack; sysctl (procps); keepalived (HA routers); haproxy (the metadata proxy, load balancers);
# radvd (IPv6 router advertisements); strongSwan (charon-systemd, swanctl and the plugins of VPNaaS);
# isc-dhcp-client (instances' DHCPv6 client, dhclient -6: Debian's busybox has no udhcpc6); tcpdump
# (network logging reads NFLOG groups through it); openvswitch-switch (the openvswitch driver's own
# ovsdb-server and ovs-vswitchd, run by Neutrino under its state directory, never Debian's service);
# ethtool (that driver turns off transmit offload where its userspace datapath tunnels).
runtime=(iproute2 nftables dnsmasq-base dnsmasq-utils busybox iputils-ping conntrack procps keepalived haproxy radvd
  strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins
  isc-dhcp-client tcpdump openvswitch-switch ethtool)
# Tests only: the PostgreSQL dialect, the openstack CLI compatibility test, the dashboard's browser
# test (chromium and a font), the benchmarks and QoS tests (iperf3), the openstack CLI's loadbalancer commands (python3-octaviaclient), HTTP requests
# through load balancers (curl: busybox wget crashes on this Debian).
test=(postgresql python3-openstackclient chromium fonts-dejavu-core iperf3 python3-octaviaclient curl)
packages=()
[[ $mode == --npm-only ]] || packages+=("${runtime[@]}")
[[ $mode == --test ]] && packages+=("${test[@]}")
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
