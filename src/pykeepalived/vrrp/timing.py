"""VRRP timer arithmetic: skew time and master-down interval, in integer microseconds.

Rules: pure functions of (version, priority, intervals); no state, no clock. Integer microseconds
on purpose: keepalived computes these in its TIMER_HZ (1 MHz) integer units, and doing the same
makes our takeover instants land on the same microsecond as keepalived's, with no float drift.

- VRRPv2 (RFC 3768 section 6.1): Skew_Time = (256 - Priority) / 256 seconds, independent of the
  advertisement interval; Master_Down_Interval = 3 * Advertisement_Interval + Skew_Time.
- VRRPv3 (RFC 5798 section 6.1): Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256,
  where Master_Adver_Interval is in centiseconds and is learned from the master's adverts;
  Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
- keepalived lets ``down_timer_adverts`` (1..100) replace the 3.
"""

US_PER_S = 1_000_000
US_PER_CS = 10_000
PRIO_STOP = 0
PRIO_OWNER = 255


def skew_time_us(version: int, priority: int, master_adver_int_us: int) -> int:
    """Skew_Time for ``priority``: higher priority waits less, so it wins a simultaneous race.

    For v3 the interval is truncated to whole centiseconds first, as on the wire.
    """
    weight = 256 - priority
    if version == 3:
        return (weight * (master_adver_int_us // US_PER_CS) * 625) // 16
    return (weight * US_PER_S) // 256


def master_down_us(
    version: int, priority: int, master_adver_int_us: int, down_timer_adverts: int = 3
) -> int:
    """Master_Down_Interval: how long a backup waits for an advert before taking over."""
    return down_timer_adverts * master_adver_int_us + skew_time_us(
        version, priority, master_adver_int_us
    )


def us_to_s(us: int) -> float:
    """Microseconds to the float seconds that ``now`` is measured in."""
    return us / US_PER_S
