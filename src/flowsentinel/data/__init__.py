"""Loading, cleaning and splitting CICIDS-2017 flows (either release)."""
