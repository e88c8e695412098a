"""A fixture for the end-to-end training tests."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """Run torch single-threaded: far faster on a few shared CPU cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
