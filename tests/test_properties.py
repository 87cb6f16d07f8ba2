"""Properties that must hold for any data: hypothesis draws the cases.

Batch independence of the network itself is tested in ``test_network.py``
(``test_eval_output_of_a_clip_does_not_depend_on_its_batch_or_padding``) and
the invariance of the EER to strictly monotone transforms of the scores in
``test_metrics.py`` (``test_eer_is_invariant_to_strictly_monotone_score_
transforms``); here the same guarantees are checked end to end, through the
estimators and the transformer. Examples are derandomized so that CI is
repeatable.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_allconv import AudioTagger, SceneClassifier, STFTTransformer

N_BINS = 8
PROPERTY = settings(max_examples=15, deadline=None, derandomize=True)
# Zero-padding to a longer batch changes which float32 operations the
# convolutions run, so results agree to rounding, not to the bit.
ATOL = 1e-6


@cache
def _fitted(kind: str):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(rng.integers(15, 60)), N_BINS)).astype(np.float32)
         for _ in range(24)]
    params = {"max_epochs": 3, "batch_size": 8, "module__n_filters": 8,
              "lr": 0.01, "random_state": 0}
    if kind == "scenes":
        return SceneClassifier(**params).fit(X, ["a", "b", "c"] * 8)
    return AudioTagger(**params).fit(X, (rng.random((24, 3)) < 0.5).astype(int))


def _clips(lengths, seed):
    rng = np.random.default_rng(seed)
    X = np.empty(len(lengths), dtype=object)
    for i, n in enumerate(lengths):
        X[i] = rng.standard_normal((n, N_BINS)).astype(np.float32)
    return X


clip_lengths = st.lists(st.integers(15, 80), min_size=1, max_size=10)
kinds = st.sampled_from(["scenes", "tags"])


@PROPERTY
@given(
    kind=kinds,
    lengths=clip_lengths,
    batch_size=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_a_clips_probabilities_do_not_depend_on_the_clips_predicted_with_it(
    kind, lengths, batch_size, seed
):
    estimator = _fitted(kind)
    X = _clips(lengths, seed)
    estimator.set_params(batch_size=96)
    alone = np.concatenate([estimator.predict_proba(X[[i]]) for i in range(len(X))])
    estimator.set_params(batch_size=batch_size)
    together = estimator.predict_proba(X)
    np.testing.assert_allclose(together, alone, rtol=0, atol=ATOL)


@PROPERTY
@given(kind=kinds, lengths=clip_lengths, data=st.data())
def test_predictions_follow_the_clips_when_their_order_changes(kind, lengths, data):
    estimator = _fitted(kind).set_params(batch_size=4)
    X = _clips(lengths, seed=len(lengths))
    order = np.array(data.draw(st.permutations(range(len(X)))))
    np.testing.assert_allclose(
        estimator.predict_proba(X[order]),
        estimator.predict_proba(X)[order],
        rtol=0,
        atol=ATOL,
    )
    np.testing.assert_array_equal(
        estimator.predict(X[order]), estimator.predict(X)[order]
    )


@PROPERTY
@given(
    lengths=st.lists(st.integers(400, 4000), min_size=2, max_size=8),
    data=st.data(),
)
def test_stft_statistics_do_not_depend_on_the_order_of_the_clips(lengths, data):
    rng = np.random.default_rng(len(lengths))
    clips = [rng.standard_normal(n).astype(np.float32) * rng.uniform(0.1, 2)
             for n in lengths]
    order = data.draw(st.permutations(range(len(clips))))
    forward = STFTTransformer(sample_rate=16000).fit(clips)
    shuffled = STFTTransformer(sample_rate=16000).fit([clips[i] for i in order])
    assert forward.n_frames_seen_ == shuffled.n_frames_seen_
    np.testing.assert_allclose(shuffled.mean_, forward.mean_, rtol=1e-10)
    np.testing.assert_allclose(shuffled.scale_, forward.scale_, rtol=1e-10)
