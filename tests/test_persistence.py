"""Models travel safely: the safetensors format, and pickle for trusted files."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_allconv import (
    AudioTagger,
    GroupValidSplit,
    SceneClassifier,
    STFTTransformer,
    load_model,
    save_model,
)
from sklearn_allconv._state_files import _tensor_digest
from sklearn_allconv.augment import Mixup, SpecMask, TimeShift
from sklearn_allconv.features import PAPER_FEATURES

REPO = Path(__file__).resolve().parents[1]
RATE = 8000
LABELS = np.array(["beach", "cafe/restaurant", "park"])
TINY = {"max_epochs": 3, "batch_size": 8, "module__n_filters": 8, "random_state": 0}


def _audio(n_clips=15, seed=0):
    """Noise clips of 0.3 to 0.6 s at 8 kHz whose class sets a tone."""
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for i in range(n_clips):
        n = int(rng.integers(2400, 4800))
        t = np.arange(n) / RATE
        tone = 0.3 * np.sin(2 * np.pi * (500 + 1000 * (i % 3)) * t)
        clips.append((tone + 0.1 * rng.standard_normal(n)).astype(np.float32))
        labels.append(LABELS[i % 3])
    return clips, np.array(labels)


@pytest.fixture(scope="module")
def pipeline():
    clips, y = _audio()
    stft = STFTTransformer(sample_rate=RATE)
    return make_pipeline(stft, SceneClassifier(**TINY)).fit(clips, y)


def _run_python(script: str, *args: str) -> None:
    """Run ``script`` in a fresh interpreter that imports this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    subprocess.run(
        [sys.executable, "-c", script, *args], check=True, cwd=REPO, env=env
    )


@pytest.mark.slow
def test_pipeline_round_trip_in_a_fresh_process_gives_identical_predictions(
    pipeline, tmp_path
):
    clips, _ = _audio(n_clips=6, seed=1)
    paths = []
    for i, clip in enumerate(clips):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], clip, RATE, subtype="FLOAT")
    model_path = tmp_path / "scenes.safetensors"
    save_model(pipeline, model_path)
    out = tmp_path / "proba.npy"
    _run_python(
        "import sys, numpy as np, torch\n"
        "from sklearn_allconv import load_model\n"
        "torch.set_num_threads(1)\n"  # as in conftest.py: same arithmetic
        "model = load_model(sys.argv[1])\n"
        "np.save(sys.argv[2], model.predict_proba(sys.argv[3:]))\n",
        str(model_path),
        str(out),
        *paths,
    )
    expected = pipeline.predict_proba(paths)
    np.testing.assert_array_equal(np.load(out), expected)
    np.testing.assert_array_equal(load_model(model_path).predict_proba(paths), expected)


def test_loaded_pipeline_keeps_the_feature_settings_and_refuses_other_input(
    pipeline, tmp_path
):
    save_model(pipeline, tmp_path / "scenes.safetensors")
    loaded = load_model(tmp_path / "scenes.safetensors")
    stft, saved = loaded[0], pipeline[0]
    assert stft.get_params() == saved.get_params()
    assert (stft.n_fft_, stft.hop_length_, stft.n_bins_) == (200, 120, 101)
    np.testing.assert_array_equal(stft.mean_, saved.mean_)
    np.testing.assert_array_equal(stft.scale_, saved.scale_)
    np.testing.assert_array_equal(loaded.classes_, LABELS)
    assert len(loaded[-1].history_) == len(pipeline[-1].history_)
    other_rate = tmp_path / "16k.wav"
    soundfile.write(other_rate, np.zeros(8000, np.float32), 16000)
    with pytest.raises(ValueError, match="16000 Hz but this transformer expects 8000"):
        loaded.predict([other_rate])
    features_16k = STFTTransformer(sample_rate=16000).fit_transform([np.ones(8000)])
    with pytest.raises(ValueError, match="128 frequency bins but the model was fit"):
        loaded[-1].predict(features_16k)


