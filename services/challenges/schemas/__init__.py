"""Request and response schemas of the challenges service (marshmallow, at the HTTP edge only)."""
