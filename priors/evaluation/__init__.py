"""Evaluation of attributions: remove-and-retrain (ROAR/KAR) and sanity checks for saliency maps."""
