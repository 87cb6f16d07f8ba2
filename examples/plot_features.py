"""
What the standardized STFT features look like
=============================================

:class:`~sklearn_allconv.STFTTransformer` computes the paper's features: STFT
magnitudes with a 25 ms periodic Hann window and a 15 ms hop (201 bins at
16 kHz), then standardizes each frequency bin with its mean and standard
deviation over all frames of the training clips.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_allconv import STFTTransformer
from sklearn_allconv.datasets import DOMESTIC_TAG_LABELS, make_domestic_tags

clips, Y, segments = make_domestic_tags(random_state=0)
magnitudes = STFTTransformer(sample_rate=16000, standardize=False).fit_transform(clips)
standardized = STFTTransformer(sample_rate=16000).fit_transform(clips)

# %%
# The raw magnitudes span several orders of magnitude and are dominated by the
# low bins; after standardization every bin has zero mean and unit variance over
# the training frames, so all frequencies enter the first layer on one scale.
index = 0
tags = ", ".join(np.asarray(DOMESTIC_TAG_LABELS)[Y[index] == 1]) or "no tag"
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
for ax, features, title in [
    (axes[0], np.log10(magnitudes[index] + 1e-6), "log10 STFT magnitude"),
    (axes[1], standardized[index], "standardized magnitude"),
]:
    image = ax.imshow(features.T, origin="lower", aspect="auto", cmap="magma")
    ax.set_title(title)
    ax.set_xlabel("frame (15 ms hop)")
    fig.colorbar(image, ax=ax)
axes[0].set_ylabel("frequency bin (40 Hz each)")
fig.suptitle(f"Clip {index}: {tags}")
fig.tight_layout()
plt.show()
