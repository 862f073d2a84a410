"""The OpenTelemetry sink (``pip install 'pilot-metrics-plugin[otel]'``, ``[sinks.otel] enabled = true``):
``instruments`` maps a record onto OpenTelemetry metrics, ``sink`` is the plugin that exports them.
Nothing here imports OpenTelemetry until a record is to be exported."""
