"""The `data` of each event type, validated by consumers before they act on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.contracts.events import EventType, InvalidEvent
from shared.contracts.vocabulary import ChallengeKind, DecidedBy, FlagReason, TargetKind, Verdict, values


class _Payload(Schema):
    class Meta:
        # Producers may add fields over time; consumers read what they know (tolerant reader).
        unknown = EXCLUDE


class _RulePoints(Schema):
    class Meta:
        unknown = EXCLUDE

    rule = fields.String(required=True)
    points = fields.Integer(required=True, strict=True)


def _rule_points() -> fields.List:
    """A challenge's own points for some rules, carried by the events of its work: `[{rule, points}]`.

    A list, not an object keyed by rule: rule names hold dots, which MongoDB field names (and so the
    outbox, which stores events in their documents) cannot. The challenges service accepts only
    `CHALLENGE_RULES`, 0 to `MAX_CHALLENGE_RULE_POINTS`; a consumer reads the names it knows and keeps
    the values to that range (a tolerant reader: a rule added later does not make an event unreadable).
    """
    return fields.List(fields.Nested(_RulePoints), load_default=list)


class ResourceSharedData(_Payload):
    """`resource.shared`: a learner shared a new resource (a new canonical URL)."""

    resource_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    owner_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    url = fields.String(required=True)
    canonical_url = fields.String(required=True)
    title = fields.String(required=True)
    tags = fields.List(fields.String(), load_default=list)
    cohorts = fields.List(fields.String(), load_default=list)
    challenge_id = fields.String(load_default=None, allow_none=True)
    rule_points = _rule_points()


def _id(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=64), **kwargs)


def _user(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=128), **kwargs)


def _names(**kwargs: Any) -> fields.List:
    return fields.List(fields.String(), load_default=list, **kwargs)


class _Audience(_Payload):
    """Where an event's points land on boards: the actor's cohorts, the tags, the challenge."""

    tags = _names()
    cohorts = _names()
    challenge_id = fields.String(load_default=None, allow_none=True)
    # The challenge's own points for rules of the work it names (empty: the rules' points).
    rule_points = _rule_points()


class _Criterion(_Payload):
    criterion = fields.String(required=True)
    max_score = fields.Integer(required=True, strict=True)


class _Review(_Payload):
    reviewers_per_submission = fields.Integer(required=True, strict=True)
    due_hours = fields.Integer(required=True, strict=True)
    blind = fields.Boolean(required=True)


class ChallengeData(_Payload):
    """`challenge.published` and `challenge.closed`: a challenge's rules, as peer review and boards need them."""

    challenge_id = _id(required=True)
    owner_id = _user(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(values(ChallengeKind)))
    title = fields.String(required=True)
    points = fields.Integer(required=True, strict=True)
    rule_points = _rule_points()
    tags = _names()
    cohorts = _names()
    rubric = fields.List(fields.Nested(_Criterion), load_default=list)
    review = fields.Nested(_Review, required=True)
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True)
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True)
    closed_at = fields.AwareDateTime(load_default=None, allow_none=True)


class SubmissionData(_Audience):
    """`submission.submitted`, `submission.revised`, `submission.withdrawn`: a learner's submission.

    `cohorts` are the author's; `tags` the challenge's. `review`, `rubric`, `points` and
    `challenge_cohorts` (the challenge's audience; empty: everyone) repeat the challenge's settings so peer
    review can assign reviewers and grade without calling back.
    """

    submission_id = _id(required=True)
    challenge_id = _id(required=True)
    author_id = _user(required=True)
    challenge_owner_id = _user(required=True)
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    review = fields.Nested(_Review, required=True)
    rubric = fields.List(fields.Nested(_Criterion), load_default=list)
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True)
    points = fields.Integer(load_default=0, strict=True)
    challenge_cohorts = _names()


class ResourceEndorsedData(_Audience):
    """`resource.endorsed`: someone other than the owner found a resource useful (once per person).

    It carries no running count: endorsements are one conditional write each, and a consumer capping
    points per resource counts what it has recorded.
    """

    resource_id = _id(required=True)
    owner_id = _user(required=True)
    endorser_id = _user(required=True)


class ResourceFlaggedData(_Audience):
    """`resource.flagged`: someone reported a resource as outdated, broken or inaccurate."""

    resource_id = _id(required=True)
    owner_id = _user(required=True)
    flag_id = _id(required=True)
    flagger_id = _user(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(values(FlagReason)))
    note = fields.String(required=True)


class _Change(_Payload):
    old = fields.String(required=True)
    new = fields.String(required=True)


