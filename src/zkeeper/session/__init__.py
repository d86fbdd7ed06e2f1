"""Sessions: ids, passwords and tick-bucketed expiry (clock passed in)."""
