"""The five stages; each package's stage.py holds its stage function; no stage imports another."""