@pytest.mark.parametrize(
    ("normalize", "compression", "n_mels"),
    [(None, "log-gain", None), (None, "pcen", None), ("rms", None, None),
     ("rms", "pcen", 24)],
)
def test_compression_survives_a_round_trip(tmp_path, normalize, compression, n_mels):
    clips, y = _audio()
    stft = STFTTransformer(
        sample_rate=RATE, normalize=normalize, compression=compression, n_mels=n_mels
    )
    fitted = make_pipeline(stft, SceneClassifier(**TINY)).fit(clips, y)
    save_model(fitted, tmp_path / "scenes.safetensors")
    loaded = load_model(tmp_path / "scenes.safetensors")
    assert loaded[0].normalize == normalize
    assert loaded[0].compression == compression
    assert loaded[0].n_mels == n_mels
    assert loaded[0].n_bins_ == loaded[-1].n_bins_ == (n_mels or 101)
    for a, b in zip(loaded[0].transform(clips), stft.transform(clips), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        loaded.predict_proba(clips), fitted.predict_proba(clips)
    )


@pytest.mark.parametrize("recipe, batch_size", [("paper", "auto"), ("default", 5)])
def test_the_training_recipe_survives_a_round_trip(tmp_path, recipe, batch_size):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((20, 6)).astype(np.float32) for _ in range(12)]
    params = {**TINY, "batch_size": batch_size, "recipe": recipe}
    clf = SceneClassifier(**params).fit(X, ["a", "b", "c"] * 4)
    save_model(clf, tmp_path / "scenes.safetensors")
    loaded = load_model(tmp_path / "scenes.safetensors")
    assert (loaded.recipe, loaded.batch_size) == (recipe, batch_size)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("hold_out", ["groups", "clips"])
def test_the_validation_split_survives_a_round_trip(tmp_path, hold_out):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((20, 6)).astype(np.float32) for _ in range(12)]
    split = GroupValidSplit(0.25, stratified=True, hold_out=hold_out)
    clf = SceneClassifier(**TINY, train_split=split).fit(X, ["a", "b", "c"] * 4)
    save_model(clf, tmp_path / "scenes.safetensors")
    loaded = load_model(tmp_path / "scenes.safetensors")
    assert repr(loaded.train_split) == repr(split)


def test_a_file_from_before_hold_out_keeps_holding_out_groups(tmp_path):
    # Such a file's split held out whole groups, and does not say so.
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((20, 6)).astype(np.float32) for _ in range(12)]
    split = GroupValidSplit(0.2, stratified=True, hold_out="groups")
    clf = SceneClassifier(**TINY, train_split=split).fit(X, ["a", "b", "c"] * 4)
    path = tmp_path / "scenes.safetensors"
    save_model(clf, path)

    def forget(model):
        model["params"]["train_split"]["params"].pop("hold_out")

    _tamper(path, edit_tree=forget)
    assert load_model(path).train_split.hold_out == "groups"


@pytest.mark.parametrize(
    "augment", [[TimeShift(0.25), SpecMask(1, 2, 1, 3), Mixup(0.3)], Mixup(0.3)],
    ids=["list", "one"],
)
def test_augment_and_test_crops_survive_a_round_trip(tmp_path, augment):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(n), 6)).astype(np.float32)
         for n in rng.integers(16, 60, 12)]
    y = ["a", "b", "c"] * 4
    clf = SceneClassifier(**TINY, augment=augment, test_crops=3).fit(X, y)
    save_model(clf, tmp_path / "scenes.safetensors")
    loaded = load_model(tmp_path / "scenes.safetensors")
    assert loaded.augment == augment and type(loaded.augment) is type(augment)
    assert loaded.test_crops == 3
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_save_refuses_custom_augmentations(pipeline, tmp_path):
    clf = pickle.loads(pickle.dumps(pipeline[-1]))
    clf.set_params(augment=[Mixup(), _flip_in_time])
    with pytest.raises(ValueError, match="stores only the library's TimeShift"):
        save_model(clf, tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()


def _flip_in_time(X, lengths, targets):
    return X.flip(1), lengths, targets


def test_audio_tagger_round_trip_keeps_tag_names(tmp_path):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((20, 6)).astype(np.float32) for _ in range(12)]
    tags = [["speech"], ["tv", "speech"], []] * 4
    tagger = AudioTagger(**TINY).fit(X, tags)
    save_model(tagger, tmp_path / "tags.safetensors")
    loaded = load_model(tmp_path / "tags.safetensors")
    np.testing.assert_array_equal(loaded.classes_, ["speech", "tv"])
    np.testing.assert_array_equal(loaded.predict_proba(X), tagger.predict_proba(X))
    assert loaded.threshold == tagger.threshold


