"""pcr_sklearn.io: skops model files, trusted types, version stamps, no pickle."""

import importlib
import json
import os
import pathlib
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

sio = pytest.importorskip("skops.io")

from pcr_sklearn import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn import io as model_io  # noqa: E402
from pcr_sklearn.baselines import (  # noqa: E402
    BaggedRewardEnsemble,
    MajorityVoteBradleyTerry,
    MixtureBradleyTerry,
    SoftBradleyTerry,
)
from pcr_sklearn.io import (  # noqa: E402
    STAMP_NAME,
    TRUSTED_TYPES,
    InconsistentVersionWarning,
    UntrustedTypesError,
    load,
    save,
)
from pcr_sklearn.rewards import LinearReward  # noqa: E402

rng = np.random.default_rng(0)
A, B = rng.normal(size=(150, 3)), rng.normal(size=(150, 3))
X = np.hstack([A, B])
Y = 0.7 * (A[:, 0] > B[:, 0]) + 0.3 * (A[:, 1] > B[:, 1])
TEXTS = np.array(
    [
        [f"question {i % 4}", f"good clear answer {i % 7}", f"vague reply {i % 5}"]
        for i in range(40)
    ],
    dtype=object,
)


def _round_trip(model, path, X):
    expected = model.predict_proba(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no version warning for our own file
        loaded = load(save(model, path))
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    return loaded


# ------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "model",
    [
        PairwiseCalibratedEnsemble(n_estimators=3, random_state=0),
        PairwiseCalibratedEnsemble(
            n_estimators=2, random_state=np.random.RandomState(0), vote="soft"
        ),
        SoftBradleyTerry(),
        MajorityVoteBradleyTerry(),
        BaggedRewardEnsemble(n_estimators=2, random_state=0),
        MixtureBradleyTerry(n_components=2, random_state=0),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_estimator_round_trips_with_identical_predictions(model, tmp_path):
    _round_trip(model.fit(X, Y), tmp_path / "m.skops", X)


def test_stagewise_ensemble_round_trips(tmp_path):
    est = PairwiseCalibratedEnsemble(
        n_estimators=2, members="stagewise", random_state=0
    )
    _round_trip(est.fit(X, Y), tmp_path / "m.skops", X)


def test_linear_reward_round_trips(tmp_path):
    reward = LinearReward().fit(A, B, Y)
    loaded = load(save(reward, tmp_path / "r.skops"))
    np.testing.assert_array_equal(loaded.reward(A), reward.reward(A))


def test_mlp_reward_and_its_ensemble_round_trip(tmp_path):
    pytest.importorskip("torch")
    from pcr_sklearn.rewards import MLPReward

    member = MLPReward(hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    reward = member.fit(A, B, Y)
    # Before: RuntimeError "Cannot directly construct TensorBase" from skops.
    loaded = load(save(reward, tmp_path / "r.skops"))
    np.testing.assert_array_equal(loaded.reward(A), reward.reward(A))
    assert loaded.device_ == "cpu"
    est = PairwiseCalibratedEnsemble(member, n_estimators=2, random_state=0)
    _round_trip(est.fit(X, Y), tmp_path / "e.skops", X)


def test_text_pipeline_round_trips(tmp_path):
    from pcr_sklearn.text import PairEmbedder

    pipeline = Pipeline(
        [
            ("embed", PairEmbedder(n_components=4, random_state=0)),
            ("ensemble", PairwiseCalibratedEnsemble(n_estimators=2, random_state=0)),
        ]
    )
    target = np.linspace(0.1, 0.9, len(TEXTS))
    _round_trip(pipeline.fit(TEXTS, target), tmp_path / "p.skops", TEXTS)


def test_path_parameters_are_trusted(tmp_path):
    from pcr_sklearn.text import PairEmbedder

    embedder = PairEmbedder(cache_dir=pathlib.Path(tmp_path / "cache"))
    embedder.fit(TEXTS)
    loaded = load(save(embedder, tmp_path / "e.skops"))
    assert loaded.cache_dir == embedder.cache_dir
    np.testing.assert_array_equal(loaded.transform(TEXTS), embedder.transform(TEXTS))


@pytest.mark.parametrize("trainable", ["head", "last-n", "all"])
def test_transformer_reward_round_trips_without_its_backbone(
    tiny_transformer, tmp_path, trainable
):
    torch = pytest.importorskip("torch")
    from pcr_sklearn.rewards import TransformerReward

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        items = np.array(
            [["p", text] for text in tiny_transformer.corpus], dtype=object
        )
        a, b = items[:-1], items[1:]
        reward = TransformerReward(
            str(tiny_transformer.hf_dir),
            trainable=trainable,
            n_trainable_layers=1,
            max_epochs=1,
            batch_size=4,
            device="cpu",
            random_state=0,
        ).fit(a, b, np.linspace(0, 1, len(a)))
        path = save(reward, tmp_path / "t.skops")
        # The backbone is referenced by ``model``, never stored: no file in
        # the archive holds its embedding matrix (trainable="all" stores the
        # fine-tuned copy, which is what it trained).
        backbone = sum(
            f.stat().st_size for f in tiny_transformer.hf_dir.glob("*.safetensors")
        )
        if trainable != "all":
            assert path.stat().st_size < backbone
        loaded = load(path)
        np.testing.assert_array_equal(loaded.reward(items), reward.reward(items))
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------- trusted types


def test_trusted_types_name_existing_classes():
    for name in TRUSTED_TYPES:
        module, _, cls = name.rpartition(".")
        if module.startswith("pathlib"):
            continue  # platform- and version-specific module names
        obj = getattr(importlib.import_module(module), cls)
        # Classes, and the package's metric that its scorer references.
        assert isinstance(obj, type) or name.startswith("pcr_sklearn.metrics."), name


class Marker(TransformerMixin, BaseEstimator):
    """A type the package does not trust; records whether it was ever built."""

    built = False

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X

    def __setstate__(self, state):
        Marker.built = True
        super().__setstate__(state)


def test_untrusted_types_are_refused_by_name_and_nothing_is_built(tmp_path):
    model = Pipeline([("marker", Marker()), ("bt", SoftBradleyTerry())]).fit(X, Y)
    path = save(model, tmp_path / "m.skops")
    Marker.built = False
    with pytest.raises(UntrustedTypesError, match=r"untrusted types .*test_io\.Marker"):
        load(path)
    assert not Marker.built
    name = f"{__name__}.Marker"
    with pytest.raises(UntrustedTypesError) as info:
        load(path)
    assert info.value.types == [name]
    loaded = load(path, trusted=[name])  # explicit trust, after review
    assert Marker.built
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_functions_in_the_file_are_refused(tmp_path):
    # skops can store a reference to os.system; loading must refuse it.
    path = save({"call": os.system}, tmp_path / "f.skops")
    with pytest.raises(UntrustedTypesError, match=r"posix\.system|nt\.system"):
        load(path)


def test_trusted_must_be_a_list_of_names(tmp_path):
    path = save(SoftBradleyTerry().fit(X, Y), tmp_path / "m.skops")
    for bad in ("pcr_sklearn.Foo", True, [Marker]):
        with pytest.raises(TypeError, match="trusted must be a list"):
            load(path, trusted=bad)


# ------------------------------------------------------------------- stamp


def _rewrite_stamp(path, edit):
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    stamp = json.loads(members[STAMP_NAME])
    edit(stamp)
    members[STAMP_NAME] = json.dumps(stamp).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_save_stamps_library_versions(tmp_path):
    import sklearn

    import pcr_sklearn

    path = save(SoftBradleyTerry().fit(X, Y), tmp_path / "m.skops")
    with zipfile.ZipFile(path) as archive:
        stamp = json.loads(archive.read(STAMP_NAME))
    versions = stamp["versions"]
    assert stamp["format"] == "pcr_sklearn.io"
    assert versions["pcr_sklearn"] == pcr_sklearn.__version__
    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["numpy"] == np.__version__
    try:
        import torch
    except ImportError:  # pragma: no cover
        assert "torch" not in versions
    else:
        assert versions["torch"].split("+")[0] == torch.__version__.split("+")[0]


def test_load_warns_naming_both_versions(tmp_path):
    import sklearn

    model = SoftBradleyTerry().fit(X, Y)
    path = save(model, tmp_path / "m.skops")

    def older(stamp):
        stamp["versions"]["scikit-learn"] = "0.0.1"
        stamp["versions"]["pcr_sklearn"] = "0.0.0"

    _rewrite_stamp(path, older)
    with pytest.warns(InconsistentVersionWarning) as record:
        loaded = load(path)
    ours = [w.message for w in record if isinstance(w.message, type(record[0].message))]
    message = str(ours[0])
    assert f"scikit-learn 0.0.1 (running: {sklearn.__version__})" in message
    assert "pcr_sklearn 0.0.0 (running: " in message
    assert ours[0].saved["scikit-learn"] == "0.0.1"
    assert ours[0].running["scikit-learn"] == sklearn.__version__
    assert issubclass(InconsistentVersionWarning, UserWarning)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_unreadable_stamp_is_an_error(tmp_path):
    path = save(SoftBradleyTerry().fit(X, Y), tmp_path / "m.skops")

    def break_it(stamp):
        stamp["versions"] = "1.0"

    _rewrite_stamp(path, break_it)
    with pytest.raises(ValueError, match="unreadable version stamp"):
        load(path)


def test_plain_skops_file_without_stamp_loads(tmp_path):
    model = SoftBradleyTerry().fit(X, Y)
    path = tmp_path / "plain.skops"
    sio.dump(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# ----------------------------------------------------------- never pickle


class Payload:
    """Unpickling this creates a file: proof that code from the file ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (self.target,))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_named_skops_is_refused_and_never_run(tmp_path, protocol):
    target = tmp_path / "pwned"
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(Payload(target), protocol=protocol))
    with pytest.raises(ValueError, match=r"model\.skops: (is a pickle|not a skops)"):
        load(path)
    assert not target.exists()


def test_a_joblib_file_is_refused(tmp_path):
    joblib = pytest.importorskip("joblib")
    target = tmp_path / "pwned"
    path = tmp_path / "model.skops"
    joblib.dump(Payload(target), path)
    assert not target.exists()  # dumping does not run the payload
    with pytest.raises(ValueError, match="never unpickles"):
        load(path)
    assert not target.exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "the file is empty"),
        (b"just some text\n", "not a skops model file"),
        (b"PK\x03\x04 broken", "not a skops model file"),
    ],
)
def test_bad_files_are_value_errors(tmp_path, content, match):
    path = tmp_path / "bad.skops"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load(path)


def test_truncated_and_malformed_archives(tmp_path):
    path = save(SoftBradleyTerry().fit(X, Y), tmp_path / "m.skops")
    data = path.read_bytes()
    (tmp_path / "cut.skops").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load(tmp_path / "cut.skops")
    with zipfile.ZipFile(tmp_path / "odd.skops", "w") as archive:
        archive.writestr("schema.json", '{"no": "class"}')
    with pytest.raises(ValueError, match="not a valid skops model file"):
        load(tmp_path / "odd.skops")


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load(tmp_path / "none.skops")
    with pytest.raises(IsADirectoryError):
        load(tmp_path)
    with pytest.raises(IsADirectoryError):
        save(SoftBradleyTerry(), tmp_path)


# ----------------------------------------------------------- atomic save


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = save(SoftBradleyTerry().fit(X, Y), tmp_path / "m.skops")
    before = path.read_bytes()

    class Unsaveable:
        def __getstate__(self):
            raise RuntimeError("cannot be stored")

    with pytest.raises(TypeError, match="Cannot save"):
        save({"x": Unsaveable()}, path)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []

    def interrupted(obj, file, **kwargs):
        pathlib.Path(file).write_bytes(b"PK half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(sio, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(SoftBradleyTerry().fit(X, Y), path)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []
    monkeypatch.undo()
    assert type(load(path)) is SoftBradleyTerry


def test_module_is_documented():
    assert model_io.__doc__ and "pickle" in model_io.__doc__
    for name in model_io.__all__:
        assert getattr(model_io, name).__doc__ or name == "TRUSTED_TYPES"


# ------------------------------------------------- the CV estimator, damage


@pytest.mark.parametrize(
    "cv, scoring",
    [
        (None, None),
        ("kfold", "calibration"),
        ("group", None),
        ("shuffle", None),
        ("stratified", None),  # unfitted: soft labels have no strata
    ],
)
def test_cv_estimator_round_trips(cv, scoring, tmp_path):
    # Measured before: UntrustedTypesError naming PairwiseCalibratedEnsembleCV.
    from sklearn.model_selection import GroupKFold, KFold, ShuffleSplit, StratifiedKFold

    from pcr_sklearn import PairwiseCalibratedEnsembleCV
    from pcr_sklearn.metrics import calibration_scorer

    splitter = {
        None: None,
        "kfold": KFold(2),
        "group": GroupKFold(2),
        "shuffle": ShuffleSplit(2, random_state=0),
        "stratified": StratifiedKFold(2),
    }[cv]
    est = PairwiseCalibratedEnsembleCV(
        n_estimators=[1, 2],
        cv=splitter,
        scoring=calibration_scorer if scoring else None,
        random_state=0,
    )
    if cv == "stratified":
        loaded = load(save(est, tmp_path / "cv.skops"))
        assert type(loaded.cv) is StratifiedKFold
        return
    groups = {"groups": np.arange(len(Y)) % 5} if cv == "group" else {}
    loaded = _round_trip(est.fit(X, Y, **groups), tmp_path / "cv.skops", X)
    assert loaded.k_ == est.k_ and loaded.best_params_ == est.best_params_
    np.testing.assert_array_equal(loaded.rewards(A), est.rewards(A))


def _edit_schema(path, edit):
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    schema = json.loads(members["schema.json"])
    edit(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_json_node_without_a_string_is_a_value_error_naming_the_file(tmp_path):
    # Measured before: skops' TypeError "the JSON object must be str, bytes
    # or bytearray, not int", naming no file.
    path = save(SoftBradleyTerry().fit(X, Y), tmp_path / "edited.skops")

    def edit(schema):
        schema["content"]["content"]["vote"]["content"] = 5

    _edit_schema(path, edit)
    with pytest.raises(ValueError, match="edited.skops: corrupt skops model file"):
        load(path)


def _patch_stamp_headers(path, local_offset, central_offset, value):
    """Set a 2-byte field of the stamp's local and central zip headers."""
    data = bytearray(path.read_bytes())
    name = STAMP_NAME.encode()
    for signature, offset in (
        (b"PK\x03\x04", local_offset),
        (b"PK\x01\x02", central_offset),
    ):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                data[start + offset : start + offset + 2] = value.to_bytes(2, "little")
            start += 4
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("flags", 0x1, "encrypted"),  # zipfile: RuntimeError
        ("method", 99, "compression method"),  # zipfile: NotImplementedError
    ],
)
def test_a_stamp_zipfile_cannot_read_is_a_value_error_naming_the_file(
    tmp_path, field, value, reason
):
    path = save(SoftBradleyTerry().fit(X, Y), tmp_path / "damaged.skops")
    local, central = {"flags": (6, 8), "method": (8, 10)}[field]
    _patch_stamp_headers(path, local, central, value)
    with pytest.raises(
        ValueError, match=f"damaged.skops: unreadable version stamp.*{reason}"
    ):
        load(path)
