"""kiosk: an offline voice assistant for walk-up kiosks."""

__version__ = "0.1.0"
