"""The hot reads build their JSON by hand; it is exactly what the documented schemas dump, for any value."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.leaderboards.domain.boards import MemberView, Standing, Window, render_page
from services.leaderboards.domain.ledger import Category, LedgerEntry, UserPoints, render_entry, render_points
from services.leaderboards.schemas import (
    BoardPageSchema,
    MemberViewSchema,
    UserPointsSchema,
    member_view_document,
    user_points_document,
)

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-:", min_size=1, max_size=12)
points = st.integers(min_value=-10_000, max_value=10_000)
# To the millisecond, as the ledger keeps times (BSON).
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
)
standings = st.builds(Standing, rank=st.integers(min_value=1, max_value=10**6), user_id=names, points=points)
views = st.builds(
    MemberView,
    board=names,
    window=st.sampled_from(Window),
    period=names,
    user_id=names,
    rank=st.integers(min_value=1, max_value=10**6),
    points=points,
    percentile=st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda value: round(value, 1)),
    total=st.integers(min_value=0, max_value=10**6),
    neighbors=st.lists(standings, max_size=5),
)
entries = st.builds(
    LedgerEntry,
    key=names,
    user_id=names,
    points=points,
    rule=names,
    reason=st.text(max_size=40),
    event_id=names,
    event_type=names,
    boards=st.lists(names, max_size=3).map(tuple),
    occurred_at=moments,
    created_at=moments,
    rule_version=st.integers(min_value=1, max_value=9),
    object_id=st.none() | names,
    category=st.sampled_from(Category),
    reverses=st.none() | names,
    actor_id=st.none() | names,
)
balances = st.builds(
    UserPoints,
    user_id=names,
    total=points,
    count=st.integers(min_value=0, max_value=1000),
    entries=st.lists(entries, max_size=4),
    level=st.integers(min_value=1, max_value=15),
    next_level_at=st.none() | st.integers(min_value=1, max_value=10_000),
)


@settings(max_examples=60, deadline=None)
@given(views)
def test_a_member_view_is_built_exactly_as_its_schema_dumps_it(view: MemberView) -> None:
    assert member_view_document(view) == MemberViewSchema().dump(view)


@settings(max_examples=60, deadline=None)
@given(balances)
def test_a_learners_points_are_built_exactly_as_their_schema_dumps_them(balance: UserPoints) -> None:
    assert user_points_document(balance) == UserPointsSchema().dump(balance)


@settings(max_examples=60, deadline=None)
@given(balances)
def test_a_learners_points_from_their_kept_newest_entries_are_the_document_built(balance: UserPoints) -> None:
    rendered = render_points(balance, [render_entry(entry) for entry in balance.entries])
    assert json.loads(rendered) == user_points_document(balance)


@settings(max_examples=60, deadline=None)
@given(names, st.sampled_from(Window), names, st.lists(st.tuples(names, points), max_size=10))
def test_a_rendered_first_page_is_what_the_board_page_schema_dumps(
    board: str, window: Window, period: str, rows: list[tuple[str, int]]
) -> None:
    ordered = sorted(rows, key=lambda row: -row[1])
    rendered = json.loads(render_page(board, window, period, len(ordered) + 3, ordered))
    ranks = [1 + sum(1 for _, other in ordered if other > value) for _, value in ordered]
    expected = {
        "board": board,
        "window": window,
        "period": period,
        "total": len(ordered) + 3,
        "entries": [
            Standing(rank=rank, user_id=user, points=value) for rank, (user, value) in zip(ranks, ordered, strict=True)
        ],
    }
    assert rendered == BoardPageSchema().dump(expected)
