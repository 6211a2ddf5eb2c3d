"""Safe model files: save and load fitted models with skops, never with pickle.

Loading a pickle (or a joblib file, which is a pickle) runs whatever code its
author put in it, so a model file from someone else is a program you run. The
skops format (:mod:`skops.io`) stores an object's state as JSON and NumPy
arrays in a zip archive; loading rebuilds the objects from that state, and
only objects whose types were trusted before anything is built. :func:`save`
writes that format; :func:`load` reads it, trusts the types listed in
:data:`TRUSTED_TYPES` (this package's models and the scikit-learn and NumPy
types they hold) and refuses a file holding any other type, naming it, unless
the caller trusts it explicitly. Nothing in :func:`load` falls back to pickle.

Each file also records the versions of the libraries it was saved with (a
small JSON member, ``pcr_sklearn.json``, read with :mod:`json`); :func:`load`
warns with :class:`InconsistentVersionWarning` when they differ from the
running ones.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import os
import uuid
import warnings
import zipfile
import zlib
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sklearn.base import BaseEstimator

__all__ = [
    "TRUSTED_TYPES",
    "InconsistentVersionWarning",
    "UntrustedTypesError",
    "load",
    "save",
]

#: Fully qualified names of the types :func:`load` trusts beyond what skops
#: trusts by default (Python built-ins, NumPy arrays and dtypes, SciPy sparse
#: matrices, scikit-learn's estimators). Every class of this package that a
#: fitted model can hold is here; the scikit-learn and NumPy types our models
#: hold are listed too, so the policy is written down in one place even where
#: skops already trusts them. Each entry was reviewed: these classes restore
#: their state without running code taken from the file.
TRUSTED_TYPES = (
    # estimators
    "pcr_sklearn._ensemble.PairwiseCalibratedEnsemble",
    "pcr_sklearn._cv.PairwiseCalibratedEnsembleCV",
    "pcr_sklearn.baselines._bagging.BaggedRewardEnsemble",
    "pcr_sklearn.baselines._bradley_terry.MajorityVoteBradleyTerry",
    "pcr_sklearn.baselines._bradley_terry.SoftBradleyTerry",
    "pcr_sklearn.baselines._mixture.MixtureBradleyTerry",
    # members: reward learners, and members drawn from a fitted population
    "pcr_sklearn.rewards._linear.LinearReward",
    "pcr_sklearn.rewards._mlp.MLPReward",
    "pcr_sklearn.rewards._transformer._estimator.TransformerReward",
    "pcr_sklearn._population.SampledReward",
    "pcr_sklearn._population.TasteFeatures",
    # text features
    "pcr_sklearn.text._embedder.PairEmbedder",
    # scikit-learn and NumPy types held by the models above
    "sklearn.pipeline.Pipeline",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.decomposition._truncated_svd.TruncatedSVD",
    "numpy.random.mtrand.RandomState",
    "numpy.float64",
    # what PairwiseCalibratedEnsembleCV's ``cv`` and ``scoring`` may hold:
    # splitters (parameters and, for PredefinedSplit, an array of fold ids)
    # and scorers (a reference to a metric function, itself checked by name)
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.GroupKFold",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.model_selection._split.StratifiedGroupKFold",
    "sklearn.model_selection._split.RepeatedKFold",
    "sklearn.model_selection._split.RepeatedStratifiedKFold",
    "sklearn.model_selection._split.ShuffleSplit",
    "sklearn.model_selection._split.GroupShuffleSplit",
    "sklearn.model_selection._split.StratifiedShuffleSplit",
    "sklearn.model_selection._split.LeaveOneGroupOut",
    "sklearn.model_selection._split.LeavePGroupsOut",
    "sklearn.model_selection._split.LeaveOneOut",
    "sklearn.model_selection._split.LeavePOut",
    "sklearn.model_selection._split.PredefinedSplit",
    "sklearn.model_selection._split.TimeSeriesSplit",
    "sklearn.metrics._scorer._Scorer",
    "pcr_sklearn.metrics._calibration.calibration_error",
    # paths given as ``model`` or ``cache_dir`` (inert values, no I/O)
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib._local.PosixPath",
    "pathlib._local.WindowsPath",
)

#: Name of the version stamp inside the zip archive.
STAMP_NAME = "pcr_sklearn.json"
_FORMAT = "pcr_sklearn.io"
_FORMAT_VERSION = 1


class InconsistentVersionWarning(UserWarning):
    """A model file was saved with other library versions than the running ones.

    Raised as a warning by :func:`load`; the file is loaded all the same.

    Parameters
    ----------
    message : str
        What differs, naming the saved and running versions.
    saved : dict, default=None
        ``{library: version}`` recorded in the file for the libraries that
        differ.
    running : dict, default=None
        ``{library: version}`` of this process for the same libraries.

    Attributes
    ----------
    saved : dict
        ``{library: version}`` recorded in the file, for the libraries that
        differ.
    running : dict
        ``{library: version}`` of this process (``None``: not installed).

    See Also
    --------
    load : Warns with it.

    Examples
    --------
    >>> import warnings
    >>> from pcr_sklearn.io import InconsistentVersionWarning
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn(InconsistentVersionWarning(
    ...         "saved with scikit-learn 1.6.1, running 1.7.0",
    ...         saved={"sklearn": "1.6.1"}, running={"sklearn": "1.7.0"}))
    >>> caught[0].message.saved
    {'sklearn': '1.6.1'}

    ``warnings.simplefilter("error", InconsistentVersionWarning)`` turns it
    into an error, for a service that must refuse such files.
    """

    def __init__(
        self,
        message: str,
        saved: Mapping[str, str] | None = None,
        running: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.saved = dict(saved or {})
        self.running = dict(running or {})


class UntrustedTypesError(ValueError):
    """A model file holds types that are not trusted; nothing was loaded.

    Raised by :func:`load` after listing the file's types and before building
    any object. Review the types, then pass them in ``trusted=`` if they are
    safe.

    Parameters
    ----------
    message : str
        The error message, naming the types.
    types : sequence of str, default=()
        The untrusted types, fully qualified.

    Attributes
    ----------
    types : list of str
        The untrusted types, fully qualified.

    See Also
    --------
    load : Raises it.
    TRUSTED_TYPES : The types trusted besides skops' own.

    Examples
    --------
    >>> from pcr_sklearn.io import UntrustedTypesError
    >>> try:
    ...     raise UntrustedTypesError("untrusted: my_pkg.Reward", ["my_pkg.Reward"])
    ... except UntrustedTypesError as exc:
    ...     print(exc.types)
    ['my_pkg.Reward']

    ``load(path, trusted=exc.types)`` loads the file once they are reviewed.
    """

    def __init__(self, message: str, types: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.types = list(types)


def _import_skops():
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - skops is a dependency
        raise ImportError(
            "Saving and loading models needs skops: pip install 'skops>=0.10'."
        ) from exc
    return sio


def _versions():
    """``{library: version}`` of this process; ``None`` for what is missing."""
    import numpy
    import sklearn

    from . import __version__

    versions = {
        "pcr_sklearn": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
    }
    # From the installed metadata: importing torch only to read its version
    # would cost seconds on every save and load.
    try:
        versions["torch"] = metadata.version("torch")
    except metadata.PackageNotFoundError:
        versions["torch"] = None
    return versions


@contextlib.contextmanager
def _replace_atomically(path):
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The temporary file lives in the same folder, so :func:`os.replace` is an
    atomic rename: an interrupted or failed write leaves the previous file
    untouched and no half-written one behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as fh:  # on disk before it takes the name
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save(model: BaseEstimator, path: str | os.PathLike[str]) -> Path:
    """Save a fitted model to ``path`` in the skops format, atomically.

    Parameters
    ----------
    model : estimator
        Any model of this package (an ensemble, a baseline, a reward learner,
        a :class:`~pcr_sklearn.text.PairEmbedder`, or a scikit-learn
        ``Pipeline`` of them). Torch networks are stored as NumPy arrays;
        a :class:`~pcr_sklearn.rewards.TransformerReward` stores its trained
        weights and the reference ``model`` to its backbone, never the
        backbone itself.
    path : str or os.PathLike
        The file to write (conventionally ``*.skops``). It is written to a
        temporary file in the same folder and then renamed, so a failed or
        interrupted save never leaves a partial file nor replaces an existing
        one.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    IsADirectoryError
        If ``path`` is a directory.
    TypeError
        If the model holds an object skops cannot store (for instance a torch
        tensor in a custom learner's state).

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    The file is a skops zip archive plus a member ``pcr_sklearn.json`` that
    records the versions of pcr_sklearn, scikit-learn, NumPy and torch (when
    installed); :func:`load` compares them with the running ones.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from pcr_sklearn import PairwiseCalibratedEnsemble
    >>> from pcr_sklearn.io import load, save
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(100, 4)), rng.uniform(size=100)
    >>> est = PairwiseCalibratedEnsemble(n_estimators=2, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(est, os.path.join(tmp, "model.skops"))
    ...     loaded = load(path)
    >>> bool(np.array_equal(loaded.predict_proba(X), est.predict_proba(X)))
    True
    """
    sio = _import_skops()
    path = Path(os.fspath(path))
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a model file")
    stamp = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "versions": {k: v for k, v in _versions().items() if v is not None},
    }
    with _replace_atomically(path) as tmp:
        try:
            sio.dump(model, tmp)
        except (TypeError, ValueError, RuntimeError, AttributeError) as exc:
            # skops reports unsupported objects with whatever error their
            # state raised (torch: "Cannot directly construct TensorBase").
            raise TypeError(
                f"Cannot save {type(model).__name__} in the skops format: {exc}. "
                "Every attribute must be a built-in value, a NumPy array or an "
                "object with such state (store torch tensors as arrays in "
                "__getstate__)."
            ) from exc
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STAMP_NAME, json.dumps(stamp, indent=2, sort_keys=True))
    return path


def _looks_like_pickle(path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    # Pickle protocols 2 to 5 (what pickle and joblib write) start with PROTO.
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _open_archive(path):
    """``path`` as an open zip archive, or a ValueError saying what it is."""
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty, not a model file")
    if _looks_like_pickle(path):
        raise ValueError(
            f"{path}: is a pickle/joblib file, not a skops model file; "
            "pcr_sklearn.io never unpickles (unpickling can run arbitrary code)"
        )
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{path}: not a skops model file (not a complete zip archive: the "
            "file is truncated or in another format)"
        ) from None


#: What reading a damaged or edited archive raises: a bad header or CRC
#: (BadZipFile), a missing member (KeyError), a member flagged encrypted
#: (RuntimeError), an unknown compression method (NotImplementedError),
#: corrupt compressed data (zlib.error, bz2's OSError, LZMAError, EOFError),
#: undecodable or misshapen content (ValueError, TypeError; a RecursionError
#: of deeply nested JSON is a RuntimeError).
_DAMAGED = (
    zipfile.BadZipFile,
    KeyError,
    RuntimeError,
    NotImplementedError,
    zlib.error,
    OSError,
    lzma.LZMAError,
    EOFError,
    ValueError,
    TypeError,
)


def _read_stamp(archive, path):
    """The version stamp of an open archive, or None when there is none."""
    if STAMP_NAME not in archive.namelist():
        return None  # a plain skops file (skops.io.dump): nothing to compare
    try:
        stamp = json.loads(archive.read(STAMP_NAME).decode("utf-8"))
        versions = stamp["versions"]
        if not isinstance(versions, dict):
            raise TypeError(type(versions).__name__)
    except _DAMAGED as exc:
        raise ValueError(
            f"{path}: unreadable version stamp {STAMP_NAME} ({exc!r})"
        ) from None
    return {str(k): str(v) for k, v in versions.items()}


def _check_versions(saved, path):
    running = _versions()
    differ = {
        name: version
        for name, version in saved.items()
        if name in running and running[name] != version
    }
    if not differ:
        return
    pairs = ", ".join(
        f"{name} {version} (running: "
        f"{running[name] if running[name] is not None else 'not installed'})"
        for name, version in differ.items()
    )
    warnings.warn(
        InconsistentVersionWarning(
            f"{path} was saved with {pairs}; the model may load or predict "
            "differently. Re-fit or re-save it with the running versions.",
            saved=differ,
            running={name: running[name] for name in differ},
        ),
        stacklevel=3,
    )


def _check_trusted(trusted):
    if trusted is None:
        return set()
    if not isinstance(trusted, list | tuple | set | frozenset) or not all(
        isinstance(t, str) for t in trusted
    ):
        raise TypeError(
            "trusted must be a list of fully qualified type names (str), as "
            f"listed in the error of an untrusted file; got {trusted!r}."
        )
    return set(trusted)


def load(
    path: str | os.PathLike[str],
    *,
    trusted: list[str] | tuple[str, ...] | set[str] | frozenset[str] | None = None,
) -> Any:
    """Load a model saved by :func:`save`, building only trusted types.

    Parameters
    ----------
    path : str or os.PathLike
        A skops file. Pickle and joblib files are refused, never unpickled.
    trusted : list of str, default=None
        Fully qualified type names to trust in addition to
        :data:`TRUSTED_TYPES` (for example a custom reward learner's class),
        after you have reviewed them. The error for an untrusted file lists
        the names.

    Returns
    -------
    model : object
        The saved model.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    UntrustedTypesError
        If the file holds types that neither skops's defaults,
        :data:`TRUSTED_TYPES` nor ``trusted`` trust; the message and the
        ``types`` attribute name them. Nothing is built.
    ValueError
        If the file is empty, truncated, a pickle, or not a skops file.

    Warns
    -----
    InconsistentVersionWarning
        When the versions recorded in the file differ from the running ones
        (both are named).

    See Also
    --------
    save : Write a model file.

    Notes
    -----
    Before anything is built, the version stamp is read with :mod:`json` and
    the types in the file are listed with
    :func:`skops.io.get_untrusted_types`, which only parses the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from pcr_sklearn.baselines import SoftBradleyTerry
    >>> from pcr_sklearn.io import load, save
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(100, 4)), rng.uniform(size=100)
    >>> model = SoftBradleyTerry().fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(model, os.path.join(tmp, "bt.skops"))
    ...     loaded = load(path)
    >>> type(loaded).__name__
    'SoftBradleyTerry'
    """
    sio = _import_skops()
    extra = _check_trusted(trusted)
    path = Path(os.fspath(path))
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a model file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    with _open_archive(path) as archive:
        saved = _read_stamp(archive, path)
    if saved is not None:
        _check_versions(saved, path)
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:
        # Parsing an untrusted file: any failure means it is not a valid
        # skops file, and the user needs one line saying so, not skops'
        # internals.
        raise ValueError(
            f"{path}: not a valid skops model file ({type(exc).__name__}: {exc})"
        ) from None
    refused = sorted(set(found) - set(TRUSTED_TYPES) - extra)
    if refused:
        raise UntrustedTypesError(
            f"{path}: refusing to load untrusted types {', '.join(refused)}; "
            "review them and pass trusted=[...] to pcr_sklearn.io.load if you "
            "trust the file's author",
            types=refused,
        )
    try:
        return sio.load(path, trusted=found)
    except _DAMAGED as exc:
        # A member that does not match the schema (a damaged or edited file:
        # skops raises a TypeError for a node whose content has the wrong
        # type, zipfile and the decompressors their own errors).
        raise ValueError(
            f"{path}: corrupt skops model file ({type(exc).__name__}: {exc})"
        ) from None
