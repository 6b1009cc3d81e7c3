"""Evidence: metrics (torchmetrics), bootstrap intervals over test items and seeds, paired tests."""
