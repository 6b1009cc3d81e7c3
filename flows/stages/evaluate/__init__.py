"""Stage evaluate: every run, baseline and reference scored on the test split; cost alone."""
