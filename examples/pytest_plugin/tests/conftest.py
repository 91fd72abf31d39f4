import pytest

from mailing import tasks


@pytest.fixture
def procrastinate_base_app():
    """Our app: the procrastinate_app fixture binds it to a throwaway database."""
    return tasks.app


@pytest.fixture(autouse=True)
def empty_outbox():
    tasks.OUTBOX.clear()
