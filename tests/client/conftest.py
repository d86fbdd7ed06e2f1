"""Client tests run against real servers of both kinds; see harness.py."""

from tests.client.harness import hosts, pytest_pyfunc_call, root, server  # noqa: F401


def pytest_configure(config):  # noqa: ANN001, ANN201
    config.addinivalue_line("markers", "async_timeout(seconds): time bound of an async test")
