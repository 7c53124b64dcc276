"""Lightning glue: :class:`~priors.lightning.module.PriorModule`, Expected-Gradients reference
samplers from a trainer (:mod:`~priors.lightning.references`) and exact-resume state
(:mod:`~priors.lightning.resume_state`)."""
