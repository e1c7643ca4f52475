"""LFG server: the async world around the pure engine (shard loop, store, bus, gateway, CLI)."""
