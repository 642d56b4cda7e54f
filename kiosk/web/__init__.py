"""The web face: HTTPS on ``<device_id>.<fleet_domain>``, in the kiosk's own asyncio loop.

Only this package imports aiohttp (the headless core stays free of it).
"""
