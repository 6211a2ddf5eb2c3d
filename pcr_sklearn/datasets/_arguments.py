"""The bundled UKPConvArg1 argument-pair data with every crowd vote."""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from typing import Literal

import numpy as np
from sklearn.utils import Bunch

from .._compat import StrOptions, validate_params
from ..utils.validation import TEXT_COLUMNS
from ._io import _TIES, _import_pandas, soft_labels_from_votes

__all__ = ["load_convincing_arguments"]

_DATA_FILE = "UKPConvArg1.json.gz"
_README_FILE = "UKPConvArg1.README.md"
_FORMAT = "pcr_sklearn.ukpconvarg1/1"
# Column order of vote_counts, and the decoded vote labels.
_VOTE_LABELS = ("a1", "a2", "equal")


def _read_only(arr):
    arr.flags.writeable = False
    return arr


@functools.lru_cache(maxsize=1)
def _load_raw():
    """Decode the packed file once per process; arrays are read-only because
    the cache shares them between calls (the loader hands out copies)."""
    ref = resources.files(__package__).joinpath("data", _DATA_FILE)
    with ref.open("rb") as fh:
        payload = json.loads(gzip.decompress(fh.read()).decode("utf-8"))
    if payload.get("format") != _FORMAT:
        raise RuntimeError(
            f"{_DATA_FILE}: unexpected format {payload.get('format')!r}; "
            "rebuild it with scripts/build_argument_data.py"
        )
    codes = payload["codes"]
    label_of = dict(codes["label"])
    stance_of = dict(codes["stance"])

    texts = np.asarray(payload["texts"], dtype=object)
    arg_text = np.asarray(payload["argument_text"], dtype=np.int64)
    arguments = np.asarray(payload["arguments"], dtype=object)
    pairs, votes = payload["pairs"], payload["votes"]
    a1 = np.asarray(pairs["a1"], dtype=np.int64)
    a2 = np.asarray(pairs["a2"], dtype=np.int64)
    n_per_pair = np.asarray(pairs["n_votes"], dtype=np.int64)

    vote_pair = np.repeat(np.arange(a1.shape[0]), n_per_pair)
    label_code = np.frombuffer(votes["label"].encode("ascii"), dtype="S1")
    vote_counts = np.zeros((a1.shape[0], 3), dtype=np.int64)
    for j, name in enumerate(_VOTE_LABELS):
        code = next(c for c, v in label_of.items() if v == name).encode("ascii")
        np.add.at(vote_counts[:, j], vote_pair[label_code == code], 1)

    def decode(letters, table):
        out = np.empty(len(letters), dtype=object)
        out[:] = [table[c] for c in letters]
        return out

    raw = {
        "texts": texts,
        "text_ids": np.stack([arg_text[a1], arg_text[a2]], axis=1),
        "pair_ids": np.asarray(
            [f"{arguments[i]}_{arguments[j]}" for i, j in zip(a1, a2, strict=True)],
            dtype=object,
        ),
        "topic": np.asarray(pairs["topic"], dtype=np.int64),
        "topic_debate": np.asarray(payload["topic_debate"], dtype=np.int64),
        "topic_names": np.asarray(payload["topics"], dtype=object),
        "prompts": np.asarray(payload["topic_prompts"], dtype=object),
        "debate_names": np.asarray(payload["debates"], dtype=object),
        "gold": decode(pairs["gold"], label_of),
        "vote_counts": vote_counts,
        "vote_pair": vote_pair,
        "vote_worker": np.asarray(payload["workers"], dtype=object)[
            np.asarray(votes["worker"], dtype=np.int64)
        ],
        "vote_label": decode(votes["label"], label_of),
        "vote_stance": decode(votes["stance"], stance_of),
        "source": payload["source"],
    }
    for value in raw.values():
        if isinstance(value, np.ndarray):
            _read_only(value)
    return raw


def _descr():
    ref = resources.files(__package__).joinpath("data", _README_FILE)
    return ref.read_text(encoding="utf-8")


