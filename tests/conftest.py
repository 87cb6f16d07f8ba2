"""Shared test configuration."""

import torch
from hypothesis import settings

# The tests train tiny networks: one thread is faster than two for them and
# keeps timings steady when the machine is shared.
torch.set_num_threads(1)

# Property-based tests draw the same examples on every run and machine: a
# failure is reproducible, and CI never fails on a draw nobody saw locally.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")
