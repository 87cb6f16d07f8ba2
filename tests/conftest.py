"""Shared test configuration."""

import torch

# The tests train tiny networks: one thread is faster than two for them and
# keeps timings steady when the machine is shared.
torch.set_num_threads(1)