def _labels(vote_counts, ties):
    """Soft labels and the number of votes behind each, as ``ties`` counts them."""
    target = soft_labels_from_votes(
        vote_counts[:, 0], vote_counts[:, 1], vote_counts[:, 2], ties=ties
    )
    if ties == "half":
        n_votes = vote_counts.sum(axis=1)
    else:
        n_votes = vote_counts[:, 0] + vote_counts[:, 1]
    return target, n_votes


def _text_pairs(raw):
    """The (n_pairs, 3) object array of prompt, response_a, response_b."""
    groups = raw["topic"]
    texts, text_ids = raw["texts"], raw["text_ids"]
    data = np.empty((groups.shape[0], 3), dtype=object)
    data[:, 0] = raw["prompts"][groups]
    data[:, 1] = texts[text_ids[:, 0]]
    data[:, 2] = texts[text_ids[:, 1]]
    return data


def _as_frames(pd, data, votes, columns):
    """``data`` and ``votes`` as DataFrames, and the frame of data plus
    ``columns`` (name -> per-pair values, in column order)."""
    data = pd.DataFrame(data, columns=list(TEXT_COLUMNS))
    frame = data.copy()
    for name, values in columns.items():
        frame[name] = values
    return data, frame, pd.DataFrame(dict(votes))


