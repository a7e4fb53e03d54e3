"""How points are read: board pages, members' places, a learner's ledger and badges, the rules in force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from services.leaderboards.domain.badges import (
    BadgeDefinition,
    BadgeProgress,
    EarnedBadge,
    current_streak,
    longest_run,
)
from services.leaderboards.domain.boards import (
    RENDERED_LIMITS,
    BoardPage,
    BoardRows,
    MemberView,
    NotOnBoard,
    Standing,
    Window,
    check_board,
    competition_ranks,
    percentile,
    resolve_period,
)
from services.leaderboards.domain.counters import (
    badge_counter,
    badge_value,
    days_counter,
    evidence_for,
    evidence_list,
)
from services.leaderboards.domain.ledger import UserPoints, render_points
from services.leaderboards.domain.rules import local_day
from services.leaderboards.usecases.context import Context, Scoring
from shared.contracts.auth import Principal, Role
from shared.domain import Forbidden


def _standings(rows: BoardRows) -> list[Standing]:
    ranks = competition_ranks([points for _, points in rows.rows], rows.offset, rows.ahead)
    return [
        Standing(rank=rank, user_id=user, points=points) for rank, (user, points) in zip(ranks, rows.rows, strict=True)
    ]


def board_page(
    board: str, *, window: Window, limit: int, offset: int, context: Context, period: str | None = None
) -> BoardPage:
    """Return a page of a board in standard competition ranking (ties share a rank, earliest first)."""
    check_board(board)
    scoring = context.scoring
    period = resolve_period(window, period, context.clock(), scoring.zone, scoring.periods_kept)
    rows = context.boards.page(board, window, period, limit=limit, offset=offset)
    return BoardPage(board=board, window=window, total=rows.total, entries=_standings(rows), period=period)


def rendered_board_page(
    board: str, *, window: Window, limit: int, offset: int, context: Context, period: str | None = None
) -> bytes | None:
    """Return a board's first page as the JSON kept rendered, or None for any other page.

    The same answer as `board_page`, read with one round trip; a page not rendered at the board's current
    version (the board changed since) is rendered now and kept for the next reads.
    """
    if offset != 0 or limit not in RENDERED_LIMITS:
        return None
    check_board(board)
    scoring = context.scoring
    period = resolve_period(window, period, context.clock(), scoring.zone, scoring.periods_kept)
    body = context.boards.rendered_page(board, window, period, limit)
    if body is None:
        body = context.boards.render_pages([(board, window, period)])[(board, window, period, limit)]
    return body


def member_views(
    board: str,
    user_ids: Sequence[str],
    *,
    around: int,
    window: Window,
    context: Context,
    period: str | None = None,
) -> list[MemberView | None]:
    """Return each member's place on a board with `around` neighbours either side (None: not on the board)."""
    check_board(board)
    scoring = context.scoring
    period = resolve_period(window, period, context.clock(), scoring.zone, scoring.periods_kept)
    views: list[MemberView | None] = []
    answers = context.boards.around(board, window, period, list(user_ids), around=around)
    for user_id, rows in zip(user_ids, answers, strict=True):
        if rows is None or rows.position is None:
            views.append(None)
            continue
        standings = _standings(rows)
        me = standings[rows.position - rows.offset]
        views.append(
            MemberView(
                board=board,
                window=window,
                period=period,
                user_id=user_id,
                rank=me.rank,
                points=me.points,
                percentile=percentile(me.rank, rows.total),
                total=rows.total,
                neighbors=[standing for standing in standings if standing.user_id != user_id],
            )
        )
    return views


def member_view(
    board: str, user_id: str, *, around: int, window: Window, context: Context, period: str | None = None
) -> MemberView:
    """Return one member's place on a board; NotOnBoard (404) when they have no points there."""
    view = member_views(board, [user_id], around=around, window=window, context=context, period=period)[0]
    if view is None:
        raise NotOnBoard(f"{user_id} has no points on {board} in this window")
    return view


