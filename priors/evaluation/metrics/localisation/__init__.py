"""Localisation metrics: how much of the attribution lies in an annotated region."""
from . import (attribution_localisation, energy_pointing_game, pointing_game,  # noqa: F401
               relevance_mass_accuracy, relevance_rank_accuracy)
