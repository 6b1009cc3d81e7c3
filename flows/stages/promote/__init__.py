"""Stage promote: the promotion rule, the champion check, and the run's review (reports, plots)."""
