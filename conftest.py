"""The shared fixtures (tests/fixtures.py) for every app's tests."""

pytest_plugins = ["tests.fixtures", "tests.storage", "tests.browser", "tests.workers"]
