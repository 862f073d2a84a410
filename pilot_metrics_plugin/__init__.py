"""pilot-metrics: execution metrics for Pilot, recorded into SQLite."""

__version__ = "0.1.0"
