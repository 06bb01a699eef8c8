"""SIGUSR1 / SIGUSR2 dumps: keepalived's data and stats files, plus a JSON one.

keepalived writes /tmp/keepalived.data and /tmp/keepalived.stats on these signals; operators'
habits and scripts read them, so the same paths get our snapshot as text, and the JSON file
the same data for tools.
"""

import json
import logging

log = logging.getLogger("pykeepalived")
DATA_DUMP = "/tmp/keepalived.data"
STATS_DUMP = "/tmp/keepalived.stats"
JSON_DUMP = "/tmp/keepalived.json"


def write_dump(data: dict[str, object], path: str, kind: str) -> None:
    """``data`` (the snapshot as plain data) to ``path`` as text and to ``JSON_DUMP``; a file
    that cannot be written is logged, never raised."""
    try:
        with open(path, "w") as f:
            f.write(text_dump(data, kind))
        with open(JSON_DUMP, "w") as f:
            json.dump(data, f, indent=2, default=str)
    except OSError as exc:
        log.error("cannot write %s dump: %s", kind, exc)
        return
    log.info("Wrote the %s dump to %s and %s", kind, path, JSON_DUMP)


def text_dump(data: dict[str, object], kind: str) -> str:
    lines = [f"------< pykeepalived {kind} dump >------"]
    for key, value in data.items():
        if isinstance(value, list):
            lines.append(f" {key}: {len(value)}")
            lines += [f"  - {json.dumps(item, default=str)}" for item in value]
        else:
            lines.append(f" {key} = {value}")
    return "\n".join(lines) + "\n"