def _check_may_read(user_id: str, actor: Principal, context: Context) -> None:
    """A learner reads their own standing, a teacher their cohorts' learners', admins and services everyone's."""
    if actor.user_id == user_id or actor.has_any(Role.ADMIN, Role.SERVICE):
        return
    if actor.has_any(Role.TEACHER):
        cohorts = context.people.cohorts_of([user_id]).get(user_id, ())
        if set(cohorts) & set(actor.cohorts):
            return
        raise Forbidden("A teacher reads the ledgers of their own cohorts' learners only")
    raise Forbidden("Only the learner, their teachers, admins and services may read a learner's ledger")


def user_points(user_id: str, *, actor: Principal, limit: int, offset: int, context: Context) -> UserPoints:
    """Return a learner's balance (kept, no sum over the ledger), level and a page of their ledger."""
    _check_may_read(user_id, actor, context)
    total, count = context.boards.balance(user_id)
    entries = context.ledger.page_for(user_id, limit=limit, offset=offset)
    levels = context.scoring.levels
    return UserPoints(user_id, total, count, entries, levels.level_of(total), levels.next_threshold(total))


def rendered_user_points(user_id: str, *, actor: Principal, limit: int, offset: int, context: Context) -> bytes | None:
    """Return `user_points` as JSON from the learner's newest entries kept rendered, or None past them.

    One Redis round trip and no database: the common read (the first page) of a learner's ledger.
    """
    _check_may_read(user_id, actor, context)
    total, count, recent = context.boards.recent_points(user_id)
    end = min(offset + limit, count)
    if end > len(recent):
        return None
    levels = context.scoring.levels
    points = UserPoints(user_id, total, count, [], levels.level_of(total), levels.next_threshold(total))
    return render_points(points, recent[offset:end])


@dataclass(frozen=True)
class BadgeStanding:
    """A badge as a learner stands on it: tiers earned (when, with evidence) and the way to the next."""

    definition: BadgeDefinition
    progress: BadgeProgress
    earned: list[EarnedBadge]


@dataclass(frozen=True)
class UserBadges:
    """A learner's badges, level and current streak."""

    user_id: str
    level: int
    points: int
    next_level_at: int | None
    current_streak: int
    longest_streak: int
    badges: list[BadgeStanding]


def user_badges(user_id: str, *, actor: Principal, context: Context) -> UserBadges:
    """Return every badge with the learner's progress toward its next tier, their level and streaks."""
    _check_may_read(user_id, actor, context)
    scoring: Scoring = context.scoring
    counters = context.boards.counters([badge_counter(user_id), days_counter(user_id)])
    progress_of = counters.get(badge_counter(user_id), {})
    days = {date.fromisoformat(day) for day, count in counters.get(days_counter(user_id), {}).items() if count > 0}
    listed = context.boards.evidence([evidence_list(user_id, badge.name) for badge in scoring.badges])
    earned = context.badges.of_users([user_id])
    standings = []
    for definition in scoring.badges:
        value = badge_value(definition, progress_of, days)
        tiers = tuple(threshold for threshold in definition.thresholds if value >= threshold)
        evidence = {
            threshold: evidence_for(
                definition, threshold, listed.get(evidence_list(user_id, definition.name), []), days
            )
            for threshold in tiers
        }
        upcoming = next((threshold for threshold in definition.thresholds if threshold > value), None)
        state = BadgeProgress(definition, value, tiers, evidence, upcoming)
        mine = [badge for badge in earned if badge.badge == definition.name]
        standings.append(BadgeStanding(definition, state, mine))
    total, _ = context.boards.balance(user_id)
    today = local_day(context.clock(), scoring.zone)
    return UserBadges(
        user_id=user_id,
        level=scoring.levels.level_of(total),
        points=total,
        next_level_at=scoring.levels.next_threshold(total),
        current_streak=current_streak(days, today),
        longest_streak=len(longest_run(days)),
        badges=standings,
    )


def rules_in_force(*, context: Context) -> Scoring:
    """Return the rule book, badges and level curve in force."""
    return context.scoring
