"""Stage train: one training of one model, fold and seed under the shared step budget."""
