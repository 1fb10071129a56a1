"""bench/wedge_hunt.py --quick: two Redis faults (a 1 s freeze, a kill and empty restart) on a
stack of its own, each followed by a new task that must complete, so that the hunt does not rot."""

from __future__ import annotations

import pytest

from tests.conftest import IN_CI
from tests.integration.stack import bench_quick, missing_parts

pytestmark = pytest.mark.integration


def test_the_wedge_hunt_recovers_every_cycle() -> None:
    if why := missing_parts():
        if IN_CI:
            pytest.fail(f"the wedge hunt must run in CI: {why}")
        pytest.skip(why)
    run = bench_quick("wedge_hunt.py")
    lines = run.stdout.splitlines()
    (total,) = [line for line in lines if line.startswith("all ")]
    count, wedges, recovered = (int(n) for n in total.split()[1:4])
    assert count == 2, run.stdout[-2000:]
    assert wedges == recovered, run.stdout[-2000:]
