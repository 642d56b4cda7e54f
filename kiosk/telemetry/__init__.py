"""Telemetry: the kiosk's health and usage, kept in an outbox and sent over OTLP when online.

``metrics.py`` turns events and host readings into OpenTelemetry SDK instruments;
``outbox.py`` keeps each interval durably; ``otlp.py`` delivers it; ``sink.py`` wires the
three into the runtime; ``status.py`` is what doctor, the CLI and maintenance read.
Importing this package loads nothing heavy: the SDK is imported when a sink starts.
"""
