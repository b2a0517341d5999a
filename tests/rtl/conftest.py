"""RTL tests run on Icarus. Tests marked `verilator` are deselected (not skipped) unless
BNNCC_VERILATOR=1 selects them; they need verilator >= 5.4 on PATH."""

import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "verilator: runs the RTL on Verilator; selected by BNNCC_VERILATOR=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("BNNCC_VERILATOR") == "1":
        return
    deselected = [i for i in items if i.get_closest_marker("verilator")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if not i.get_closest_marker("verilator")]


@pytest.fixture
def simulator(request) -> str:
    return "verilator" if request.node.get_closest_marker("verilator") else "icarus"
