"""Detectors behind one contract, the fitted transform, and the model bundle."""