def test_model_trained_on_cuda_loads_on_the_cpu(pipeline, tmp_path):
    # Simulated without a GPU: the classifier's device parameter says "cuda",
    # as after training on one. The file holds no device (safetensors tensors
    # are plain bytes, copied to the CPU on saving), so loading maps to the
    # requested device.
    clf = pickle.loads(pickle.dumps(pipeline[-1]))
    clf.__dict__["device"] = "cuda"
    save_model(clf, tmp_path / "cuda.safetensors")
    features = pipeline[0].transform(_audio(n_clips=4, seed=2)[0])
    for device in ("auto", "cpu"):
        loaded = load_model(tmp_path / "cuda.safetensors", device=device)
        assert loaded.get_params()["device"] == device
        assert next(loaded.module_.parameters()).device.type == (
            "cuda" if device == "auto" and torch.cuda.is_available() else "cpu"
        )
        np.testing.assert_allclose(
            loaded.predict_proba(features), pipeline[-1].predict_proba(features),
            rtol=0, atol=1e-6 if torch.cuda.is_available() else 0,
        )
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_model(tmp_path / "cuda.safetensors", device="cuda")


@pytest.mark.slow
def test_pickle_of_a_model_trained_on_cuda_loads_on_a_cpu_only_machine(
    pipeline, tmp_path, monkeypatch
):
    # Simulated without a GPU: while pickling, torch records every tensor's
    # storage as living on "cuda:0", exactly as it does after training on a GPU.
    # Unpickling on this CPU-only machine must map them to the CPU. (The
    # learning-rate scheduler's reference to the optimizer used to escape that
    # mapping: skorch issue #1096.)
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        blob = pickle.dumps(pipeline)
    clips, _ = _audio(n_clips=4, seed=3)
    model_path, clips_path, out = (tmp_path / name for name in ("m.pkl", "c.npz", "p"))
    model_path.write_bytes(blob)
    np.savez(clips_path, *clips)
    _run_python(
        "import pickle, sys, numpy as np, torch\n"
        "torch.set_num_threads(1)\n"
        "torch.cuda.is_available = lambda: False\n"  # also on a machine with a GPU
        "model = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "clips = list(np.load(sys.argv[2]).values())\n"
        "np.save(sys.argv[3], model.predict_proba(clips))\n",
        str(model_path),
        str(clips_path),
        str(out),
    )
    np.testing.assert_array_equal(
        np.load(f"{out}.npy"), pipeline.predict_proba(clips)
    )


def _tamper(path, edit_tree=None, edit_tensors=None, raw_header=None):
    """Rewrite a model file the way an attacker or a broken copy might.

    The digest of the tensors is recomputed, as an attacker would: what is
    tested is what the loader makes of the content.
    """
    with safe_open(path, framework="pt") as file:
        metadata = file.metadata()
        tensors = {key: file.get_tensor(key) for key in file.keys()}
    header = json.loads(metadata["sklearn_allconv"])
    if edit_tree is not None:
        edit_tree(header["tree"]["model"])
    if edit_tensors is not None:
        edit_tensors(tensors)
    header["tensor_sha256"] = _tensor_digest(tensors)
    text = raw_header if raw_header is not None else json.dumps(header)
    save_file(tensors, path, metadata={"sklearn_allconv": text})


def _clf(model):
    return model["steps"][1]["estimator"]


def _weight_name(model, key):
    return _clf(model)["weights"][key]["__tensor__"]


def _set_param(name, value):
    return lambda model: _clf(model)["params"].__setitem__(name, value)


MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "sklearn-allconv-pwned"


class _Exploit:
    """Pickled, this object creates MARKER when unpickled."""

    def __reduce__(self):
        return (Path.touch, (MARKER,))


