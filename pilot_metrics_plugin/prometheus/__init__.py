"""Prometheus exposition of the metrics database: ``queries`` (the SQL, aggregated in SQLite), ``collector``
(metric families built at scrape time), ``server`` (``pilot metrics serve``) and ``textfile`` (``pilot
metrics prom --textfile``, for node_exporter)."""
