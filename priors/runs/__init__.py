"""A training run's folder and what is rebuilt from it: the datamodule and model of a saved
run config (:mod:`~priors.runs.build`), used by the training pipeline and by evaluation alike."""
