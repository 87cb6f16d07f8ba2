"""
Why masked global pooling makes predictions batch-independent
=============================================================

A mini-batch of variable-length clips is zero-padded to its longest clip. If
the global pooling averaged over all frames, a short clip's output would
depend on how much padding its batch-mates force on it. The network is told
each clip's valid length instead: its convolutions are unpadded, batch
normalization and pooling use valid frames only, so padding changes nothing.

This example pads one clip by more and more frames and compares the network's
class probabilities with those of the unpadded clip, once with the valid length
(masked) and once treating the padding as audio (unmasked).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from sklearn_allconv import AllConvNet

torch.manual_seed(0)
net = AllConvNet(n_bins=201, n_outputs=7, n_filters=64).eval()
clip = torch.randn(1, 60, 201)  # 60 frames: 0.9 s at a 15 ms hop

# %%
# Pad the clip with up to 600 zero frames, as a batch-mate ten times longer would.
paddings = np.arange(0, 601, 40)
with torch.no_grad():
    reference = net(clip).softmax(dim=1)
    masked, unmasked = [], []
    for padding in paddings:
        padded = torch.nn.functional.pad(clip, (0, 0, 0, int(padding)))
        with_lengths = net(padded, lengths=torch.tensor([60])).softmax(dim=1)
        without = net(padded).softmax(dim=1)
        masked.append((with_lengths - reference).abs().max().item())
        unmasked.append((without - reference).abs().max().item())

# %%
# With the mask, the probabilities do not move (differences are float rounding);
# without it they drift towards the network's output for silence.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(paddings, unmasked, "o-", label="all frames pooled (no mask)")
ax.plot(paddings, masked, "s-", label="masked pooling (valid frames only)")
ax.set_xlabel("zero frames appended to a 60-frame clip")
ax.set_ylabel("largest change of a class probability")
ax.legend()
fig.tight_layout()
plt.show()
