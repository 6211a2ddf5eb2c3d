"""Utilities: validation (the bottom layer), caches, pair-aware estimator checks.

Nothing is imported here, so importing :mod:`pcr_sklearn.utils.validation`
stays cheap; import the submodules themselves.
"""
