"""WSGI entrypoint: `gunicorn services.challenges.wsgi:app`."""

from services.challenges.app import create_app
from services.challenges.settings import load_settings
from shared.observability import configure_logging
from shared.process import load_or_exit

settings = load_or_exit(load_settings)
configure_logging(settings.service, settings.log_level)
app = create_app(settings)
