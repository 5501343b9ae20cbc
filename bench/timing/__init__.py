"""Timing: settings, the measurement record, and the loops that fill it (host and device)."""
