"""Turning requests into transactions (prep) and answering them (final)."""