TAMPERINGS = {
    "edited classes": (
        lambda path: _tamper(
            path,
            edit_tree=lambda m: _clf(m)["fitted"]["classes_"]["values"].append("zoo"),
        ),
        r"weight 'output.weight' is torch.float32 of shape \(3, 8\), but the "
        r"network needs torch.float32 of shape \(4, 8\)",
    ),
    # A permuted label order would silently mislabel every prediction.
    "permuted classes": (
        lambda path: _tamper(
            path,
            edit_tree=lambda m: _clf(m)["fitted"]["classes_"]["values"].reverse(),
        ),
        "classes_ must be a sorted list of distinct labels",
    ),
    "duplicated classes": (
        lambda path: _tamper(
            path,
            edit_tree=lambda m: _clf(m)["fitted"]["classes_"].__setitem__(
                "values", ["beach", "cafe/restaurant", "cafe/restaurant"]
            ),
        ),
        "classes_ must be a sorted list of distinct labels",
    ),
    "inflated network size": (
        lambda path: _tamper(path, edit_tree=_set_param("module__n_filters", 60_000)),
        "weight 'filter_bank.weight' is .* but the network needs",
    ),
    "mel bands the spectrograms did not have": (
        lambda path: _tamper(path, edit_tree=_set_stft_param("n_mels", 20)),
        "STFT geometry .* does not follow from .*n_mels=20",
    ),
    "edited sample rate": (
        lambda path: _tamper(
            path,
            edit_tree=lambda m: m["steps"][0]["estimator"]["params"].__setitem__(
                "sample_rate", 16000
            ),
        ),
        "STFT geometry .* does not follow from sample_rate=16000",
    ),
    "broken JSON": (
        lambda path: _tamper(path, raw_header='{"kind": "model", '),
        "description is not valid JSON",
    ),
    "tensor of another shape": (
        lambda path: _tamper(
            path,
            edit_tensors=lambda t: t.update(
                {
                    name: torch.zeros(8, 100, 1)
                    for name in t
                    if name.endswith("filter_bank.weight")
                }
            ),
        ),
        r"weight 'filter_bank.weight' is torch.float32 of shape \(8, 100, 1\)",
    ),
    "NaN weights": (
        lambda path: _tamper(
            path,
            edit_tensors=lambda t: t.update(
                {name: t[name] * np.nan for name in t if name.endswith("output.bias")}
            ),
        ),
        "weight 'output.bias' holds NaN",
    ),
    "unknown class name": (
        lambda path: _tamper(
            path, edit_tree=lambda m: _clf(m).__setitem__("class", "Popen")
        ),
        "names the class 'Popen', which is not one of the classes",
    ),
    "callable outside the allow-list": (
        lambda path: _tamper(
            path, edit_tree=_set_param("criterion", {"__object__": "os.system"})
        ),
        "names 'os.system', which is not on the allow-list",
    ),
    "builtin outside the allow-list": (
        lambda path: _tamper(
            path,
            edit_tree=_set_param(
                "predict_nonlinearity", {"__object__": "builtins.eval"}
            ),
        ),
        "names 'builtins.eval', which is not on the allow-list",
    ),
    "augmentation outside the allow-list": (
        lambda path: _tamper(
            path,
            edit_tree=_set_param(
                "augment", [{"__instance__": "os.system", "params": {"command": 1}}]
            ),
        ),
        "a parameter describes the object",
    ),
    "augmentation with an unknown argument": (
        lambda path: _tamper(
            path,
            edit_tree=_set_param(
                "augment",
                {"__instance__": "sklearn_allconv.augment.Mixup",
                 "params": {"command": 1}},
            ),
        ),
        "augmentation Mixup has invalid parameters",
    ),
    "augmentation out of range": (
        lambda path: _tamper(
            path,
            edit_tree=_set_param(
                "augment",
                {"__instance__": "sklearn_allconv.augment.SpecMask",
                 "params": {"freq_masks": -5}},
            ),
        ),
        "SpecMask's freq_masks must be an integer of at least 0",
    ),
    "augmentation with a string argument": (
        lambda path: _tamper(
            path,
            edit_tree=_set_param(
                "augment",
                {"__instance__": "sklearn_allconv.augment.TimeShift",
                 "params": {"max_fraction": "__import__('os')"}},
            ),
        ),
        "a parameter describes the object",
    ),
    "unknown parameter": (
        lambda path: _tamper(path, edit_tree=_set_param("exec", "print('hi')")),
        "parameter 'exec' of SceneClassifier is not one a model file may set",
    ),
    "reference to a missing tensor": (
        lambda path: _tamper(
            path,
            edit_tensors=lambda t: t.pop(
                next(name for name in t if name.endswith("output.bias"))
            ),
        ),
        "refers to a tensor .*output.bias' that the file does not hold",
    ),
    "smuggled extra tensor": (
        lambda path: _tamper(
            path, edit_tensors=lambda t: t.update({"payload": torch.zeros(3)})
        ),
        r"tensors its description does not mention: \['payload'\]",
    ),
    "pickle renamed to .safetensors": (
        lambda path: path.write_bytes(pickle.dumps(_Exploit())),
        "is not a readable sklearn-allconv model file",
    ),
}


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=list(TAMPERINGS))
def test_tampered_model_file_fails_safely(pipeline, tmp_path, tampering):
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "scenes.safetensors"
    save_model(pipeline, path)
    tamper, message = TAMPERINGS[tampering]
    tamper(path)
    with pytest.raises(ValueError, match=message):
        load_model(path)
    assert not MARKER.exists()


