"""The leaderboards service's Flask app."""

from __future__ import annotations

from flask import Flask

from services.leaderboards.bootstrap import Dependencies, build, periodic_tasks
from services.leaderboards.routes import leaderboards
from services.leaderboards.settings import load_settings
from shared.settings import Settings
from shared.web import ServiceApi, create_service_app

DESCRIPTION = """Points, badges and leaderboards. The ledger is the source of truth: every point names the
rule and the event behind it. Boards are derived from it in Redis.

Every endpoint needs `Authorization: Bearer <JWT>`. Errors are `application/problem+json` (RFC 9457)."""


API = ServiceApi(
    title="Connective: leaderboards",
    description=DESCRIPTION,
    blueprints=(leaderboards,),
    operation_ids={
        ("GET", "/leaderboards/{board}"): "getLeaderboard",
        ("GET", "/leaderboards/{board}/users/{user_id}"): "getStanding",
        ("GET", "/leaderboards/{board}/members"): "getMembers",
        ("GET", "/users/{user_id}/points"): "getUserPoints",
        ("GET", "/users/{user_id}/badges"): "getUserBadges",
        ("GET", "/rules"): "getRules",
        ("POST", "/awards"): "createAward",
        ("POST", "/awards/reversals"): "reverseAward",
        ("POST", "/leaderboards/{board}/view-tokens"): "createViewToken",
        ("GET", "/leaderboards/{board}/view"): "getClassroomView",
        ("GET", "/leaderboards/{board}/stream"): "streamLeaderboard",
    },
)


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the leaderboards app; tests pass settings or ready-made dependencies."""
    dependencies = dependencies or build(settings or load_settings())
    return create_service_app(dependencies, API, periodic_tasks(dependencies))
