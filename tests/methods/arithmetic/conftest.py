import pytest
import torch


@pytest.fixture
def single_thread():
    """Tiny tensors: thread start-up would dominate (and the test machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
