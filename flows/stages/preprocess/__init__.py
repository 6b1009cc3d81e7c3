"""Stage preprocess: splits, scaling and windows (transforms.py holds what predict repeats)."""
