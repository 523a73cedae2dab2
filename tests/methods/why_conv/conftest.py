import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """The trainings here are small: one thread is as fast, and leaves the other core to the rest."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
