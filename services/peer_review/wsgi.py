"""WSGI entrypoint: `gunicorn services.peer_review.wsgi:app`."""

from services.peer_review.app import create_app
from services.peer_review.settings import load_settings
from shared.process import wsgi_app

app = wsgi_app(create_app, load_settings)
