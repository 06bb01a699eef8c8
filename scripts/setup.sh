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

if [ -n "$extra" ] && ! command -v promtool >/dev/null 2>&1; then
  # promtool checks /metrics in the tests; Debian ships it in the prometheus package (~20 MB
  # download, ~100 MB installed). Its server must never run here: the unit is masked before the
  # install, and a policy-rc.d of ours (only if there is none) refuses service starts during it.
  echo "setup: installing prometheus (for promtool; its server stays off)"
  export DEBIAN_FRONTEND=noninteractive
  if command -v systemctl >/dev/null 2>&1; then systemctl mask prometheus >/dev/null 2>&1 || true; fi
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
    || echo "setup: prometheus not installed: the promtool test will be skipped"
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  if command -v update-rc.d >/dev/null 2>&1; then update-rc.d prometheus disable >/dev/null 2>&1 || true; fi
fi

py="${PYTHON:-python3}"
export PIP_NO_WARN_SCRIPT_LOCATION=1
if [ ! -x "$here/.venv/bin/python" ]; then
  "$py" -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check -e "$here$extra" 2>&1 | { grep -v "^WARNING: Location" || true; }
# Byte-compile the package as a wheel install would: an editable install leaves no .pyc, and
# with PYTHONDONTWRITEBYTECODE set (as on CI machines) every daemon start compiled ~150
# modules from source: +0.2 s per start on the host, seconds in the emulated IPVS VM.
"$here/.venv/bin/python" -m compileall -q "$here/src" >/dev/null
