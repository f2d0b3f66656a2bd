#!/usr/bin/env bash
# The physical limit of the data-plane benchmark, as a plain shell script: the agent's layout for N
# instances (one bridge, one VXLAN device, N namespaces each with a veth whose peer is created
# inside it) built with batched iproute2 and static addresses — one root `ip -batch` for all links,
# then one `ip -n NS -batch` per namespace. Prints the milliseconds each phase took.
#
#   raw.sh build N TAG VNI      (TAG: a few hex digits naming this run's objects)
#   raw.sh teardown N TAG VNI
set -euo pipefail
cmd=$1 n=$2 tag=$3 vni=$4
[[ $n =~ ^[0-9]+$ && $tag =~ ^[0-9a-f]{1,6}$ && $vni =~ ^[0-9]+$ ]] || { echo "raw.sh: bad arguments" >&2; exit 2; }
bridge=brqraw$tag vxlan=vxlan-$vni
ms() { echo $(($(date +%s%N) / 1000000)); }

if [[ $cmd == teardown ]]; then
  {
    for ((i = 0; i < n; i++)); do echo "netns del neutrino-raw$tag-$i"; done
    echo "link del $vxlan"
    echo "link del $bridge"
  } | ip -force -batch - 2>/dev/null || true
  exit 0
fi

start=$(ms)
{
  echo "link add $bridge mtu 1450 type bridge"
  echo "link set $bridge addrgenmode none"
  echo "link set $bridge up"
  echo "link add $vxlan mtu 1450 master $bridge type vxlan id $vni dstport 4789"
  echo "link set $vxlan up"
  for ((i = 0; i < n; i++)); do echo "netns add neutrino-raw$tag-$i"; done
  for ((i = 0; i < n; i++)); do
    echo "link add tapr$tag$i mtu 1450 master $bridge type veth peer name eth0 netns neutrino-raw$tag-$i"
    echo "link set tapr$tag$i addrgenmode none"
    echo "link set tapr$tag$i up"
  done
} | ip -batch -
links=$(ms)
for ((i = 0; i < n; i++)); do
  a=$((i + 10))
  printf 'link set lo up\nlink set eth0 mtu 1450 up\naddr add 10.9.%d.%d/16 dev eth0\n' $((a >> 8)) $((a & 255)) |
    ip -n "neutrino-raw$tag-$i" -batch -
done
done_=$(ms)
echo "links=$((links - start)) addresses=$((done_ - links)) total=$((done_ - start))"
