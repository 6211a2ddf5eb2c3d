"""Pairwise calibrated ensemble of transformer reward heads on argument data.

Fits ``PairwiseCalibratedEnsemble(TransformerReward(model), n_estimators=4)`` on a
subset of UKPConvArg1 (which of two arguments is more convincing, 4-5 crowd votes
per pair; see :func:`pcr_sklearn.datasets.load_convincing_arguments`) and reports
the held-out pairwise calibration error per ensemble size next to the
single-reward floor.

With the default ``trainable="head"`` the backbone is frozen and shared by the
four members: every unique (debate side, argument) text is encoded once, and each
member is a small head on the cached vectors. On a CPU with a MiniLM-sized model
this runs in a few minutes; on a GPU in seconds.

Usage::

    python examples/transformer_reward.py --model path/to/all-MiniLM-L6-v2
    python examples/transformer_reward.py --model path/to/model --trainable last-n
    python examples/transformer_reward.py          # random tiny model (API demo)

``--model`` takes a local directory (nothing is downloaded) or a hub name on a
machine with network access. Without it, a tiny BERT with random weights and a
tokenizer trained on the arguments is built in a temporary directory: that
demonstrates the API, but random features cannot beat the floor.
"""

import argparse
import tempfile
import time

import numpy as np
from sklearn.model_selection import train_test_split

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.datasets import load_convincing_arguments
from pcr_sklearn.metrics import calibration_error, single_reward_floor
from pcr_sklearn.rewards import TransformerReward
from pcr_sklearn.utils._testing import build_random_bert, count_embeddings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="local model directory or hub name")
    parser.add_argument("--n-pairs", type=int, default=2000)
    parser.add_argument("--n-estimators", type=int, default=4)
    parser.add_argument(
        "--trainable", choices=["head", "last-n", "all"], default="head"
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_convincing_arguments()
    rng = np.random.RandomState(args.seed)
    subset = rng.choice(len(data.target), size=args.n_pairs, replace=False)
    X = data.data.iloc[subset].reset_index(drop=True)
    y = data.target[subset]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.seed
    )
    print(f"{len(X_train)} training pairs, {len(X_test)} held-out pairs")

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            print("No --model given: using a tiny BERT with RANDOM weights (API demo).")
            texts = list(X.prompt) + list(X.response_a) + list(X.response_b)
            model = build_random_bert(
                tmp,
                texts,
                hidden_size=64,
                num_heads=4,
                intermediate_size=128,
                vocab_size=4000,
                max_length=512,
                sentence_transformers=False,
            ).hf_dir
        reward = TransformerReward(
            model,
            trainable=args.trainable,
            max_length=args.max_length,
            batch_size=args.batch_size,
            device=args.device,
            random_state=args.seed,
        )
        ensemble = PairwiseCalibratedEnsemble(
            reward, n_estimators=args.n_estimators, random_state=args.seed
        )
        start = time.perf_counter()
        with count_embeddings() as counter:
            ensemble.fit(X_train, y_train)
            staged = list(ensemble.staged_predict_proba(X_test))
        seconds = time.perf_counter() - start

    member = ensemble.estimators_[0]
    print(
        f"fit + staged predictions: {seconds:.1f} s on {member.device_} "
        f"({member.precision_}); backbone passes: {counter.n_texts} texts, "
        f"{counter.n_unique} unique (each encoded at most {counter.max_repeats}x)"
    )
    floor = single_reward_floor(y_test)
    constant = calibration_error(y_test, np.full(len(y_test), 0.5))
    print(f"single-reward floor {floor:.4f}   constant 0.5: {constant:.4f}")
    print(" k   held-out CE   CE / floor")
    for k, proba in enumerate(staged, start=1):
        error = calibration_error(y_test, proba[:, 1])
        print(f"{k:2d}   {error:.4f}        {error / floor:.3f}")
    print("weights:", np.round(ensemble.estimator_weights_, 3))


if __name__ == "__main__":
    main()
