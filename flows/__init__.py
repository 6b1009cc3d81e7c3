"""seqarena stages, Prefect flows and the command line."""
