"""HTTP views of learners' submissions."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("submissions", __name__, description="Learners' submissions to challenges, with their versions")
