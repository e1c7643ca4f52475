"""Runnable example bots (see docs/BOTS.md)."""
