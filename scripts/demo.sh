#!/usr/bin/env bash
# Install what is missing, then run the main job: check the seed's director configs.
# (Becomes `pykeepalived lab run` once the lab exists.)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
for conf in "$here"/examples/seed/*.conf; do
  echo "== pykeepalived -t -f ${conf#"$here"/}"
  "$here/.venv/bin/pykeepalived" -t -f "$conf"
done
