"""The reproduction of Tables 2 and 3, end to end on tiny copies of the datasets.

The network is tiny and trains for a single epoch: these tests check the flow,
the folds and the table layout, not the figures.
"""

import io
import json

import numpy as np
import pytest
from _dcase_layouts import TUT_LABELS, write_chime_home, write_tut_development

from sklearn_allconv import (
    AudioTagger,
    GroupValidSplit,
    SceneClassifier,
    STFTTransformer,
    datasets,
)
from sklearn_allconv.baseline import GMMSceneClassifier, GMMTagger
from sklearn_allconv.cli import main
from sklearn_allconv.datasets import load_chime_home, load_tut_acoustic_scenes_2016
from sklearn_allconv.reproduce import display_name, reproduce_table

TINY = {
    "max_epochs": 1,
    "network_params": {"module__n_filters": 4},
    "baseline_params": {"n_components": 2, "init_params": "k-means++"},
}


def _run_recording_fits(tmp_path, task, root, classes):
    """Run reproduce_table while recording the targets each system trains on."""
    seen = {"Baseline": [], "Network": []}
    splits = []
    with pytest.MonkeyPatch.context() as patch:
        for system, cls in zip(seen, classes, strict=True):
            original = cls.fit

            def fit(self, X, y, *args, _original=original, _seen=seen[system], **kw):
                _seen.append(np.asarray(y).copy())
                splits.append(repr(getattr(self, "train_split", None)))
                return _original(self, X, y, *args, **kw)

            patch.setattr(cls, "fit", fit)
        seen["train_split"] = splits
        # The features each network trains on: the paper's, neither normalized
        # nor compressed.
        normalize = seen.setdefault("normalize", [])
        stft_fit = STFTTransformer.fit_transform

        def record_stft(self, *args, **kw):
            normalize.append((self.normalize, self.compression))
            return stft_fit(self, *args, **kw)

        patch.setattr(STFTTransformer, "fit_transform", record_stft)
        printed = io.StringIO()
        result = reproduce_table(
            task, root, output=tmp_path / "out", file=printed, **TINY
        )
    return result, printed.getvalue(), seen


@pytest.fixture(scope="module")
def scenes_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("scenes")
    root = write_tut_development(tmp_path)
    result, printed, seen = _run_recording_fits(
        tmp_path, "scenes", root, (GMMSceneClassifier, SceneClassifier)
    )
    return load_tut_acoustic_scenes_2016(root), result, printed, seen


@pytest.fixture(scope="module")
def tags_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("tags")
    root = write_chime_home(tmp_path)
    result, printed, seen = _run_recording_fits(
        tmp_path, "tags", root, (GMMTagger, AudioTagger)
    )
    return load_chime_home(root), result, printed, seen


def test_scenes_table_has_the_layout_of_table_2(scenes_run):
    _, result, printed, _ = scenes_run
    lines = printed.splitlines()

    assert lines[0] == "Table 2: Results for acoustic scene classification."
    assert "mean over 4 folds" in lines[1] and "official folds" in lines[1]
    assert lines[3].split() == ["Acoustic", "Scene", "Baseline", "Network"]
    rows = [line[:17].strip() for line in lines[5:8]]
    assert rows == ["Beach", "Bus", "Cafe / Restaurant"]
    assert lines[-1].startswith("Average")
    assert result.class_names == sorted(TUT_LABELS)


def test_scene_average_is_the_mean_of_class_wise_accuracies(scenes_run):
    _, result, printed, _ = scenes_run

    for system in ("Baseline", "Network"):
        assert result.per_fold[system].shape == (4, 3)
        np.testing.assert_allclose(
            result.per_class[system], result.per_fold[system].mean(axis=0)
        )
        assert result.average[system] == pytest.approx(
            result.per_class[system].mean()
        )
    baseline, network = printed.splitlines()[-1].split()[1:]
    assert float(baseline) == pytest.approx(100 * result.average["Baseline"], abs=0.05)
    assert float(network) == pytest.approx(100 * result.average["Network"], abs=0.05)


def test_both_systems_train_on_the_official_folds(scenes_run):
    scenes, result, _, seen = scenes_run

    np.testing.assert_array_equal(result.folds, scenes.folds - 1)
    assert len(seen["Baseline"]) == len(seen["Network"]) == 4
    for fold, (baseline_y, network_y) in enumerate(
        zip(seen["Baseline"], seen["Network"], strict=True), start=1
    ):
        np.testing.assert_array_equal(baseline_y, network_y)
        np.testing.assert_array_equal(network_y, scenes.target[scenes.folds != fold])
    for system in ("Baseline", "Network"):
        assert set(result.predictions[system]) <= set(TUT_LABELS)
    assert seen["normalize"] == [(None, None)] * 4  # the paper's magnitudes
    # The paper's recipe restores its best epoch: locations held out whole.
    split = GroupValidSplit(0.2, stratified=True, hold_out="groups")
    assert sorted(seen["train_split"]) == sorted(["None", repr(split)] * 4)