class ResourceRevisionData(_Audience):
    """`resource.revision_proposed`, `_accepted`, `_rejected`: a proposed knowledge update and its fate.

    `flagged_outdated` says whether the resource had an open `outdated` flag when the revision was
    proposed (or accepted), which earns the reviser a bonus. `decided_by` is `peers`, `owner`,
    `teacher` or `admin` once decided; `verifier_ids` name the peers who verified it, if any.
    """

    revision_id = _id(required=True)
    resource_id = _id(required=True)
    owner_id = _user(required=True)
    proposer_id = _user(required=True)
    changed_fields = fields.List(fields.String(), required=True)
    base_version = fields.Integer(required=True, strict=True)
    flagged_outdated = fields.Boolean(required=True)
    version = fields.Integer(load_default=None, allow_none=True, strict=True)
    decided_by = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(values(DecidedBy)))
    decider_id = fields.String(load_default=None, allow_none=True)
    verifier_ids = _names()
    reason = fields.String(load_default=None, allow_none=True)
    resolved_flag_ids = _names()
    # On `resource.revision_proposed` only: the change itself, so verifiers need not call back.
    changes = fields.Dict(keys=fields.String(), values=fields.Nested(_Change), load_default=dict)
    note = fields.String(load_default="")
    sources = _names()


class _ReviewOf(_Audience):
    """What every review event names: the assignment, its target and the reviewer.

    The audience (`cohorts`, `tags`, `challenge_id`) is where the reviewer's points land: the reviewer's
    cohorts, the challenge's tags and the challenge.
    """

    assignment_id = _id(required=True)
    target_kind = fields.String(required=True, validate=validate.OneOf(values(TargetKind)))
    target_id = _id(required=True)
    reviewer_id = _user(required=True)
    challenge_id = fields.String(load_default=None, allow_none=True)


class ReviewAssignedData(_ReviewOf):
    """`review.assigned`: peer review asked a reviewer to review a target (a submission or a revision).

    `mode` is `push` (peer review chose the reviewer) or `pull` (the reviewer claimed it from the queue;
    the claim lapses at `due_at`).
    """

    due_at = fields.AwareDateTime(load_default=None, allow_none=True)
    mode = fields.String(load_default="push", validate=validate.OneOf(["push", "pull"]))


class ReviewDeclinedData(_ReviewOf):
    """`review.declined`: an assignment ended without a review; the reviewer loses access to the target.

    `reason` is `declined` (by the reviewer), `expired` (a claim's time ran out), `reassigned` (by a
    teacher) or `withdrawn` (the target left review).
    """

    reason = fields.String(required=True, validate=validate.OneOf(["declined", "expired", "reassigned", "withdrawn"]))


class ReviewSubmittedData(_ReviewOf):
    """`review.submitted`: a reviewer reviewed a target; what the leaderboards need to award it.

    `late` says it came after the assignment's due time; `outside_cohorts` that the reviewer shares no
    cohort with the author; `reciprocal` that the author reviews the reviewer's work too.
    """

    review_id = _id(required=True)
    author_id = _user(required=True)
    late = fields.Boolean(required=True)
    outside_cohorts = fields.Boolean(required=True)
    reciprocal = fields.Boolean(load_default=False)
    verdict = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(values(Verdict)))
    # The reviewed work's author's cohorts (a reviewer of many cohorts' work connects them).
    author_cohorts = _names()


class ReviewRatedData(_ReviewOf):
    """`review.rated`: the target's author rated how helpful a review was (1 to 5)."""

    review_id = _id(required=True)
    author_id = _user(required=True)
    helpfulness = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))


class _GradedReview(_Payload):
    """One review behind a grade, as the leaderboards award its reviewer."""

    review_id = _id(required=True)
    reviewer_id = _user(required=True)
    accuracy = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    late = fields.Boolean(load_default=False)
    outside_cohorts = fields.Boolean(load_default=False)
    reciprocal = fields.Boolean(load_default=False)
    collusion_suspected = fields.Boolean(load_default=False)