def test_save_refuses_what_the_safe_format_cannot_describe(pipeline, tmp_path):
    path = tmp_path / "model.safetensors"
    with pytest.raises(NotFittedError):
        save_model(SceneClassifier(), path)
    clf = pickle.loads(pickle.dumps(pipeline[-1]))
    clf.set_params(random_state=np.random.RandomState(0))
    with pytest.raises(ValueError, match="parameter random_state=RandomState"):
        save_model(clf, path)
    with pytest.raises(TypeError, match="Cannot save a StandardScaler"):
        save_model(StandardScaler().fit([[0.0], [1.0]]), path)
    assert not path.exists()


def test_loading_leaves_the_global_random_state_alone(pipeline, tmp_path):
    save_model(pipeline, tmp_path / "scenes.safetensors")
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_model(tmp_path / "scenes.safetensors")
    torch.testing.assert_close(torch.rand(3), expected)


def _places(node, place=()):
    """Every place in a JSON tree, as a tuple of keys and indices."""
    yield place
    if isinstance(node, (dict, list)):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            yield from _places(child, (*place, key))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_edit_of_the_description_loads_or_fails_with_a_value_error(
    pipeline, tmp_path_factory, data
):
    path = tmp_path_factory.mktemp("fuzz") / "scenes.safetensors"
    save_model(pipeline, path)
    replacements = st.sampled_from(
        [None, 0, -1, 10**9, 1.5, float("nan"), "x", [], {}, [1, 2], True,
         {"__object__": "os.system"}, {"__tensor__": "missing"}, {"__tuple__": 3}]
    )

    def edit(model):
        for _ in range(data.draw(st.integers(1, 3))):
            # Places are listed anew after each edit, which may have replaced
            # a whole branch; each replacement is a fresh copy, so that no
            # two places share one list or dict.
            places = [place for place in _places(model) if place]
            *parents, last = data.draw(st.sampled_from(places))
            node = model
            for key in parents:
                node = node[key]
            node[last] = copy.deepcopy(data.draw(replacements))

    _tamper(path, edit_tree=edit)
    try:
        load_model(path)
    except ValueError:
        pass


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_model_files_get_the_permissions_of_the_users_other_files(
    pipeline, tmp_path, umask, mode
):
    previous = os.umask(umask)
    try:
        save_model(pipeline, tmp_path / "model.safetensors")
        (tmp_path / "other.txt").write_text("")
    finally:
        os.umask(previous)
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == mode
    assert (tmp_path / "other.txt").stat().st_mode & 0o777 == mode
    # No temporary file is left behind.
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["model.safetensors", "other.txt"]


# -- model files carry learned state, never run-time behaviour ----------------


def _set_stft_param(name, value):
    return lambda model: model["steps"][0]["estimator"]["params"].__setitem__(
        name, value
    )


# Run-time parameters a hostile file may name: each is ignored on loading and
# the loaded step has the library's default. (step, parameter, value)
RUN_TIME_FIELDS = {
    "STFT cache folder": (0, "memory", "planted-cache"),
    "STFT threads": (0, "n_jobs", 100_000),
    "STFT verbosity": (0, "verbose", 99),
    "network device": (1, "device", "cuda:7"),
    "worker processes": (1, "iterator_valid__num_workers", 1000),
    "training workers": (1, "iterator_train__num_workers", 1000),
    "multiprocessing context": (1, "iterator_valid__multiprocessing_context", "fork"),
    "compilation": (1, "compile", True),
    "checkpoint folder": (1, "callbacks__checkpoint__dirname", "/victim"),
    "callbacks": (1, "callbacks", "disable"),
    "verbosity": (1, "verbose", 99),
    "training data on the device": (1, "data_on_device", True),
    "torch threads": (1, "n_threads", 100_000),
    "convolution implementation": (1, "module__convolution", "conv1d"),
}


