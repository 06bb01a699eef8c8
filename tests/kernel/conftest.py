import os
import shutil
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import Lan


@pytest.fixture
def lan() -> Iterator[Lan]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for network namespaces")
    network = Lan()
    try:
        yield network
    finally:
        network.close()