class TargetGradedData(_Payload):
    """`target.graded`: the consensus grade of a target; a later event (a teacher's override) replaces it.

    `grade` is a fraction of the rubric's maximum (0 to 1); `scores` are per criterion.
    """

    target_kind = fields.String(required=True, validate=validate.OneOf(values(TargetKind)))
    target_id = _id(required=True)
    author_id = _user(required=True)
    challenge_id = fields.String(load_default=None, allow_none=True)
    version = fields.Integer(load_default=None, allow_none=True, strict=True)
    grade = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    scores = fields.Dict(keys=fields.String(), values=fields.Float(), load_default=dict)
    feedback = fields.String(load_default="")
    review_count = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))
    overridden = fields.Boolean(load_default=False)
    # Since peer review grades: the challenge's points, where the author's points land, and the reviews.
    points = fields.Integer(load_default=None, allow_none=True, strict=True)
    rule_points = _rule_points()
    cohorts = _names()
    tags = _names()
    aggregator = fields.String(load_default=None, allow_none=True)
    reviews = fields.List(fields.Nested(_GradedReview), load_default=list)


class RevisionVerifiedData(_Payload):
    """`revision.verified`: the verifiers of a proposed revision reached a verdict."""

    revision_id = _id(required=True)
    resource_id = _id(required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(values(Verdict)))
    # Who agreed with the outcome, and who did not (a teacher breaks a tie).
    verifier_ids = _names()
    dissenter_ids = _names()
    reasons = _names()
    decided_by_teacher = fields.String(load_default=None, allow_none=True)


class PointsAwardedData(_Payload):
    """A ledger entry reached the boards (published on the leaderboards' stream, not queued)."""

    entry_key = fields.String(required=True)
    user_id = _user(required=True)
    points = fields.Integer(required=True, strict=True)
    rule = fields.String(required=True)
    reason = fields.String(required=True)
    source_event_id = fields.String(required=True)
    boards = _names()
    # Set on a reversal: the key of the entry it takes back.
    reverses = fields.String(load_default=None, allow_none=True)
    # The learner's balance once the entry counts.
    total = fields.Integer(load_default=None, allow_none=True, strict=True)


class BadgeEarnedData(_Payload):
    """A learner earned a tier of a badge, with the ledger entries that earned it."""

    user_id = _user(required=True)
    badge = fields.String(required=True)
    title = fields.String(required=True)
    tier = fields.Integer(required=True, strict=True)
    threshold = fields.Integer(required=True, strict=True)
    evidence = _names()


class LevelReachedData(_Payload):
    """A learner's balance reached a level for the first time."""

    user_id = _user(required=True)
    level = fields.Integer(required=True, strict=True, validate=validate.Range(min=2))
    points = fields.Integer(required=True, strict=True)


PAYLOAD_SCHEMAS: Mapping[str, type[Schema]] = {
    EventType.CHALLENGE_PUBLISHED: ChallengeData,
    EventType.CHALLENGE_CLOSED: ChallengeData,
    EventType.SUBMISSION_SUBMITTED: SubmissionData,
    EventType.SUBMISSION_REVISED: SubmissionData,
    EventType.SUBMISSION_WITHDRAWN: SubmissionData,
    EventType.RESOURCE_SHARED: ResourceSharedData,
    EventType.RESOURCE_ENDORSED: ResourceEndorsedData,
    EventType.RESOURCE_FLAGGED: ResourceFlaggedData,
    EventType.RESOURCE_REVISION_PROPOSED: ResourceRevisionData,
    EventType.RESOURCE_REVISION_ACCEPTED: ResourceRevisionData,
    EventType.RESOURCE_REVISION_REJECTED: ResourceRevisionData,
    EventType.REVIEW_ASSIGNED: ReviewAssignedData,
    EventType.REVIEW_DECLINED: ReviewDeclinedData,
    EventType.REVIEW_SUBMITTED: ReviewSubmittedData,
    EventType.REVIEW_RATED: ReviewRatedData,
    EventType.TARGET_GRADED: TargetGradedData,
    EventType.REVISION_VERIFIED: RevisionVerifiedData,
    EventType.POINTS_AWARDED: PointsAwardedData,
    EventType.BADGE_EARNED: BadgeEarnedData,
    EventType.LEVEL_REACHED: LevelReachedData,
}


# One instance per schema: building a marshmallow schema deep-copies its fields, which cost more than the
# load itself (a quarter of a millisecond an event in a profile of the leaderboards worker). Loading keeps
# no state on the instance, so one serves every call.
_LOADERS: dict[str, Schema] = {}


def load_payload(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an event's data against its declared schema, raising InvalidEvent on mismatch."""
    schema = _LOADERS.get(event_type)
    if schema is None:
        schema_class = PAYLOAD_SCHEMAS.get(event_type)
        if schema_class is None:
            raise InvalidEvent(f"no payload schema is declared for {event_type}")
        schema = _LOADERS.setdefault(event_type, schema_class())
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as error:
        raise InvalidEvent(f"{event_type} data is invalid: {error.messages}") from None
    return loaded
