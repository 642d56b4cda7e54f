"""Maintenance mode: a technician's way in (a PIN), out (idle exit) and what they may do.

Headless on purpose: the PIN, the lockout, the settings writer and the health facts live
here; the Textual screens (kiosk/ui/maint.py) and the HTTPS routes (kiosk/web/maint.py)
are two faces on the same ``PinGate``, so a wrong PIN at the screen and one over the web
count against the same lockout.
"""
