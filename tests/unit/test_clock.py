import pytest

from pykeepalived.clock import FakeClock


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=10.0)
    assert clock.now() == 10.0
    assert clock.advance(0.5) == 10.5
    assert clock.now() == 10.5


def test_fake_clock_never_goes_back() -> None:
    with pytest.raises(ValueError, match="never goes back"):
        FakeClock().advance(-1)
