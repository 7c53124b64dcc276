"""Torch-only building blocks with no other ``priors`` imports: input checks
(:mod:`~priors.core.checks`), the batch parser (:mod:`~priors.core.batch`), which output to
attribute (:mod:`~priors.core.targets`), task losses (:mod:`~priors.core.task`) and
normalisation-statistics freezing (:mod:`~priors.core.norm_stats`)."""