@validate_params(
    {"as_frame": ["boolean"], "ties": [StrOptions(set(_TIES))]},
    prefer_skip_nested_validation=True,
)
def load_convincing_arguments(
    *, as_frame: bool = True, ties: Literal["half", "drop"] = "half"
) -> Bunch:
    """Load UKPConvArg1: which of two arguments is more convincing (crowd votes).

    16,927 pairs of arguments taken from 32 debate sides (16 debates x 2
    stances) of createdebate.com and convinceme.net, each judged by 4-5
    crowd workers as "a1", "a2" or "equal" (Habernal & Gurevych, ACL 2016;
    CC-BY 4.0 -- see ``DESCR`` for the attribution and citation). Each pair
    is a preference pair whose prompt is the debate side: both arguments
    argue the same stance of the same debate, and the question is which one
    convinces more. Workers disagree a lot, so the soft labels are far from
    0/1: this is real, measured disagreement.

    The data ship with the package; nothing is downloaded.

    Parameters
    ----------
    as_frame : bool, default=True
        If True, ``data`` is a pandas DataFrame with columns prompt,
        response_a, response_b, ``frame`` holds those plus target, n_votes,
        group, debate, topic and pair_id, and ``votes`` is a DataFrame; needs
        pandas. If False, ``data`` is an object ndarray of shape (16927, 3),
        ``frame`` is None and ``votes`` is a Bunch of 1-D arrays.
    ties : {"half", "drop"}, default="half"
        How "equal" votes enter the soft label:
        ``"half"``: ``(#a1 + 0.5 * #equal) / #votes``, all votes count;
        ``"drop"``: ``#a1 / (#a1 + #a2)``, ties are discarded. Under "drop",
        the 127 pairs whose votes are all "equal" get target 0.5 and
        ``n_votes`` 0, so weighting by ``n_votes`` (or filtering on
        ``n_votes > 0``) leaves them out while every array stays aligned with
        the full pair list.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        Dictionary-like object with the following attributes.

        data : DataFrame of shape (16927, 3) or ndarray of object
            Columns prompt (the debate side's readable title and stance),
            response_a (argument a1), response_b (argument a2).
        target : ndarray of shape (16927,)
            Soft label P(a1 more convincing than a2), see ``ties``.
        n_votes : ndarray of int, shape (16927,)
            Votes behind each label (all votes for "half", a1 + a2 for
            "drop"); usable as sample weights.
        sample_weight : ndarray of float, shape (16927,)
            ``n_votes`` as floats.
        vote_counts : ndarray of int, shape (16927, 3)
            Number of "a1", "a2" and "equal" votes per pair.
        groups : ndarray of int, shape (16927,)
            Prompt id (debate side, 0-31) of each pair, for GroupKFold over
            prompts; indexes ``prompts`` and ``topic_names``.
        debate_ids : ndarray of int, shape (16927,)
            Debate id (0-15) of each pair; both stances of a debate share
            it. Grouping by it keeps a whole topic out of training, the
            stricter "new topic" split; indexes ``debate_names``.
        prompts : ndarray of str, shape (32,)
            Readable prompt of each debate side.
        topic_names : ndarray of str, shape (32,)
            Original file stem of each debate side, e.g.
            "ban-plastic-water-bottles_no-bad-for-the-economy".
        debate_names : ndarray of str, shape (16,)
            Debate part of the stems.
        pair_ids : ndarray of str, shape (16927,)
            Original pair ids "<arg1 id>_<arg2 id>".
        texts : ndarray of str, shape (1038,)
            The distinct argument texts.
        text_ids : ndarray of int, shape (16927, 2)
            Index into ``texts`` of response_a and response_b, so a
            featuriser can embed each text once.
        gold : ndarray of object, shape (16927,)
            The corpus' own gold label ("a1", "a2", "equal" or None).
        votes : DataFrame or Bunch, 84,445 rows
            One row per vote: pair (row index into data), worker (anonymous
            worker id), label ("a1", "a2", "equal"), stance (the worker's
            own stance on the topic: "same", "opposite", "none", or
            missing).
        frame : DataFrame or None
            data plus target, n_votes, group, debate, topic and pair_id.
        feature_names : list of str
            ``["prompt", "response_a", "response_b"]``.
        DESCR : str
            Description, licence and citation of the data.

    Raises
    ------
    ValueError
        If ``ties`` is not "half" or "drop".
    ImportError
        If ``as_frame=True`` and pandas is not installed.

    Examples
    --------
    >>> from pcr_sklearn.datasets import load_convincing_arguments
    >>> args = load_convincing_arguments(as_frame=False)
    >>> args.data.shape, args.vote_counts.sum(axis=0).tolist()
    ((16927, 3), [32849, 32491, 19105])
    >>> args.data[0, 0]
    'Ban plastic water bottles? Stance: No, bad for the economy.'
    >>> float(args.target[0]), int(args.n_votes[0])
    (0.3, 5)
    >>> len(args.prompts), len(args.debate_names)
    (32, 16)
    """
    pd = _import_pandas("load_convincing_arguments") if as_frame else None
    raw = _load_raw()
    # The cached arrays are read-only and shared: hand out copies.
    counts = raw["vote_counts"].copy()
    target, n_votes = _labels(counts, ties)
    groups = raw["topic"].copy()
    debate_ids = raw["topic_debate"][groups]
    data = _text_pairs(raw)
    votes = Bunch(
        pair=raw["vote_pair"].copy(),
        worker=raw["vote_worker"].copy(),
        label=raw["vote_label"].copy(),
        stance=raw["vote_stance"].copy(),
    )
    frame = None
    if as_frame:
        data, frame, votes = _as_frames(
            pd,
            data,
            votes,
            {
                "target": target,
                "n_votes": n_votes,
                "group": groups,
                "debate": debate_ids,
                "topic": raw["topic_names"][groups],
                "pair_id": raw["pair_ids"],
            },
        )

    return Bunch(
        data=data,
        target=target,
        n_votes=n_votes,
        sample_weight=n_votes.astype(np.float64),
        vote_counts=counts,
        groups=groups,
        debate_ids=debate_ids,
        prompts=raw["prompts"].copy(),
        topic_names=raw["topic_names"].copy(),
        debate_names=raw["debate_names"].copy(),
        pair_ids=raw["pair_ids"].copy(),
        texts=raw["texts"].copy(),
        text_ids=raw["text_ids"].copy(),
        gold=raw["gold"].copy(),
        votes=votes,
        frame=frame,
        feature_names=list(TEXT_COLUMNS),
        DESCR=_descr(),
    )
