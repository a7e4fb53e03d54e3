"""WSGI entrypoint: `gunicorn services.leaderboards.wsgi:app`."""

from services.leaderboards.app import create_app
from services.leaderboards.settings import load_settings
from shared.observability import configure_logging
from shared.process import load_or_exit

settings = load_or_exit(load_settings)
configure_logging(settings.service, settings.log_level)
app = create_app(settings)
