"""A training run's folder and its integrity: what is rebuilt from it (the datamodule and model
of a saved run config, :mod:`~priors.runs.build`), one run per folder (:mod:`~priors.runs.lock`),
atomic file writes (:mod:`~priors.runs.atomic`), data and model fingerprints
(:mod:`~priors.runs.fingerprint`), and the ``result.json`` schema with a reader that flags
incomplete results (:mod:`~priors.runs.result`)."""
