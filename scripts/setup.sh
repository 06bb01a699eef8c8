#!/usr/bin/env bash
# Install what pykeepalived and its tests need on a Debian-like machine, only what is missing.
# Usage: bash scripts/setup.sh [--test]   (sourced or run; needs root for apt)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

apt_pkgs=(iproute2 nftables python3-venv procps)
if [ -n "$extra" ]; then
  # keepalived: the interop peer; tcpdump: wire captures in tests.
  # qemu-system-x86, busybox-static, ipvsadm: the IPVS test VM (tests/vm, docs/testing-ipvs.md).
  # chromium: the dashboard browser tests (Playwright drives it; never a downloaded build).
  apt_pkgs+=(keepalived tcpdump qemu-system-x86 busybox-static ipvsadm chromium)
  # bird2: the ECMP router of the active-active tests and lab, and the optional BGP engine.
  apt_pkgs+=(bird2)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The keepalived package must not run a daemon of its own on this machine.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now keepalived >/dev/null 2>&1 || true; fi
  # Nor a BIRD of its own: the tests start theirs inside namespaces.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now bird >/dev/null 2>&1 || true; fi
fi

py="${PYTHON:-python3}"
export PIP_NO_WARN_SCRIPT_LOCATION=1
if [ ! -x "$here/.venv/bin/python" ]; then
  "$py" -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check -e "$here$extra" 2>&1 | { grep -v "^WARNING: Location" || true; }
