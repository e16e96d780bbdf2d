"""Fixtures: the simulator process (one per test module, reset for each test) and a forward sink.

Test modules load them with `pytest_plugins = ["tests.simulator_fixtures"]`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.simulator_support import SimulatorProcess, Sink


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    process = SimulatorProcess(tmp_path_factory.mktemp("simulator") / "simulator.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def sim(sim_process: SimulatorProcess) -> SimulatorProcess:
    """The module's simulator, reset to an empty world without a request limit (tests that need it set one)."""
    sim_process.reset()
    return sim_process


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    server.start()
    yield server
    server.stop()