@pytest.mark.parametrize("case", RUN_TIME_FIELDS, ids=list(RUN_TIME_FIELDS))
def test_run_time_parameters_in_a_file_are_ignored(pipeline, tmp_path, case):
    step, name, value = RUN_TIME_FIELDS[case]
    path = tmp_path / "scenes.safetensors"
    save_model(pipeline, path)
    setter = _set_stft_param if step == 0 else _set_param
    _tamper(path, edit_tree=setter(name, value))
    loaded = load_model(path, device="cpu")[step]
    default = type(loaded)().get_params(deep=False).get(name)
    if name == "device":
        default = "cpu"  # what load_model was asked for
    assert loaded.get_params(deep=False).get(name) == default


@pytest.mark.parametrize(
    "missing", [("normalize",), ("normalize", "compression", "n_mels")]
)
def test_a_file_from_before_the_feature_options_loads_without_them(tmp_path, missing):
    # Such a file was fitted on magnitudes as recorded, and does not say so.
    clips, y = _audio()
    fitted = make_pipeline(
        STFTTransformer(sample_rate=RATE, **PAPER_FEATURES),
        SceneClassifier(**TINY),
    ).fit(clips, y)
    path = tmp_path / "scenes.safetensors"
    save_model(fitted, path)

    def forget(model):
        for name in missing:
            model["steps"][0]["estimator"]["params"].pop(name)

    _tamper(path, edit_tree=forget)
    loaded = load_model(path)
    assert loaded[0].normalize is None
    assert loaded[0].compression is None
    assert loaded[0].n_mels is None
    np.testing.assert_array_equal(
        loaded.predict_proba(clips), fitted.predict_proba(clips)
    )


def test_a_file_from_before_mel_bands_keeps_its_linear_bins(tmp_path):
    # Saved by a release whose defaults were PCEN on the 201 linear bins at
    # 16 kHz: without n_mels in the file it must not take today's 128 bands.
    clips, y = _audio()
    clips = [np.repeat(clip, 2) for clip in clips]  # read as 16 kHz
    fitted = make_pipeline(
        STFTTransformer(sample_rate=16000, n_mels=None), SceneClassifier(**TINY)
    ).fit(clips, y)
    path = tmp_path / "scenes.safetensors"
    save_model(fitted, path)
    _tamper(
        path,
        edit_tree=lambda m: m["steps"][0]["estimator"]["params"].pop("n_mels"),
    )
    loaded = load_model(path)
    assert loaded[0].n_mels is None
    assert loaded[0].n_bins_ == loaded[-1].n_bins_ == 201
    np.testing.assert_array_equal(
        loaded.predict_proba(clips), fitted.predict_proba(clips)
    )


def test_save_model_writes_no_run_time_parameters(pipeline, tmp_path):
    path = tmp_path / "scenes.safetensors"
    stft = pickle.loads(pickle.dumps(pipeline))
    stft[0].set_params(n_jobs=3, memory=str(tmp_path / "cache"), verbose=1)
    save_model(stft, path)
    with safe_open(path, framework="pt") as file:
        tree = json.loads(file.metadata()["sklearn_allconv"])["tree"]["model"]
    assert set(tree["steps"][0]["estimator"]["params"]) == {
        "sample_rate", "window_ms", "hop_ms", "normalize", "n_mels", "compression",
        "standardize", "channel", "resample",
    }
    network = set(_clf(tree)["params"])
    assert not network & {"device", "callbacks", "verbose", "compile",
                          "iterator_train", "iterator_valid", "dataset"}


def _set_classes(dtype=None, values=None):
    def edit(model):
        classes = _clf(model)["fitted"]["classes_"]
        if dtype is not None:
            classes["dtype"] = dtype
        if values is not None:
            classes["values"] = values
    return edit


def _set_header_length(path, length):
    data = bytearray(path.read_bytes())
    data[:8] = int(length).to_bytes(8, "little")
    path.write_bytes(bytes(data))


def _inflate_tensor_shape(path):
    """Declare a tensor of 2**40 elements in the safetensors header."""
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    name = next(key for key in header if key.endswith("output.bias"))
    header[name]["shape"] = [2**40]
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length :])


