"""
Where in a clip a tag is heard: frame-level tag activity
========================================================

A tagger is trained on whole clips with one set of tags per clip, yet its
output layer is linear and its pooling a mean: before the pooling, the network
scores every output frame. :meth:`~sklearn_allconv.AudioTagger.predict_proba_frames`
returns these frame probabilities with the time of each frame (the centre of
the audio it sees), so a clip-level tagger also tells *when* a tag is active.

The clips here are noise with two kinds of events at random times: beeps (a
1.2 kHz tone) and knocks (short broadband bursts). The tagger learns from the
clip labels only; the figure shows a new clip's spectrogram and, under it,
the frame-level probability of each tag against the true event times.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_allconv import AudioTagger, STFTTransformer

RATE = 8000
rng = np.random.default_rng(0)


def make_clip(beeps, knocks, seconds=3.0):
    """Noise with 150 ms beeps and 40 ms knocks starting at the given times."""
    t = np.arange(int(seconds * RATE)) / RATE
    clip = 0.05 * rng.standard_normal(len(t))
    for start in beeps:
        on = (t >= start) & (t < start + 0.15)
        clip[on] += 0.4 * np.sin(2 * np.pi * 1200 * t[on])
    for start in knocks:
        on = (t >= start) & (t < start + 0.04)
        clip[on] += 0.6 * rng.standard_normal(on.sum())
    return clip.astype(np.float32)


clips, tags = [], []
for _ in range(120):
    has_beep, has_knock = rng.random(2) < 0.5
    beeps = rng.uniform(0, 2.8, 2) if has_beep else []
    knocks = rng.uniform(0, 2.9, 2) if has_knock else []
    clips.append(make_clip(beeps, knocks))
    tags.append(["beep"] * int(has_beep) + ["knock"] * int(has_knock))

# %%
# Train a small tagger on the clip labels.
stft = STFTTransformer(sample_rate=RATE)
features = stft.fit_transform(clips)
tagger = AudioTagger(
    max_epochs=15, module__n_filters=32, train_split=None, random_state=0
).fit(features, tags)

# %%
# A new clip: a beep at 0.6 s, knocks at 1.5 s and 2.4 s.
beeps, knocks = [0.6], [1.5, 2.4]
clip = make_clip(beeps, knocks)
frames = stft.transform([clip])
proba, times = tagger.predict_proba_frames(
    frames, hop_ms=stft.hop_ms, window_ms=stft.window_ms
)
proba, times = proba[0], times[0]

magnitudes = STFTTransformer(
    sample_rate=RATE, standardize=False, compression=None
).fit_transform([clip])
fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
duration = len(clip) / RATE
top.imshow(
    20 * np.log10(magnitudes[0].T + 1e-6),
    origin="lower",
    aspect="auto",
    extent=[0, duration, 0, RATE / 2],
    cmap="magma",
)
top.set_ylabel("frequency (Hz)")
top.set_title("spectrogram and frame-level tag probabilities")
for index, name in enumerate(tagger.classes_):
    bottom.plot(times, proba[:, index], "o-", label=name)
for start in beeps:
    bottom.axvspan(start, start + 0.15, color="C0", alpha=0.2)
for start in knocks:
    bottom.axvspan(start, start + 0.04, color="C1", alpha=0.3)
bottom.set_xlabel("time (s): centre of each output frame's 235 ms of audio")
bottom.set_ylabel("probability")
bottom.set_ylim(0, 1)
bottom.legend(loc="upper right")
fig.tight_layout()
plt.show()

# %%
# The clip-level probabilities are the sigmoid of the mean of the frame
# logits (mean pooling); the frames, 120 ms apart, show where each tag is.
clip_proba = tagger.predict_proba(frames)[0]
print(dict(zip(tagger.classes_, clip_proba.round(3).tolist(), strict=True)))
