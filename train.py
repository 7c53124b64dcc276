"""Train a model with an attribution prior: ``python train.py prior=xg`` (Hydra; ``-m`` sweeps).

The same as the ``priors-train`` console script (:mod:`priors.app.train`); ``--help`` explains.
"""
from priors.app.train import main

if __name__ == "__main__":
    main()
