"""Sequence backbones, their registry and the LightningModules that train them."""
