"""``python -m priors.report multirun/<time> [more dirs]`` (the same as ``priors-report``)."""
import sys

from .cli import main

sys.exit(main())
