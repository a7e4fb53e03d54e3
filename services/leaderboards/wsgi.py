"""WSGI entrypoint: `gunicorn services.leaderboards.wsgi:app`."""

from services.leaderboards.app import create_app
from services.leaderboards.settings import load_settings
from shared.process import wsgi_app

app = wsgi_app(create_app, load_settings)
