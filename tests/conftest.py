"""What every suite under tests/ shares: the markers, registered here because suites import each other's tests
(tests/k8s runs the e2e walk)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stops_platform: stops the shared platform; runs last among its tests")
