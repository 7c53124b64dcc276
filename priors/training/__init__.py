"""The regularized training step in plain PyTorch: :class:`~priors.training.prior.Prior`
(attribution method + penalty + weight), the step (:mod:`~priors.training.step`) and the X-DNN
homogeneity checks (:mod:`~priors.training.xdnn`)."""
