"""Deterministic generator of the bundled sample database."""
