"""Command-line tools: zkServer (and later zkCli, zkCleanup, inspection tools)."""
