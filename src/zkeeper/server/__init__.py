"""asyncio drivers: config, the standalone server, client connections, 4lw, entry points."""
