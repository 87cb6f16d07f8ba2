"""Progress output: shown when asked for, silent by default and in cross-validation."""

import sys

import numpy as np
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline
from skorch.callbacks import ProgressBar

from sklearn_allconv import GroupValidSplit, SceneClassifier, STFTTransformer

RATE = 8000


def _clips(n=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(RATE // 2) / RATE
    clips, y = [], []
    for i in range(n):
        pitch = 300 if i % 2 else 2000
        clips.append(np.sin(2 * np.pi * pitch * t) + 0.1 * rng.standard_normal(t.size))
        y.append("high" if pitch > 1000 else "low")
    return clips, np.array(y), np.arange(n) // 2


def _classifier(**params):
    return SceneClassifier(
        max_epochs=2,
        batch_size=4,
        module__n_filters=4,
        train_split=None,
        random_state=0,
        **params,
    )


def test_stft_progress_bar_only_when_verbose(capsys):
    clips, _, _ = _clips()
    STFTTransformer(sample_rate=RATE).fit_transform(clips)
    quiet = capsys.readouterr()
    assert quiet.out == quiet.err == ""
    STFTTransformer(sample_rate=RATE, verbose=1).fit_transform(clips)
    err = capsys.readouterr().err
    assert "STFT" in err
    assert f"{len(clips)}/{len(clips)}" in err


def test_epoch_table_only_when_verbose(capsys):
    clips, y, _ = _clips()
    X = STFTTransformer(sample_rate=RATE).fit_transform(clips)
    _classifier().fit(X, y)
    quiet = capsys.readouterr()
    assert quiet.out == quiet.err == ""
    _classifier(verbose=1).fit(X, y)
    table = capsys.readouterr().out.splitlines()
    assert "epoch" in table[0]
    assert "train_loss" in table[0]
    assert [line.split()[0] for line in table[2:]] == ["1", "2"]


def test_batch_progress_bar_from_skorch_callback(capsys):
    clips, y, _ = _clips()
    X = STFTTransformer(sample_rate=RATE).fit_transform(clips)
    clf = _classifier(callbacks=[("progress", ProgressBar())]).fit(X, y)
    err = capsys.readouterr().err
    # One bar per epoch over its 3 batches (12 clips in batches of 4); skorch
    # clears each bar when its epoch ends.
    assert err.count("0/3 [") == 2
    # The default callbacks (plateau, early stopping, checkpoint) are still there.
    names = [name for name, _ in clf.callbacks_]
    assert {"progress", "lr_plateau", "early_stopping", "checkpoint"} <= set(names)


def test_cross_validation_is_silent(capsys):
    clips, y, groups = _clips()
    pipe = Pipeline(
        [("stft", STFTTransformer(sample_rate=RATE)), ("clf", _classifier())]
    )
    scores = cross_val_score(pipe, clips, y, groups=groups, cv=GroupKFold(2))
    assert scores.shape == (2,)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_epoch_table_has_no_colour_codes_in_a_redirected_log(capsys, monkeypatch):
    clips, y, _ = _clips()
    X = STFTTransformer(sample_rate=RATE).fit_transform(clips)
    split = GroupValidSplit(0.25)
    _classifier(verbose=1).set_params(train_split=split).fit(X, y)
    table = capsys.readouterr().out
    assert "valid_loss" in table and "\x1b[" not in table
    # On a terminal the best losses are coloured, as in skorch.
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    _classifier(verbose=1).set_params(train_split=split).fit(X, y)
    assert "\x1b[" in capsys.readouterr().out


def test_checkpoint_folder_is_named_before_the_epoch_table(capsys, tmp_path):
    clips, y, _ = _clips()
    X = STFTTransformer(sample_rate=RATE).fit_transform(clips)
    clf = _classifier(
        verbose=1,
        callbacks__checkpoint__dirname=tmp_path,
        callbacks__checkpoint__min_interval_s=0,
        callbacks__checkpoint__keep=True,
    ).fit(X, y)
    out, err = capsys.readouterr()
    # Before the table starts, on standard error: the table stays whole.
    folder = dict(clf.callbacks_)["checkpoint"].dirname_
    assert err.startswith(f"Checkpoints of this fit go to {folder} ")
    header, rule, *rows = out.splitlines()
    assert header.split()[0] == "epoch" and set(rule) <= {"-", " "}
    assert [row.split()[0] for row in rows] == ["1", "2"]
