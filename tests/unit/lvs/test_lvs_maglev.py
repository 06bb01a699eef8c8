"""Slot tables: weights become slot counts; Maglev moves few slots when a server leaves."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.lvs.maglev import maglev, quotas, smooth_round_robin, table_size

NAMES = [f"10.1.0.{i}:80" for i in range(10)]


def test_quotas_follow_weights_and_sum_to_size() -> None:
    assert quotas([3, 1], 252) == [189, 63]
    assert quotas([1, 1, 1], 251) == [84, 84, 83]
    assert quotas([0, 0], 251) == [0, 0]
    assert quotas([0, 5], 251) == [0, 251]


def test_a_tiny_positive_weight_still_gets_a_slot() -> None:
    assert quotas([65535, 1], 251) == [250, 1]


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=12))
def test_quotas_are_proportional(weights: list[int]) -> None:
    got = quotas(weights, 251)
    total = sum(weights)
    assert sum(got) == (251 if total else 0)
    for w, q in zip(weights, got, strict=True):
        if total:
            # within one slot, plus the ones given away so that no live server has none
            assert abs(q - 251 * w / total) <= len(weights)
        assert (q == 0) == (w == 0) or total == 0


def test_table_size_is_a_prime_with_room() -> None:
    assert table_size(2) == 251
    assert table_size(13) == 509
    assert table_size(10**6) == 65521


def test_maglev_is_deterministic_and_weighted() -> None:
    table = maglev(NAMES[:2], [3, 1], 251)
    assert table == maglev(NAMES[:2], [3, 1], 251)
    assert table.count(0) == 188
    assert table.count(1) == 63
    assert maglev(NAMES[:2], [0, 0], 251) == [-1] * 251


def test_maglev_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="prime"):
        maglev(NAMES[:2], [1, 1], 250)
    with pytest.raises(ValueError, match="unique"):
        maglev([NAMES[0], NAMES[0]], [1, 1], 251)


@pytest.mark.parametrize("count", [2, 3, 4, 8])
def test_removing_one_server_moves_about_its_share(count: int) -> None:
    before = maglev(NAMES[:count], [1] * count, 251)
    gone = count - 1
    after = maglev(NAMES[:gone], [1] * gone, 251)
    # Slots of the remaining servers that now point elsewhere: Maglev keeps these few.
    kept_moved = sum(1 for b, a in zip(before, after, strict=True) if b != gone and b != a)
    assert kept_moved <= 0.06 * 251, kept_moved
    # Nothing still points at the server that left; its slots went to the others.
    assert gone not in after


def test_zero_weight_is_like_removal_for_the_others() -> None:
    before = maglev(NAMES[:3], [1, 1, 1], 251)
    after = maglev(NAMES[:3], [1, 1, 0], 251)
    assert 2 not in after
    moved = sum(1 for b, a in zip(before, after, strict=True) if b != 2 and b != a)
    assert moved <= 0.06 * 251


def test_smooth_round_robin_interleaves() -> None:
    seq = smooth_round_robin([1, 1], 251)
    assert seq[:6] == [0, 1, 0, 1, 0, 1]
    seq = smooth_round_robin([3, 1], 252)
    assert seq.count(0) == 189
    assert "1, 1" not in str(seq)  # the light server never gets two in a row
    assert smooth_round_robin([0, 0], 251) == [-1] * 251
