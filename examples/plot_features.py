"""
What the standardized STFT features look like
=============================================

:class:`~sklearn_allconv.STFTTransformer` computes the paper's STFT
magnitudes, with a 25 ms periodic Hann window and a 15 ms hop (201 bins at
16 kHz). By default, outside the paper, it then divides each clip by its RMS
level, pools the bins into 128 mel bands and compresses them with per-channel
energy normalization (PCEN); last, it standardizes each band with its mean and
standard deviation over all frames of the training clips.
``STFTTransformer(**PAPER_FEATURES)`` gives the paper's features: the
standardized magnitudes of the linear bins as recorded.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_allconv import STFTTransformer
from sklearn_allconv.datasets import DOMESTIC_TAG_LABELS, make_domestic_tags
from sklearn_allconv.features import PAPER_FEATURES

clips, Y, segments = make_domestic_tags(random_state=0)
magnitudes = STFTTransformer(
    sample_rate=16000, standardize=False, **PAPER_FEATURES
).fit_transform(clips)
standardized = STFTTransformer(sample_rate=16000).fit_transform(clips)

# %%
# The raw magnitudes span several orders of magnitude and are dominated by the
# low bins. The mel bands are narrow at low frequencies and wide at high ones,
# so 128 bands keep the low bins' detail and average the high ones. PCEN
# divides each band by its own recent average, which keeps onsets and events
# and flattens steady backgrounds; after standardization every band has zero
# mean and unit variance over the training frames, so all frequencies enter
# the first layer on one scale.
index = 0
tags = ", ".join(np.asarray(DOMESTIC_TAG_LABELS)[Y[index] == 1]) or "no tag"
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, features, title in [
    (axes[0], np.log10(magnitudes[index] + 1e-6), "log10 STFT magnitude"),
    (axes[1], standardized[index], "default features (mel, PCEN, standardized)"),
]:
    image = ax.imshow(features.T, origin="lower", aspect="auto", cmap="magma")
    ax.set_title(title)
    ax.set_xlabel("frame (15 ms hop)")
    fig.colorbar(image, ax=ax)
axes[0].set_ylabel("frequency bin (40 Hz each)")
axes[1].set_ylabel("mel band")
fig.suptitle(f"Clip {index}: {tags}")
fig.tight_layout()
plt.show()
