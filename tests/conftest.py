"""Shared test configuration: hypothesis profiles and the root marker."""

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from tests.kernel.nsutil import Lan

# Tests marked ``ipvs`` run where kernel IPVS is: natively, or all in one QEMU VM boot.
pytest_plugins = ["pytester", "vm.ipvs_pytest"]

# CI runs derandomized (a fixed seed) so a red run is reproducible; locally, explore.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``root`` need root (network namespaces, raw sockets): skip loudly without."""
    del config
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (network namespaces, raw sockets)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def lan() -> Iterator["Lan"]:
    """Hosts in network namespaces on one bridge, removed by name afterwards (root only)."""
    import shutil

    from tests.kernel.nsutil import Lan

    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for network namespaces")
    network = Lan()
    try:
        yield network
    finally:
        network.close()
