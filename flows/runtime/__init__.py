"""Processes: the embedded Prefect server and process pool, the fan-out, Dask, zombie detection."""
