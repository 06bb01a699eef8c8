#!/usr/bin/env bash
# Capture VRRP adverts from Debian's keepalived (2.2.7) into tests/data/vrrp/capture.pcap.
#
# Needs root. Everything happens in two network namespaces created here with a random prefix and
# joined by a veth pair; addresses are 192.168.88.0/24 and fd00::/64 inside them only. Only the
# processes started here are stopped (by PID) and only the namespaces created here are deleted.
# The pcap is then turned into the golden files by golden.py (pure Python, no root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag="pkgold-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
nsa="$tag-a" nsb="$tag-b"
work="$(mktemp -d "/tmp/$tag.XXXX")"
ka_pid="" td_pid=""

cleanup() {
    [[ -n "$ka_pid" ]] && kill "$ka_pid" 2>/dev/null || true
    [[ -n "$td_pid" ]] && kill "$td_pid" 2>/dev/null || true
    sleep 1
    ip netns del "$nsa" 2>/dev/null || true
    ip netns del "$nsb" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$nsa"
ip netns add "$nsb"
ip link add veth-ka netns "$nsa" type veth peer name veth-kb netns "$nsb"
ip -n "$nsa" link set lo up
ip -n "$nsb" link set lo up
ip -n "$nsa" addr add 192.168.88.1/24 dev veth-ka
ip -n "$nsb" addr add 192.168.88.2/24 dev veth-kb
ip -n "$nsa" addr add fd00::1/64 dev veth-ka nodad
ip -n "$nsb" addr add fd00::2/64 dev veth-kb nodad
ip -n "$nsa" link set veth-ka up
ip -n "$nsb" link set veth-kb up
sleep 3   # let the IPv6 link-local addresses finish DAD

cp "$here/keepalived-capture.conf" "$work/keepalived.conf"
ip netns exec "$nsb" tcpdump -i veth-kb -U -w "$work/capture.pcap" 'ip proto 112 or ip6 proto 112' \
    2>"$work/tcpdump.log" &
td_pid=$!
sleep 1
ip netns exec "$nsa" /usr/sbin/keepalived -n -l -D --vrrp -f "$work/keepalived.conf" \
    -p "$work/keepalived.pid" -r "$work/vrrp.pid" -c "$work/checkers.pid" >"$work/keepalived.log" 2>&1 &
ka_pid=$!
sleep 8
kill -TERM "$ka_pid"      # a MASTER that stops sends priority-0 adverts: capture those too
wait "$ka_pid" || true
ka_pid=""
sleep 1
kill -INT "$td_pid"
wait "$td_pid" || true
td_pid=""
cp "$work/capture.pcap" "$here/capture.pcap"
cp "$work/keepalived.log" "$here/keepalived.log"
tcpdump -nn -vv -r "$here/capture.pcap" | tail -n 20
echo "work dir: $work"
