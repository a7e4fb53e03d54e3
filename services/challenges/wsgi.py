"""WSGI entrypoint: `gunicorn services.challenges.wsgi:app`."""

from services.challenges.app import create_app
from services.challenges.settings import load_settings
from shared.process import wsgi_app

app = wsgi_app(create_app, load_settings)
