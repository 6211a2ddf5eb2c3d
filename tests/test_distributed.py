"""Scaling out: the CV estimator's fits run on a real Dask cluster via joblib."""

import joblib
import pytest
from numpy.testing import assert_array_equal
from sklearn.model_selection import GroupKFold

from pcr_sklearn import PairwiseCalibratedEnsemble, PairwiseCalibratedEnsembleCV

from ._helpers import linear_mixture

distributed = pytest.importorskip("distributed")


def test_cv_fits_on_a_local_dask_cluster_equal_the_sequential_run():
    X, y, groups = linear_mixture(600, 3, [0.7, 0.3], seed=0)
    params = dict(
        n_estimators=8,
        cv=GroupKFold(3),
        param_grid={"taste": [0.5, 1.0]},
        random_state=0,
    )
    sequential = PairwiseCalibratedEnsembleCV(**params).fit(X, y, groups=groups)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as stream,
        joblib.parallel_config(backend="dask"),
    ):
        scaled = PairwiseCalibratedEnsembleCV(**params, n_jobs=-1).fit(
            X, y, groups=groups
        )
    # The 2 grid points x 3 folds ran as tasks on the cluster's workers ...
    workers = {task["worker"] for task in stream.data}
    assert len(stream.data) >= 6 and workers
    # ... and gave exactly the sequential results.
    assert scaled.best_params_ == sequential.best_params_
    assert_array_equal(
        scaled.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
    assert_array_equal(scaled.predict_proba(X), sequential.predict_proba(X))


def test_auto_growths_on_a_local_dask_cluster_equal_the_sequential_run():
    # objective="auto" grows every stage twice; each growth draws its member
    # seeds from a seed drawn up front, so where it runs changes nothing.
    X, y, _ = linear_mixture(600, 3, [0.5, 0.3, 0.2], seed=0)
    params = dict(n_estimators=3, members="stagewise", objective="auto", random_state=0)
    sequential = PairwiseCalibratedEnsemble(**params).fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as stream,
        joblib.parallel_config(backend="dask"),
    ):
        scaled = PairwiseCalibratedEnsemble(**params, n_jobs=-1).fit(X, y)
    # Stages 2 and 3 each sent their two growths to the workers ...
    assert len(stream.data) >= 4
    # ... and the model is exactly the sequential one.
    assert scaled.n_member_fits_ == sequential.n_member_fits_
    assert_array_equal(scaled.estimator_weights_, sequential.estimator_weights_)
    for a, b in zip(scaled.estimators_, sequential.estimators_):
        assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(scaled.train_score_, sequential.train_score_)
    assert_array_equal(scaled.predict_proba(X), sequential.predict_proba(X))
