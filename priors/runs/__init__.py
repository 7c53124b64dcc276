"""Run-folder integrity: one run per folder (lock), atomic file writes, data and model
fingerprints, and the ``result.json`` schema with a reader that flags incomplete results."""