def test_scene_outputs_are_written(scenes_run):
    _, result, printed, _ = scenes_run
    names = sorted(path.rsplit("/", 1)[1] for path in result.files)

    assert names == [
        "confusion_matrix.png",
        "table2_scenes.csv",
        "table2_scenes.json",
        "table2_scenes.txt",
    ]
    files = {path.rsplit("/", 1)[1]: path for path in result.files}
    report = json.loads(open(files["table2_scenes.json"]).read())
    assert report["classes"] == sorted(TUT_LABELS)
    assert report["n_folds"] == 4
    assert report["fold_of_clip"] == result.folds.tolist()
    csv_lines = open(files["table2_scenes.csv"]).read().splitlines()
    assert csv_lines[0] == "class,baseline,network"
    assert csv_lines[3].startswith("cafe/restaurant,")
    assert csv_lines[-1].startswith("Average,")
    assert open(files["table2_scenes.txt"]).read() == printed
    assert open(files["confusion_matrix.png"], "rb").read(4) == b"\x89PNG"


def test_tags_table_has_the_layout_of_table_3(tags_run):
    _, result, printed, _ = tags_run
    lines = printed.splitlines()

    assert lines[0] == "Table 3: Results for domestic audio tagging."
    assert "mean over 5 folds" in lines[1]
    assert lines[3].split() == ["Audio", "Tag", "Baseline", "Network"]
    assert [line[:19].strip() for line in lines[5:12]] == [
        "Adult Female Speech",
        "Adult Male Speech",
        "Broadband Noise",
        "Child Speech",
        "Other",
        "Percussive Sound",
        "Video Game / TV",
    ]
    assert lines[-1].startswith("Average")
    assert any(name.endswith("det_curves.png") for name in result.files)


def test_tag_eers_are_averaged_over_folds_ignoring_undefined_ones(tags_run):
    tags, result, _, _ = tags_run

    for system in ("Baseline", "Network"):
        per_fold = result.per_fold[system]
        assert per_fold.shape == (5, 7)
        # A tag without positives in a fold's test chunks has no EER there.
        for fold in range(5):
            absent = tags.target[tags.folds == fold].sum(axis=0) == 0
            assert np.isnan(per_fold[fold]).tolist() == absent.tolist()
        np.testing.assert_allclose(
            result.per_class[system], np.nanmean(per_fold, axis=0)
        )


def test_both_tag_systems_train_on_the_official_folds(tags_run):
    tags, result, _, seen = tags_run

    np.testing.assert_array_equal(result.folds, tags.folds)
    for fold, (baseline_y, network_y) in enumerate(
        zip(seen["Baseline"], seen["Network"], strict=True)
    ):
        np.testing.assert_array_equal(baseline_y, network_y)
        np.testing.assert_array_equal(network_y, tags.target[tags.folds != fold])
    assert not np.isnan(result.predictions["Baseline"]).any()
    assert seen["normalize"] == [(None, None)] * 5  # the paper's magnitudes


def test_command_line_runs_the_demo_data(monkeypatch, tmp_path, capsys):
    # The generators come from sklearn_allconv.datasets; a stand-in of the
    # same signature keeps this test independent of them.
    rng = np.random.default_rng(0)

    def make_acoustic_scenes(*, random_state):
        y = np.repeat(["bus", "park"], 8)
        X = np.empty(16, dtype=object)
        t = np.arange(22050) / 44100
        for i, label in enumerate(y):
            tone = np.sin(2 * np.pi * (300 if label == "bus" else 900) * t)
            X[i] = (tone + 0.1 * rng.standard_normal(t.size)).astype(np.float32)
        return X, y, np.tile(np.repeat(np.arange(4), 2), 2)

    monkeypatch.setattr(
        datasets, "make_acoustic_scenes", make_acoustic_scenes, raising=False
    )

    fits = []
    original_fit = SceneClassifier.fit

    def recording_fit(self, *args, **kwargs):
        fits.append((self.device, self.random_state))
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(SceneClassifier, "fit", recording_fit)
    status = main(
        "reproduce --task scenes --max-epochs 1 --n-filters 4 --device cpu --seed 3 "
        "--no-figure --output".split() + [str(tmp_path)]
    )
    assert fits and set(fits) == {("cpu", 3)}  # --device and --seed reach the network

    printed = capsys.readouterr().out
    assert status == 0
    assert "synthetic demo data, GroupKFold(4)" in printed
    assert printed.splitlines()[-1].startswith("Average")
    assert not (tmp_path / "confusion_matrix.png").exists()
    assert (tmp_path / "table2_scenes.json").exists()


def test_display_names_follow_the_paper():
    assert display_name("cafe/restaurant") == "Cafe / Restaurant"
    assert display_name("metro_station") == "Metro Station"
    assert display_name("video game/tv") == "Video Game / TV"


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="task must be 'scenes' or 'tags'"):
        reproduce_table("speech")


def test_demo_without_its_generator_says_what_is_missing(monkeypatch):
    monkeypatch.delattr(datasets, "make_domestic_tags", raising=False)

    with pytest.raises(ImportError, match="datasets.make_domestic_tags"):
        reproduce_table("tags")
