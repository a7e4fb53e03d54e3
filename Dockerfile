# One image for all six app containers (three APIs, three RQ workers); the
# command comes from docker-compose.yml, which takes it from devstack/topology.py.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

RUN groupadd --system app \
 && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Dependencies first, read from pyproject.toml alone: this layer is rebuilt
# only when the pinned dependencies change, not on every code edit.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the code, installed as the `connective` distribution (no dependency
# resolution left to do). The processes run from /app, so the source tree and
# the installed package are the same files.
COPY shared/ shared/
COPY services/ services/
COPY devstack/ devstack/
RUN pip install --no-cache-dir --no-deps . \
 && rm -rf build *.egg-info

USER app

EXPOSE 5001 5002 5003

# docker-compose.yml sets each container's command; alone, the image serves
# the challenges API.
CMD ["gunicorn", "--config", "python:shared.gunicorn_conf", "--bind", "0.0.0.0:5001", "services.challenges.wsgi:app"]
