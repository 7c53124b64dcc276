"""Evaluate the attributions of trained runs: ``python evaluate.py run=<run dir>`` (Hydra).

The same as the ``priors-evaluate`` console script (:mod:`priors.app.evaluate`); ``--help``
explains.
"""
from priors.app.evaluate import evaluate, main  # noqa: F401 (evaluate: the in-process API)

if __name__ == "__main__":
    main()
