"""``python -m priors.report multirun/<time> [more dirs]`` (the same as ``priors-report``)."""
import sys

from .cli import main

if __name__ == "__main__":  # importing the module (doctests, docs) runs nothing
    sys.exit(main())