# Model fields out of type or range: each is refused with a ValueError that
# names the field, before anything is allocated from it.
REFUSED_FIELDS = {
    "inflated label dtype": (
        lambda p: _tamper(p, edit_tree=_set_classes(dtype="<U100000000")),
        "classes_ has the dtype '<U100000000'",
    ),
    "float label dtype": (
        lambda p: _tamper(p, edit_tree=_set_classes(dtype="<f8", values=[1.0, 2.0])),
        "classes_ has the dtype '<f8'",
    ),
    "too many labels": (
        lambda p: _tamper(p, edit_tree=_set_classes(
            dtype="<U6", values=[f"{i:06d}" for i in range(100_001)])),
        "classes_ has 100001 values",
    ),
    "inflated depth": (
        lambda p: _tamper(p, edit_tree=_set_param("module__n_strided_layers", 10**9)),
        "'module__n_strided_layers' of SceneClassifier is 1000000000",
    ),
    "inflated width": (
        lambda p: _tamper(p, edit_tree=_set_param("module__n_filters", 10**12)),
        "'module__n_filters' of SceneClassifier is 1000000000000",
    ),
    "sample rate of a terahertz": (
        lambda p: _tamper(p, edit_tree=_set_stft_param("sample_rate", 1e12)),
        "'sample_rate' of STFTTransformer",
    ),
    "inflated mel bands": (
        lambda p: _tamper(p, edit_tree=_set_stft_param("n_mels", 10**9)),
        "'n_mels' of STFTTransformer is 1000000000",
    ),
    "mel bands without bins": (
        lambda p: _tamper(p, edit_tree=_set_stft_param("n_mels", 400)),
        "n_mels=400 at sample_rate=8000 .* leaves mel bands without any",
    ),
    "unknown compression": (
        lambda p: _tamper(p, edit_tree=_set_stft_param("compression", "log10")),
        "'compression' of STFTTransformer is 'log10'; it must be one of None",
    ),
    "sample rate of 10**400": (
        lambda p: _tamper(p, edit_tree=_set_stft_param("sample_rate", 10**400)),
        "'sample_rate' of STFTTransformer",
    ),
    "split seed out of range": (
        lambda p: _tamper(
            p, edit_tree=lambda m: _clf(m)["fitted"].__setitem__("split_seed_", -1)
        ),
        "split_seed_ is -1",
    ),
    "NaN window": (
        lambda p: _tamper(p, edit_tree=_set_stft_param("window_ms", float("nan"))),
        "'window_ms' of STFTTransformer",
    ),
    "missing channel": (
        lambda p: _tamper(p, edit_tree=_set_stft_param("channel", 10**6)),
        "'channel' of STFTTransformer",
    ),
    "negative learning rate": (
        lambda p: _tamper(p, edit_tree=_set_param("lr", -1.0)),
        "'lr' of SceneClassifier",
    ),
    "no epochs": (
        lambda p: _tamper(p, edit_tree=_set_param("max_epochs", 0)),
        "'max_epochs' of SceneClassifier",
    ),
    "too many test crops": (
        lambda p: _tamper(p, edit_tree=_set_param("test_crops", 10**6)),
        "'test_crops' of SceneClassifier",
    ),
    "huge batches": (
        lambda p: _tamper(p, edit_tree=_set_param("batch_size", 10**12)),
        "'batch_size' of SceneClassifier",
    ),
    "string random state": (
        lambda p: _tamper(p, edit_tree=_set_param("random_state", "0")),
        "'random_state' of SceneClassifier",
    ),
    "long optimizer argument": (
        lambda p: _tamper(p, edit_tree=_set_param("optimizer__betas", [0.9] * 10**5)),
        "'optimizer__betas' of SceneClassifier",
    ),
    "inflated n_bins_": (
        lambda p: _tamper(
            p, edit_tree=lambda m: _clf(m)["fitted"].__setitem__("n_bins_", 10**9)
        ),
        "n_bins_ is 1000000000",
    ),
    "inflated header length": (
        lambda p: _set_header_length(p, 2**62),
        "header length field says 4611686018427387904 bytes",
    ),
    "inflated tensor shape": (
        _inflate_tensor_shape,
        "is not a readable sklearn-allconv model file",
    ),
}


@pytest.mark.parametrize("case", REFUSED_FIELDS, ids=list(REFUSED_FIELDS))
def test_model_fields_out_of_range_are_refused_naming_the_field(
    pipeline, tmp_path, case
):
    path = tmp_path / "scenes.safetensors"
    save_model(pipeline, path)
    tamper, message = REFUSED_FIELDS[case]
    tamper(path)
    with pytest.raises(ValueError, match=message):
        load_model(path)


_PLANTED_CACHE_SCRIPT = """
import os, sys
from sklearn_allconv import load_model
model_path, cache, marker, *paths = sys.argv[1:]
before = sorted((p, os.stat(os.path.join(d, p)).st_mtime_ns)
                for d, _, files in os.walk(cache) for p in files)
model = load_model(model_path)
model.predict(paths)
after = sorted((p, os.stat(os.path.join(d, p)).st_mtime_ns)
               for d, _, files in os.walk(cache) for p in files)
assert not os.path.exists(marker), "a planted pickle was loaded"
assert before == after, "the cache folder was written to"
"""


