import plugin_app
import pytest


@pytest.fixture
def procrastinate_base_app():
    plugin_app.CALLS.clear()
    return plugin_app.app
