"""The lowest layer, torch only, importing nothing else of ``priors``: input checks
(:mod:`~priors.core.checks`), the batch parser (:mod:`~priors.core.batch`), which output to
attribute (:mod:`~priors.core.targets`), task losses (:mod:`~priors.core.task`),
normalisation-statistics freezing (:mod:`~priors.core.norm_stats`), the standard error
(:mod:`~priors.core.stats`) and the markdown table writer (:mod:`~priors.core.tables`)."""
