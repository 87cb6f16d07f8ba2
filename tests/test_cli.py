"""The command line: fit, predict and evaluate on folders of audio files."""

import csv
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from _data import tone
from _dcase_layouts import (
    TUT_LABELS,
    write_chime_home,
    write_tut_development,
    write_tut_evaluation,
)
from sklearn.pipeline import make_pipeline

from sklearn_allconv import (
    GroupValidSplit,
    SceneClassifier,
    STFTTransformer,
    load_model,
    persistence,
    save_model,
)
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
    # --threshold: above 0 every tag is on, above 1 none.
    for threshold, expected_tags in [("0", "music;speech"), ("1", "")]:
        command = ["predict", str(model), str(tmp_path / "audio")]
        assert main([*command, "--threshold", threshold]) == 0
        rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
        assert {row["prediction"] for row in rows} == {expected_tags}


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
    out, err = capsys.readouterr()
    # Each epoch of each fold on standard error, as it ends.
    assert [line.split(",")[:2] for line in err.splitlines()] == [
        [task, f" fold {k}/4: epoch 1/1"]
        for task in ("Scenes", "Tags")
        for k in (1, 2, 3, 4)
    ]
    scenes, tags = out.split("Domestic tags (synthetic)")
    assert "Acoustic scenes (synthetic): 128 clips" in scenes
    assert "552 bins per frame; the network's features: 128 mel bands" in scenes
    header = next(line for line in scenes.splitlines() if "Network" in line)
    assert header.startswith("Acoustic scene ")
    assert "Logistic regression (mean spectrum)" in header
    assert "chance 0.125" in scenes
    # The floor is fitted on the mean log spectra of the magnitudes as recorded
    # (PAPER_FEATURES), not on the network's features: 55.5 % with seed 0,
    # where PCEN features would give 75.8 %. Each class has 16 clips, so one
    # clip more or less moves the average by 0.8 points.
    average = next(line for line in scenes.splitlines() if line.startswith("Average"))
    assert float(average.split()[1]) == pytest.approx(55.5, abs=1.6)
    rows = [line.split() for line in tags.splitlines()]
    eers = [float(row[-1]) for row in rows if row and row[0] == "Average"]
    assert len(eers) == 1 and 0 <= eers[0] <= 1
    assert "Done in" in out
    assert main(["demo", "--epochs", "1", "--device", "cpu", "-q"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out.splitlines()[0] == out.splitlines()[0]


class _FirstFit(Exception):
    pass


def test_demo_trains_scenes_with_the_library_defaults_and_the_locations(
    monkeypatch,
):
    seen = {}

    def first_fit(self, X, y, groups=None, **fit_params):
        seen.update(self.get_params(deep=False), groups=groups, n_clips=len(X))
        raise _FirstFit

    monkeypatch.setattr(SceneClassifier, "fit", first_fit)
    with pytest.raises(_FirstFit):
        main(["demo", "--device", "cpu", "-q"])
    defaults = SceneClassifier().get_params(deep=False)
    for name in ("recipe", "batch_size", "max_epochs", "callbacks", "augment"):
        assert seen[name] == defaults[name], name
    assert repr(seen["train_split"]) == repr(defaults["train_split"])
    # The fold's locations reach fit (the default split then holds out clips,
    # one that holds out groups would use them): 3 of 4 folds' worth.
    assert seen["groups"] is not None and len(seen["groups"]) == seen["n_clips"]
    assert len(set(seen["groups"])) == 24


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




@pytest.fixture
def mixed_folder(tmp_path):
    """Two classes in every format libsndfile writes, at 8 and 16 kHz.

    Besides: a stereo file per class (left and right channels at different
    pitches), one clip too short for the network (0.1 s) and a text file.
    """
    root = tmp_path / "mixed"
    formats = [
        ("a.wav", 8000, {}),
        ("b.flac", 16000, {}),
        ("c.ogg", 8000, {}),
        ("d.oga", 8000, {"format": "OGG"}),  # the suffix tells libsndfile nothing
        ("e.mp3", 16000, {}),
        ("f.wav", 8000, {}),
    ]
    for label, pitch in [("low", 300), ("high", 2000)]:
        (root / label).mkdir(parents=True)
        for seed, (name, rate, options) in enumerate(formats):
            soundfile.write(
                root / label / name, tone(pitch, rate=rate, seed=seed), rate, **options
            )
        # Left channel at the class pitch, right channel an octave below.
        left, right = tone(pitch, rate=8000), tone(pitch / 2, rate=8000, seed=9)
        stereo = np.stack([left, right], 1)
        soundfile.write(root / label / "stereo.wav", stereo, 8000)
    soundfile.write(root / "low" / "short.wav", tone(300, rate=8000, seconds=0.1), 8000)
    (root / "high" / "notes.txt").write_text("not audio\n")
    return root


def _lines_naming(text, path):
    return [line for line in text.splitlines() if str(path) in line]


@pytest.mark.parametrize("short_clips", ["error", "pad", "skip"])
def test_every_file_of_a_mixed_folder_is_used_or_reported_by_name(
    mixed_folder, tmp_path, capsys, short_clips
):
    model = tmp_path / "model.safetensors"
    short = mixed_folder / "low" / "short.wav"
    notes = mixed_folder / "high" / "notes.txt"
    command = ["fit", str(mixed_folder), str(model), *TRAINING, "--resample", "-q"]
    status = main([*command, "--short-clips", short_clips])
    captured = capsys.readouterr()
    if short_clips == "error":
        assert status == 2 and not model.exists()
        (line,) = captured.err.splitlines()
        assert str(short) in line and "0.100 s" in line
        assert "shorter than the network's minimum of 235 ms" in line
        assert "--short-clips pad" in line
        return
    assert status == 0
    # 15 audio files (WAV, FLAC, OGG as .ogg and .oga, MP3), at the rate most
    # of them have; the text file, and in skip mode the short clip, named.
    used = 15 if short_clips == "pad" else 14
    skipped = 1 if short_clips == "pad" else 2
    assert f"on {used} files ({skipped} skipped) at 8000 Hz" in captured.out
    assert "not an audio file" in _lines_naming(captured.err, notes)[0]
    assert bool(_lines_naming(captured.err, short)) == (short_clips == "skip")

    out = tmp_path / "predictions.csv"
    command = ["predict", str(model), str(mixed_folder), "-o", str(out)]
    assert main([*command, "--short-clips", short_clips]) == 0
    rows = {row["path"] for row in csv.DictReader(open(out))}
    audio = {
        str(path)
        for path in mixed_folder.rglob("*")
        if path.is_file() and path.suffix != ".txt"
        and (short_clips == "pad" or path != short)
    }
    assert rows == audio
    err = capsys.readouterr().err
    assert _lines_naming(err, notes)
    assert not _lines_naming(err, mixed_folder / "low" / "e.mp3")


def test_predict_names_a_short_clip_unless_told_what_to_do(
    mixed_folder, tmp_path, capsys
):
    model = tmp_path / "model.safetensors"
    fit = ["fit", str(mixed_folder), str(model), *TRAINING, "--resample", "-q"]
    assert main([*fit, "--short-clips", "skip"]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(mixed_folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing half-written
    assert str(mixed_folder / "low" / "short.wav") in _one_line_error_of(captured)


def _one_line_error_of(captured):
    (line,) = [line for line in captured.err.splitlines() if "error:" in line]
    assert "Traceback" not in captured.err
    return line


def test_mixed_sample_rates_need_resample(mixed_folder, tmp_path, capsys):
    command = ["fit", str(mixed_folder), str(tmp_path / "m.safetensors"), *TRAINING]
    assert main([*command, "--short-clips", "skip"]) == 2
    line = _one_line_error_of(capsys.readouterr())
    assert "different sample rates: 8000 Hz" in line and "16000 Hz" in line
    assert "--resample" in line


@pytest.mark.parametrize(
    ("channel", "left", "right"),
    [("left", True, False), ("right", False, True), ("mean", True, True)],
)
def test_channel_option_picks_the_channel_of_stereo_files(
    mixed_folder, tmp_path, capsys, channel, left, right
):
    stereo = mixed_folder / "high" / "stereo.wav"
    listing = tmp_path / "stereo.csv"
    rows = [
        (stereo, "high"),
        (mixed_folder / "low" / "stereo.wav", "low"),
        (mixed_folder / "low" / "a.wav", "low"),
        (mixed_folder / "high" / "f.wav", "high"),
    ]
    listing.write_text("".join(f"{path},{label}\n" for path, label in rows))
    model = tmp_path / "model.safetensors"
    command = ["fit", str(listing), str(model), *TRAINING, "--channel", channel, "-q"]
    assert main([*command, "--validation-fraction", "0", "--sample-rate", "8e3"]) == 0
    assert "on 4 files at 8000 Hz;" in capsys.readouterr().out
    stft = load_model(model)[0]
    # The spectrum the model sees of the stereo file, before PCEN flattens the
    # steady tones: the left channel is at 2000 Hz, the right at 1000 Hz (bins
    # of 40 Hz at 8 kHz).
    spectrum = stft.set_params(standardize=False, compression=None).fit_transform(
        [str(stereo)]
    )[0]
    power = spectrum.mean(axis=0)
    strong = power > 0.25 * power.max()
    assert (strong[50], strong[25]) == (left, right)


def test_fit_options_reach_the_estimator(
    class_folders, tmp_path, capsys, monkeypatch
):
    model = tmp_path / "model.safetensors"
    options = ["--lr", "0.01", "--validation-fraction", "0.25", "--patience", "4"]
    command = ["fit", str(class_folders), str(model), *TRAINING, *options]
    # Callbacks are run-time settings that model files do not keep: look at the
    # pipeline the command trained, as it is handed to save_model.
    trained = []
    save = persistence.save_model
    monkeypatch.setattr(
        persistence, "save_model", lambda m, path: (trained.append(m), save(m, path))
    )
    assert main([*command, "--seed", "3", "--device", "cpu"]) == 0
    # Without -q: one line per epoch on standard error.
    assert [line.split(",")[0] for line in capsys.readouterr().err.splitlines()] == [
        "fit: epoch 1/2",
        "fit: epoch 2/2",
    ]
    stft, clf = load_model(model)
    assert clf.lr == 0.01 and clf.random_state == 3 and clf.batch_size == 4
    assert clf.train_split.valid_size == 0.25
    assert clf.train_split.hold_out == SceneClassifier().train_split.hold_out
    early_stopping = dict(trained[0][-1].callbacks_)["early_stopping"]
    assert early_stopping.patience == 4
    assert stft.normalize == "rms" and stft.compression == "pcen"
    assert clf.recipe == "default"


def test_fit_with_the_papers_recipe_uses_its_features_too(class_folders, tmp_path):
    model = tmp_path / "model.safetensors"
    command = ["fit", str(class_folders), str(model), *TRAINING, "--recipe", "paper"]
    assert main([*command, "-q", "--device", "cpu"]) == 0
    stft, clf = load_model(model)
    # The paper's magnitudes as recorded, and its batch size and patiences.
    assert stft.normalize is None and stft.compression is None
    assert clf.recipe == "paper"
    # As in reproduce: the best epoch is restored, recordings are held out.
    assert repr(clf.train_split) == repr(
        GroupValidSplit(0.2, stratified=True, hold_out="groups")
    )


def test_evaluate_prints_and_writes_confusion_matrix_and_report(
    class_folders, tmp_path, capsys
):
    model = tmp_path / "model.safetensors"
    assert main(["fit", str(class_folders), str(model), *TRAINING, "-q"]) == 0
    capsys.readouterr()
    folder = tmp_path / "evaluation"
    assert main(["evaluate", str(model), str(class_folders), "-o", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Confusion matrix" in out and "precision" in out
    matrix = list(csv.reader(open(folder / "confusion_matrix.csv")))
    assert matrix[0] == ["true \\ predicted", "high", "low"]
    counts = np.array([[int(v) for v in row[1:]] for row in matrix[1:]])
    assert counts.sum(axis=1).tolist() == [6, 6]  # every file, by its true class
    predicted = load_model(model).predict(
        [str(p) for p in sorted((class_folders / "high").iterdir())]
    )
    assert counts[0, 0] == np.sum(predicted == "high")
    report = list(csv.DictReader(open(folder / "report.csv")))
    assert [row["class"] for row in report][:2] == ["high", "low"]
    assert [float(row["support"]) for row in report][:2] == [6, 6]
    assert (folder / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "command",
    [
        ["fit", "{tmp}/nowhere", "{tmp}/m.safetensors"],
        ["fit", "{tmp}/only_text", "{tmp}/m.safetensors"],
        ["predict", "{tmp}/not_a_model.safetensors", "{tmp}/only_text"],
        ["predict", "{tmp}/missing.safetensors", "{tmp}/only_text"],
        ["evaluate", "{tmp}/not_a_model.safetensors", "{tmp}/only_text"],
    ],
    ids=["missing data", "no audio", "bad model file", "missing model", "evaluate"],
)
def test_input_errors_exit_2_with_one_line_and_no_traceback(tmp_path, capsys, command):
    (tmp_path / "only_text" / "a").mkdir(parents=True)
    (tmp_path / "only_text" / "a" / "readme.txt").write_text("hello\n")
    (tmp_path / "not_a_model.safetensors").write_text("hello\n")
    assert main([arg.format(tmp=tmp_path) for arg in command]) == 2
    captured = capsys.readouterr()
    line = _one_line_error_of(captured)
    assert line.startswith(f"sklearn-allconv {command[0]}: error: ")
    assert captured.out == ""


@pytest.mark.slow
def test_the_installed_command_exits_2_on_an_input_error(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_allconv", "predict", "model.safetensors", "x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert "model.safetensors" in completed.stderr


@pytest.mark.slow
def test_help_does_not_import_the_heavy_libraries():
    code = (
        "import sys\n"
        "from sklearn_allconv.cli import main\n"
        "try:\n    main(['fit', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'skorch', 'librosa', "
        "'soundfile', 'numpy') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.splitlines()[-1] == "[]"


def test_rates_print_in_whole_hertz(class_folders, tmp_path, capsys):
    # A model saved from Python with a float rate, and a file at another rate.
    pipe = make_pipeline(
        STFTTransformer(sample_rate=8000.0),
        SceneClassifier(max_epochs=1, module__n_filters=4, train_split=None),
    )
    paths = sorted(class_folders.rglob("*.wav"))
    pipe.fit([str(path) for path in paths], [path.parent.name for path in paths])
    save_model(pipe, tmp_path / "model.safetensors")
    _write_clip(tmp_path / "16k.wav", 300, np.random.default_rng(3), 16000)
    model, clip = tmp_path / "model.safetensors", tmp_path / "16k.wav"
    assert main(["predict", str(model), str(clip)]) == 2
    line = _one_line_error_of(capsys.readouterr())
    assert "not at 8000 Hz" in line and "16k.wav (16000 Hz)" in line
    assert ".0 Hz" not in line


def test_predict_in_chunks_writes_what_predict_at_once_writes(
    class_folders, tmp_path, capsys
):
    model = tmp_path / "scenes.safetensors"
    assert main(["fit", str(class_folders), str(model), *TRAINING]) == 0
    outputs = []
    for chunk_size in ("5", "1000"):
        out = tmp_path / f"chunks-{chunk_size}.csv"
        command = ["predict", str(model), str(class_folders), "-o", str(out)]
        assert main([*command, "--chunk-size", chunk_size]) == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == 13
