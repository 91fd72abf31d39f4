import pytest

from fastapi_example.tasks import app


@pytest.fixture
def procrastinate_base_app():
    """The app the procrastinate_app fixture binds to a throwaway database."""
    return app
