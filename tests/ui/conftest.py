import pytest

from cnnviz.ui import background, slides


@pytest.fixture(autouse=True)
def _background_jobs_stopped():
    """A view that starts long work (a why-convolutions experiment, an attack sweep) or a deck that warms up
    its later slides leaves jobs running in this process when its test ends: stopped here, so they do not
    compete with the next tests for the two cores."""
    yield
    slides.stop_warm_ups()
    background.stop_all_tables()
