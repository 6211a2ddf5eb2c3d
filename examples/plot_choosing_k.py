"""
Choosing the number of members for new debates
==============================================

How many members should an ensemble have? More members make the hard-vote
share a finer estimate of the population's probability, and cost little with
population members (one member fit whatever ``k``); the error on prompts
never seen in training decides. This example chooses ``k`` on the argument
data the way a deployment would need it: by cross-validation *over debates*
(:class:`~sklearn.model_selection.GroupKFold` with ``groups=``), so that no
debate is both fitted and scored.

:class:`~pcr_sklearn.PairwiseCalibratedEnsembleCV` fits one ensemble at the
largest ``k`` per fold and scores every prefix ``k = 1..128`` from it, instead
of refitting every size like :class:`~sklearn.model_selection.GridSearchCV`.
With ``k_selection="one_standard_error"`` it takes the smallest ``k`` whose
score is within one standard error of the best.
"""

# %%
# Held-out debates
# ----------------
# Four of the sixteen debates (both stances of each) are kept out entirely;
# model selection sees only the other twelve. Responses become TF-IDF + SVD
# features fitted on the training texts.

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FormatStrFormatter
from sklearn.model_selection import GroupKFold, GroupShuffleSplit

from pcr_sklearn import PairwiseCalibratedEnsembleCV
from pcr_sklearn.datasets import load_convincing_arguments
from pcr_sklearn.metrics import StagedErrorDisplay, calibration_error
from pcr_sklearn.text import PairEmbedder

data = load_convincing_arguments()
X, y, n_votes, debates = data.data, data.target, data.n_votes, data.debate_ids
split = GroupShuffleSplit(n_splits=1, test_size=4, random_state=0)
train, test = next(split.split(X, y, groups=debates))
print(
    f"{train.size} training pairs from {np.unique(debates[train]).size} debates, "
    f"{test.size} held-out pairs from {np.unique(debates[test]).size} debates"
)

embed = PairEmbedder("tfidf", prompt_mode="response", random_state=0)
features_train = embed.fit_transform(X.iloc[train])
features_test = embed.transform(X.iloc[test])

# %%
# One staged fit per fold
# -----------------------
# Three folds of whole debates; every ``k`` from 1 to 128 is scored from the
# same three fits.

cv = PairwiseCalibratedEnsembleCV(
    cv=GroupKFold(n_splits=3),
    k_selection="one_standard_error",
    random_state=0,
).fit(features_train, y[train], groups=debates[train])
best_k = int(
    cv.cv_results_["params"][np.argmax(cv.cv_results_["mean_test_score"])][
        "n_estimators"
    ]
)
print(f"best mean CV score at k = {best_k}; one-standard-error choice: k = {cv.k_}")

# %%
# The cross-validated error against ``k`` with its spread over the folds
# (left), and the refitted ensemble's error on the four held-out debates
# (right), both next to the floors of their pairs.

fig, (ax_cv, ax_test) = plt.subplots(
    1, 2, figsize=(11, 4.3), sharey=True, layout="constrained"
)
StagedErrorDisplay.from_cv_results(cv, y[train], n_votes=n_votes[train], ax=ax_cv)
n_folds, n_train_debates = cv.cv.get_n_splits(), np.unique(debates[train]).size
ax_cv.set_title(f"CV error: {n_folds} folds of the {n_train_debates} training debates")
StagedErrorDisplay.from_estimator(
    cv.best_estimator_,
    features_test,
    y[test],
    n_votes=n_votes[test],
    ax=ax_test,
    name=f"refitted, k = {cv.k_}",
)
ax_test.set_title(
    f"refitted ensemble on the {np.unique(debates[test]).size} held-out debates"
)
ax_test.set_ylabel("")  # shared with the left panel
for ax in (ax_cv, ax_test):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%d"))  # 1, 2, 4, ... not 2^k
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
plt.show()

error = calibration_error(y[test], cv.predict_proba(features_test))
print(f"held-out error with k = {cv.k_}: {error:.4f}")

# %%
# The curve falls steeply for the first few members and flattens: each extra
# member refines the vote share by less (its Monte-Carlo error shrinks like
# ``p (1 - p) / k``). The one-standard-error rule takes the smallest ``k``
# whose score is within one standard error of the best, the error of the
# per-fold *difference* to the best ``k``: every ``k`` is scored on the same
# splits, so that difference is what varies by chance. Members drawn from a
# population cost no extra fit, so a large ``k`` is cheap; the rule matters
# more for stagewise members, where every member is a fit.
#
# The split must be by debate: a split by pairs would put every debate's
# arguments on both sides of it and choose ``k`` for a different task (pairs
# of arguments already seen) than the one deployment poses.
