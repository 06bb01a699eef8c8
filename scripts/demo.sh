#!/usr/bin/env bash
# Install what is missing, then run the main job: the seed's whole system in network namespaces
# (two directors with VRRP, LVS in DR mode to two web servers, a client), played step by step
# with measured times. `pykeepalived lab run --keep` leaves it up to explore; `lab down` removes it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
exec "$here/.venv/bin/pykeepalived" lab run "$@"
