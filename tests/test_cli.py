"""The command line: fit, predict and evaluate on folders of audio files."""

import csv
import re

import numpy as np
import pytest
import soundfile
from _dcase_layouts import (
    TUT_LABELS,
    write_chime_home,
    write_tut_development,
    write_tut_evaluation,
)

from sklearn_allconv import SceneClassifier, load_model, save_model
from sklearn_allconv.cli import main
from sklearn_allconv.datasets import DOMESTIC_TAG_LABELS

RATE = 8000
TRAINING = ["--epochs", "2", "--n-filters", "8", "--batch-size", "4"]


def _write_clip(path, pitch, rng, rate=RATE):
    t = np.arange(int(0.5 * rate)) / rate
    clip = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, clip.astype(np.float32), rate)


@pytest.fixture
def class_folders(tmp_path):
    rng = np.random.default_rng(0)
    for label, pitch in [("low", 300), ("high", 2000)]:
        for i in range(6):
            _write_clip(tmp_path / "data" / label / f"{i}.wav", pitch, rng)
    return tmp_path / "data"


def test_fit_predict_evaluate_on_a_class_per_folder_tree(
    class_folders, tmp_path, capsys
):
    model = tmp_path / "scenes.safetensors"
    assert main(["fit", str(class_folders), str(model), *TRAINING]) == 0
    assert model.is_file()
    out = tmp_path / "predictions.csv"
    capsys.readouterr()
    assert main(["predict", str(model), str(class_folders), "-o", str(out), "-v"]) == 0
    assert "STFT" in capsys.readouterr().err  # -v: the feature progress bar
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 12
    assert set(rows[0]) == {"path", "prediction", "high", "low"}
    for row in rows:
        assert float(row["high"]) + float(row["low"]) == pytest.approx(1, abs=1e-5)
    # The labels are those of the saved pipeline's own predict.
    expected = load_model(model).predict([row["path"] for row in rows])
    assert [row["prediction"] for row in rows] == list(expected)
    assert main(["evaluate", str(model), str(class_folders)]) == 0
    table = capsys.readouterr().out
    assert "high" in table and "low" in table and "Average" in table


def test_fit_on_a_csv_of_tags_trains_a_tagger(tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(8):
        tags = ["speech", "music"][: i % 3]
        _write_clip(tmp_path / "audio" / f"{i}.wav", 200 + 300 * len(tags), rng)
        rows.append(f"audio/{i}.wav,{';'.join(tags)}")
    listing = tmp_path / "tags.csv"
    listing.write_text("path,label\n" + "\n".join(rows) + "\n")
    model = tmp_path / "tags.safetensors"
    assert main(["fit", str(listing), str(model), *TRAINING]) == 0
    assert "tagger" in capsys.readouterr().out
    assert main(["evaluate", str(model), str(listing)]) == 0
    assert "EER" in capsys.readouterr().out
    assert main(["predict", str(model), str(tmp_path / "audio")]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert set(rows[0]) == {"path", "prediction", "music", "speech"}
    expected = load_model(model).predict([row["path"] for row in rows])
    for row, tags in zip(rows, expected, strict=True):
        named = {tag for tag, on in zip(["music", "speech"], tags, strict=True) if on}
        assert set(filter(None, row["prediction"].split(";"))) == named


def _one_line_error(capsys):
    """The error line of a command that failed with status 2."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_wrong_paths_and_mixed_sample_rates_give_clear_errors(
    class_folders, tmp_path, capsys
):
    status = main(["fit", str(tmp_path / "nowhere"), str(tmp_path / "m.safetensors")])
    assert status == 2
    assert "does not exist" in _one_line_error(capsys)
    _write_clip(class_folders / "low" / "odd.wav", 300, np.random.default_rng(2), 16000)
    assert main(["fit", str(class_folders), str(tmp_path / "m.safetensors")]) == 2
    assert re.search(
        "different sample rates: 8000 Hz.*16000 Hz", _one_line_error(capsys)
    )


def test_predict_refuses_a_model_that_does_not_read_audio(
    class_folders, tmp_path, capsys
):
    X = np.empty(6, dtype=object)
    X[:] = [np.random.default_rng(i).standard_normal((20, 5)) for i in range(6)]
    clf = SceneClassifier(max_epochs=1, module__n_filters=4, train_split=None)
    save_model(clf.fit(X, ["a", "b"] * 3), tmp_path / "bare.safetensors")
    command = ["predict", str(tmp_path / "bare.safetensors"), str(class_folders)]
    assert main(command) == 2
    assert "holds a SceneClassifier, not an STFT" in _one_line_error(capsys)
    # --debug shows the error as Python raised it, traceback and all.
    with pytest.raises(ValueError, match=r"holds a SceneClassifier, not an STFT"):
        main([*command, "--debug"])


def test_help_explains_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("demo", "reproduce", "fit", "predict", "evaluate"):
        assert command in text


def test_demo_cross_validates_both_tasks_on_the_built_in_data(capsys):
    assert main(["demo", "--epochs", "1", "--device", "cpu", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    scenes, tags = out.split("Domestic tags (synthetic)")
    assert "Acoustic scenes (synthetic): 128 clips" in scenes
    assert "552 bins per frame" in scenes
    header = next(line for line in scenes.splitlines() if "Network" in line)
    assert header.startswith("Acoustic scene ")
    assert "Logistic regression (mean spectrum)" in header
    assert "chance 0.125" in scenes
    rows = [line.split() for line in tags.splitlines()]
    eers = [float(row[-1]) for row in rows if row and row[0] == "Average"]
    assert len(eers) == 1 and 0 <= eers[0] <= 1
    assert "Done in" in out


def test_fit_and_evaluate_on_dcase_2016_dataset_folders(tmp_path, capsys):
    scenes = write_tut_development(tmp_path / "tut")
    model = tmp_path / "scenes.safetensors"
    assert main(["fit", str(scenes), str(model), *TRAINING]) == 0
    assert "scene classifier on 24 files at 44100 Hz" in capsys.readouterr().out
    assert list(load_model(model).classes_) == sorted(TUT_LABELS)
    # The folder that holds the data set folder works too, as in the loaders.
    assert main(["evaluate", str(model), str(tmp_path / "tut")]) == 0
    table = capsys.readouterr().out
    assert all(label in table for label in TUT_LABELS)
    evaluation = write_tut_evaluation(tmp_path / "tut_eval")
    command = ["evaluate", str(model), str(evaluation), "--subset", "evaluation"]
    assert main(command) == 0
    assert "Average" in capsys.readouterr().out

    tags = write_chime_home(tmp_path / "chime")
    model = tmp_path / "tags.safetensors"
    assert main(["fit", str(tags), str(model), *TRAINING]) == 0
    assert "tagger on 10 files at 16000 Hz" in capsys.readouterr().out
    assert list(load_model(model).classes_) == sorted(DOMESTIC_TAG_LABELS)
    assert main(["evaluate", str(model), str(tags)]) == 0
    assert "EER" in capsys.readouterr().out