@pytest.mark.slow
def test_a_cache_folder_named_by_a_file_is_neither_read_nor_written(
    pipeline, tmp_path
):
    clips, _ = _audio(n_clips=3, seed=2)
    paths = []
    for i, clip in enumerate(clips):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], clip, RATE, subtype="FLOAT")
    cache = tmp_path / "cache"
    # The attacker fills the cache for these very files, then swaps every
    # cached result for a pickle that runs code when loaded.
    cached = pickle.loads(pickle.dumps(pipeline))
    cached[0].set_params(memory=str(cache))
    cached.predict(paths)
    outputs = list(cache.rglob("output.pkl"))
    assert len(outputs) == len(paths)
    for output in outputs:
        output.write_bytes(pickle.dumps(_Exploit()))
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "scenes.safetensors"
    save_model(pipeline, path)
    _tamper(path, edit_tree=_set_stft_param("memory", str(cache)))
    _run_python(_PLANTED_CACHE_SCRIPT, str(path), str(cache), str(MARKER), *paths)
    assert not MARKER.exists()


_PEAK_MEMORY_SCRIPT = """
import sys
from sklearn_allconv import load_model

def status(field):
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith(field))

with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # resets the peak (VmHWM) to the current resident size
before = status("VmRSS")
try:
    load_model(sys.argv[1])
except ValueError:
    pass
print(status("VmHWM") - before)
"""


def _peak_load_kib(path):
    """The peak memory of load_model(path) above what was resident, in KiB."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_SCRIPT, str(path)],
        check=True, cwd=REPO, env=env, capture_output=True, text=True,
    )
    return int(result.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc"
)
@pytest.mark.parametrize("inflate", ["dtype", "shape", "header"])
def test_loading_an_inflated_file_takes_less_than_twice_the_memory(
    pipeline, tmp_path, inflate
):
    normal = tmp_path / "normal.safetensors"
    save_model(pipeline, normal)
    inflated = tmp_path / "inflated.safetensors"
    save_model(pipeline, inflated)
    if inflate == "dtype":
        _tamper(inflated, edit_tree=_set_classes(dtype="<U100000000"))
    elif inflate == "shape":
        _inflate_tensor_shape(inflated)
    else:
        _set_header_length(inflated, 2**40)
    assert _peak_load_kib(inflated) < 2 * _peak_load_kib(normal)


# -- integrity of the weights --------------------------------------------------


def _flip_byte(path, tensor_suffix):
    """Flip one bit in the middle of a tensor's data, as a bad disk might."""
    data = bytearray(path.read_bytes())
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    name = next(key for key in header if key.endswith(tensor_suffix))
    start, end = header[name]["data_offsets"]
    data[8 + length + (start + end) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _drop_digest(path):
    with safe_open(path, framework="pt") as file:
        metadata = file.metadata()
        tensors = {key: file.get_tensor(key) for key in file.keys()}
    header = json.loads(metadata["sklearn_allconv"])
    del header["tensor_sha256"]
    save_file(tensors, path, metadata={"sklearn_allconv": json.dumps(header)})


INTEGRITY_CASES = {
    "flipped bit in a weight": (
        lambda p: _flip_byte(p, "filter_bank.weight"),
        "does not match the digest",
    ),
    "flipped bit in a batch-norm statistic": (
        lambda p: _flip_byte(p, "running_var"),
        "does not match the digest",
    ),
    "flipped bit in the standardization": (
        lambda p: _flip_byte(p, "scale_"),
        "does not match the digest",
    ),
    "digest removed": (_drop_digest, "does not match the digest"),
    "truncated copy": (
        lambda p: p.write_bytes(p.read_bytes()[:-100]),
        "is not a readable sklearn-allconv model file",
    ),
}


@pytest.mark.parametrize("case", INTEGRITY_CASES, ids=list(INTEGRITY_CASES))
def test_a_damaged_model_file_is_refused(pipeline, tmp_path, case):
    path = tmp_path / "scenes.safetensors"
    save_model(pipeline, path)
    damage, message = INTEGRITY_CASES[case]
    damage(path)
    with pytest.raises(ValueError, match=message):
        load_model(path)
