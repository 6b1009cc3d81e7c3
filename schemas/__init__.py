"""Data contracts: the typed run configuration and the pandera schemas of each stage."""
