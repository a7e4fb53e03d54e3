"""HTTP views of reviews, targets' reviews and consensus, teachers' overrides and reviewers' records."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.peer_review.domain.reviews import Review, Target
from services.peer_review.routes import ID, MEMBERS, STAFF, documents_errors, path_parameters, use_case_context
from services.peer_review.schemas.reviews import (
    REVIEW_EXAMPLE,
    OverrideCreateSchema,
    RatingCreateSchema,
    ReviewCreateSchema,
    ReviewerSchema,
    ReviewSchema,
    TargetReviewsSchema,
    TargetSchema,
)
from services.peer_review.usecases import reviews as usecases
from shared.auth import authenticate, requires
from shared.contracts.vocabulary import TargetKind
from shared.web import ServiceBlueprint

blp = ServiceBlueprint(
    "reviews", __name__, description="Reviews, consensus grades, overrides and reviewers' reliability"
)

KIND = "any(submission, revision)"
TARGET_EXAMPLE = {
    "kind": "submission",
    "target_id": "6b02e48625231e1d5301a2b9",
    "challenge_id": "6b02e48625231e1d5301a2b7",
    "author_id": "alice",
    "status": "graded",
    "reviews_wanted": 3,
    "grade": {
        "grade": 0.8,
        "scores": {"Accuracy": 4.0},
        "graded_at": "2026-12-04T12:00:00.000000+00:00",
        "aggregator": "median",
        "overridden_by": None,
    },
    "reviews": [
        {
            "id": "6b02e48625231e1d5301a2e1",
            "reviewer": "Reviewer 1",
            "reviewer_id": None,
            "scores": {"Accuracy": 4},
            "verdict": None,
            "comment": "Clear explanation; cite where the sugar goes next.",
            "late": False,
            "submitted_at": "2026-12-03T10:00:00.000000+00:00",
            "edited_at": None,
            "helpfulness": 5,
            "accuracy": 1.0,
            "mine": False,
        }
    ],
}


def _target_view(target: Target) -> dict[str, Any]:
    return {
        "kind": target.kind,
        "target_id": target.target_id,
        "challenge_id": target.challenge_id,
        "status": target.status,
        "grade": target.grade,
    }


@blp.route(f"/reviews/<{ID}:review_id>", parameters=path_parameters("review_id"))
class OneReview(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(
        ReviewCreateSchema, example={"scores": {"Accuracy": 5}, "comment": "On second reading: all correct."}
    )
    @blp.response(200, ReviewSchema, example={**REVIEW_EXAMPLE, "edited_at": "2026-12-03T11:00:00.000000+00:00"})
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def put(self, fields: dict[str, Any], review_id: str) -> Review:
        """Edit my review, until its target is graded or decided (then 409).

        The same fields as the review: scores for every rubric criterion (a submission) or a verdict (a
        revision), and a comment; `edited_at` records the change. Anyone else's review answers 404.
        """
        return usecases.edit(review_id, fields, actor=authenticate(), context=use_case_context())


@blp.route(f"/reviews/<{ID}:review_id>/rating", parameters=path_parameters("review_id"))
class ReviewRating(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(RatingCreateSchema, example={"helpfulness": 5})
    @blp.response(201, ReviewSchema, example={**REVIEW_EXAMPLE, "helpfulness": 5})
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], review_id: str) -> Review:
        """Rate how helpful a review of my work was, 1 to 5, once; emits `review.rated`.

        Only the author of the reviewed work may (anyone else: 404).
        """
        return usecases.rate(review_id, fields["helpfulness"], actor=authenticate(), context=use_case_context())


@blp.route(f"/targets/<{KIND}:kind>/<{ID}:target_id>/reviews", parameters=path_parameters("kind", "target_id"))
class TargetReviews(MethodView):
    @requires(*MEMBERS)
    @blp.response(200, TargetReviewsSchema, example=TARGET_EXAMPLE)
    @documents_errors(blp, 401, 403, 404)
    def get(self, kind: str, target_id: str) -> dict[str, Any]:
        """Read a target's consensus and reviews: its author sees reviewers as aliases ("Reviewer 1").

        Its teacher and admins see who reviewed; one of its reviewers sees only their own review (and not
        the author while the review is blind); anyone else gets 404.
        """
        shown = usecases.target_reviews(TargetKind(kind), target_id, actor=authenticate(), context=use_case_context())
        return {
            **_target_view(shown.target),
            "grade": shown.grade,
            "author_id": shown.author_id,
            "reviews_wanted": shown.reviews_wanted,
            "reviews": shown.reviews,
        }


@blp.route(f"/targets/<{KIND}:kind>/<{ID}:target_id>/override", parameters=path_parameters("kind", "target_id"))
class TargetOverride(MethodView):
    @requires(*STAFF)
    @blp.arguments(
        OverrideCreateSchema, example={"scores": {"Accuracy": 5}, "reason": "The source was right after all"}
    )
    @blp.response(
        200,
        TargetSchema,
        example={key: TARGET_EXAMPLE[key] for key in ("kind", "target_id", "challenge_id", "status", "grade")},
    )
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], kind: str, target_id: str) -> dict[str, Any]:
        """Decide a target bindingly: scores for a submission, a verdict for a revision (its teacher or an admin).

        A submission sent `{"close_review": true}` instead of scores has its review closed now: it is graded
        on the reviews in so far (409 while there are none).

        Recorded, and announced: a new `target.graded` replaces the consensus, or `revision.verified`
        breaks a tie between the verifiers.
        """
        target = usecases.override(
            TargetKind(kind), target_id, fields, actor=authenticate(), context=use_case_context()
        )
        return _target_view(target)


@blp.route("/reviewers/<string(maxlength=128):user_id>", parameters=path_parameters("user_id"))
class Reviewer(MethodView):
    @requires()
    @blp.response(
        200,
        ReviewerSchema,
        example={
            "reviewer_id": "alice",
            "review_count": 12,
            "graded_count": 9,
            "late_count": 1,
            "mean_accuracy": 0.91,
            "mean_helpfulness": 4.5,
            "bias": 0.02,
            "reliability": 160.0,
            "trust": 0.78,
        },
    )
    @documents_errors(blp, 401, 403, 404)
    def get(self, user_id: str) -> dict[str, Any]:
        """Read a reviewer's record and reliability: the reviewer themselves, teachers and admins.

        Counts of reviews (given, graded since, late), mean accuracy against the consensus and helpfulness
        as authors rated it, and the reviewer model's bias, reliability and trust. Anyone else: 403; a user
        id longer than 128 characters: 404.
        """
        record = usecases.reviewer_record(user_id, actor=authenticate(), context=use_case_context())
        return {
            "reviewer_id": record.reviewer_id,
            "review_count": record.review_count,
            "graded_count": record.graded_count,
            "late_count": record.late_count,
            "mean_accuracy": record.mean_accuracy,
            "mean_helpfulness": record.mean_helpfulness,
            "bias": record.reliability.bias,
            "reliability": record.reliability.reliability,
            "trust": record.reliability.trust,
        }
