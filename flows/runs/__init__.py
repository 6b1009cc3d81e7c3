"""Run folders: locks, publishing, the promotion history, rollback and GTO tags."""
