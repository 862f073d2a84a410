"""Pilot's plugin contract: hookspecs, payloads, plugin loading, the pilot command and the runner."""
