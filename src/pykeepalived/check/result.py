"""What one probe run found: the value that crosses from the I/O probes into the pure core.

Rules: a plain frozen value, no I/O, no clock. Probes (L3) build it; the hysteresis (L1) reads it.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """One probe run.

    ``reason`` is a short human text (``"connect refused"``, ``"status 503 on /health"``);
    ``latency_s`` is the wall time the probe took, for metrics only.
    ``weight`` is an absolute real-server weight requested by the check (MISC_CHECK with
    ``misc_dynamic``: exit code - 2); ``weight_delta`` is a relative adjustment (FILE_CHECK:
    value x weight). Both ``None`` mean "the configured weight", which is what every other
    checker reports.
    """

    ok: bool
    reason: str = ""
    latency_s: float = 0.0
    weight: int | None = None
    weight_delta: int | None = None

    def __post_init__(self) -> None:
        if self.latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        if self.weight is not None and self.weight < 0:
            raise ValueError("weight must be >= 0")
        if not self.ok and (self.weight is not None or self.weight_delta is not None):
            raise ValueError("a failed probe carries no weight")
