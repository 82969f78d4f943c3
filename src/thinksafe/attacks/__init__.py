"""Attacks: one module per family, registered by name."""
