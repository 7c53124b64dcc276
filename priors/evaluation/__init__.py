"""Evaluation of attributions (perturbation tests in :mod:`priors.evaluation.perturbation`)."""
