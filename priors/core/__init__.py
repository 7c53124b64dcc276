"""The lowest layer: torch-only helpers that every other layer may import."""
