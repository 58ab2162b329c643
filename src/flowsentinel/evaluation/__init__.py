"""Metrics, threshold calibration, multi-seed summaries, reports and plots."""
