import pytest

import plugin_app


@pytest.fixture
def procrastinate_base_app():
    plugin_app.CALLS.clear()
    return plugin_app.app
