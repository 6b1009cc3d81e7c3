"""`seqarena app`: the no-code entry (FastAPI, Jinja2 templates, a few lines of JavaScript)."""
