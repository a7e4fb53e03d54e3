"""Consensus rules of peer review: the median, the reliability-weighted aggregator and the reviewer model."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.peer_review.domain.consensus import (
    AGGREGATORS,
    Consensus,
    Criterion,
    InvalidRubric,
    InvalidScores,
    NoReviews,
    Observation,
    ReviewerEstimate,
    ReviewerModel,
    ScoredReview,
    UnknownAggregator,
    consensus,
    fit_reviewer_model,
    median,
    observations_of,
    reliability_summary,
    reliability_weighted,
)
from shared.domain import InvalidField, InvalidState

RUBRIC = (Criterion("Accuracy", 5), Criterion("Clarity", 4), Criterion("Depth", 10))


def seeded(seed: int) -> random.Random:
    """Return a generator of reproducible test data."""
    return random.Random(seed)  # noqa: S311 - simulated reviews, not a secret


def review(reviewer_id: str, accuracy: int, clarity: int, depth: int) -> ScoredReview:
    """Return a review of `RUBRIC` whose id names the reviewer."""
    return ScoredReview(
        f"review-{reviewer_id}", reviewer_id, {"Accuracy": accuracy, "Clarity": clarity, "Depth": depth}
    )


def known(*estimates: tuple[str, float, float], review_count: int = 20) -> ReviewerModel:
    """Return a model that knows each (reviewer id, bias, reliability) from `review_count` reviews."""
    return ReviewerModel(
        reviewers={
            reviewer_id: ReviewerEstimate(bias, reliability, review_count)
            for reviewer_id, bias, reliability in estimates
        },
        population_reliability=100.0,
    )


@st.composite
def rubrics_and_reviews(draw: st.DrawFn) -> tuple[tuple[Criterion, ...], list[ScoredReview]]:
    """Draw a rubric (some maximums may be 0, not all) and 1 to 7 reviews that fit it."""
    maximums = draw(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=4).filter(any))
    rubric = tuple(Criterion(f"criterion-{index}", maximum) for index, maximum in enumerate(maximums))
    count = draw(st.integers(min_value=1, max_value=7))
    reviews = [
        ScoredReview(
            f"review-{index}",
            f"reviewer-{index}",
            {criterion.criterion: draw(st.integers(0, criterion.max_score)) for criterion in rubric},
        )
        for index in range(count)
    ]
    return rubric, reviews


# ---------------------------------------------------------------------------------------------------------------
# The median


@settings(max_examples=200, deadline=None)
@given(case=rubrics_and_reviews(), data=st.data())
def test_median_does_not_depend_on_the_reviews_order(
    case: tuple[tuple[Criterion, ...], list[ScoredReview]], data: st.DataObject
) -> None:
    rubric, reviews = case
    shuffled = data.draw(st.permutations(reviews))
    assert median(shuffled, rubric) == median(reviews, rubric)


@settings(max_examples=200, deadline=None)
@given(case=rubrics_and_reviews())
def test_median_lies_within_the_reviews_range_and_grade_and_accuracy_within_0_and_1(
    case: tuple[tuple[Criterion, ...], list[ScoredReview]],
) -> None:
    rubric, reviews = case
    result = median(reviews, rubric)
    for criterion in rubric:
        given_scores = [review.scores[criterion.criterion] for review in reviews]
        assert min(given_scores) <= result.scores[criterion.criterion] <= max(given_scores)
    assert 0.0 <= result.grade <= 1.0
    assert set(result.accuracy) == {review.review_id for review in reviews}
    assert all(0.0 <= accuracy <= 1.0 for accuracy in result.accuracy.values())
    assert result.aggregator == "median"


@settings(max_examples=200, deadline=None)
@given(case=rubrics_and_reviews(), copies=st.integers(min_value=1, max_value=6))
def test_median_of_agreeing_reviews_is_their_score_and_each_is_fully_accurate(
    case: tuple[tuple[Criterion, ...], list[ScoredReview]], copies: int
) -> None:
    rubric, reviews = case
    agreeing = [ScoredReview(f"copy-{index}", f"reviewer-{index}", reviews[0].scores) for index in range(copies)]
    result = median(agreeing, rubric)
    assert result.scores == {name: float(score) for name, score in reviews[0].scores.items()}
    assert result.accuracy == dict.fromkeys(result.accuracy, 1.0)
    total = sum(criterion.max_score for criterion in rubric)
    assert result.grade == pytest.approx(sum(reviews[0].scores.values()) / total)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    result = median([review("a", 1, 0, 10), review("b", 4, 1, 3), review("c", 2, 4, 2), review("d", 5, 3, 7)], RUBRIC)
    assert result.scores == {"Accuracy": 3.0, "Clarity": 2.0, "Depth": 5.0}
    assert result.grade == pytest.approx(10 / 19)


def test_median_of_one_review_is_that_review() -> None:
    result = median([review("a", 5, 2, 3)], RUBRIC)
    assert result == Consensus({"Accuracy": 5.0, "Clarity": 2.0, "Depth": 3.0}, 10 / 19, {"review-a": 1.0}, "median")


def test_accuracy_is_the_mean_distance_per_criterion_as_a_fraction_of_its_maximum_skipping_zero_maximums() -> None:
    rubric = (Criterion("Accuracy", 4), Criterion("Attendance", 0), Criterion("Depth", 10))
    reviews = [
        ScoredReview("low", "a", {"Accuracy": 0, "Attendance": 0, "Depth": 0}),
        ScoredReview("middle", "b", {"Accuracy": 2, "Attendance": 0, "Depth": 5}),
        ScoredReview("high", "c", {"Accuracy": 4, "Attendance": 0, "Depth": 6}),
    ]
    result = median(reviews, rubric)
    assert result.scores == {"Accuracy": 2.0, "Attendance": 0.0, "Depth": 5.0}
    assert result.accuracy == pytest.approx({"low": 1 - (0.5 + 0.5) / 2, "middle": 1.0, "high": 1 - (0.5 + 0.1) / 2})


# ---------------------------------------------------------------------------------------------------------------
# Refusals


def test_no_reviews_are_refused_as_a_state_by_every_aggregator() -> None:
    for name in AGGREGATORS:
        with pytest.raises(NoReviews) as refusal:
            consensus(name, [], RUBRIC, known())
        assert isinstance(refusal.value, InvalidState)


@pytest.mark.parametrize(
    "rubric",
    [
        (),
        (Criterion("Accuracy", 5), Criterion("Accuracy", 3)),
        (Criterion("Accuracy", -1), Criterion("Depth", 3)),
        (Criterion("Accuracy", 0), Criterion("Depth", 0)),
    ],
    ids=["empty", "repeated-name", "negative-maximum", "all-maximums-zero"],
)
def test_a_rubric_that_cannot_grade_is_refused(rubric: tuple[Criterion, ...]) -> None:
    scores = {criterion.criterion: 0 for criterion in rubric}
    for name in AGGREGATORS:
        with pytest.raises(InvalidRubric) as refusal:
            consensus(name, [ScoredReview("r1", "a", scores)], rubric)
        assert isinstance(refusal.value, InvalidField)
        assert refusal.value.field == "rubric"


@pytest.mark.parametrize(
    "scores",
    [
        {"Accuracy": 6, "Clarity": 0, "Depth": 0},
        {"Accuracy": -1, "Clarity": 0, "Depth": 0},
        {"Accuracy": 1, "Clarity": 0},
        {"Accuracy": 1, "Clarity": 0, "Depth": 0, "Style": 2},
    ],
    ids=["above-maximum", "negative", "criterion-missing", "criterion-unknown"],
)
def test_scores_that_do_not_fit_the_rubric_are_refused(scores: dict[str, int]) -> None:
    reviews = [review("a", 1, 1, 1), ScoredReview("odd", "b", scores)]
    for name in AGGREGATORS:
        with pytest.raises(InvalidScores) as refusal:
            consensus(name, reviews, RUBRIC, known(("a", 0.0, 100.0), ("b", 0.0, 100.0)))
        assert refusal.value.field == "scores"
        assert refusal.value.details["review_id"] == "odd"


def test_reviews_sharing_an_id_are_refused() -> None:
    with pytest.raises(InvalidScores):
        median([ScoredReview("same", "a", {"Accuracy": 1, "Clarity": 1, "Depth": 1})] * 2, RUBRIC)


def test_an_unknown_aggregator_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownAggregator) as refusal:
        consensus("mean", [review("a", 1, 1, 1)], RUBRIC)
    assert refusal.value.field == "aggregator"
    assert "median, reliability_weighted" in str(refusal.value)


def test_observations_outside_0_and_1_are_refused() -> None:
    with pytest.raises(InvalidField):
        fit_reviewer_model([Observation("t", "a", 0.5), Observation("t", "b", 1.5)])
    with pytest.raises(InvalidField):
        fit_reviewer_model([Observation("t", "a", math.nan)])


# ---------------------------------------------------------------------------------------------------------------
# The registry and the reliability-weighted aggregator


def test_the_registry_holds_both_aggregators_and_consensus_dispatches_to_them() -> None:
    reviews = [review("a", 5, 4, 10), review("b", 3, 2, 6), review("c", 1, 0, 2)]
    model = known(("a", 0.1, 100.0), ("b", 0.0, 400.0), ("c", -0.1, 100.0))
    assert set(AGGREGATORS) == {"median", "reliability_weighted"}
    assert consensus("median", reviews, RUBRIC, model) == median(reviews, RUBRIC)
    assert consensus("reliability_weighted", reviews, RUBRIC, model) == reliability_weighted(reviews, RUBRIC, model)


@pytest.mark.parametrize(
    "model",
    [
        None,
        known(),
        known(("a", 0.2, 100.0)),
        known(("a", 0.2, 100.0), ("b", 0.2, 100.0), ("c", 0.2, 100.0), review_count=4),
    ],
    ids=["no-model", "nobody-known", "one-known", "too-few-reviews"],
)
def test_reliability_weighted_falls_back_to_the_median_without_two_well_known_reviewers(
    model: ReviewerModel | None,
) -> None:
    reviews = [review("a", 5, 4, 10), review("b", 3, 2, 6), review("c", 0, 0, 1)]
    result = reliability_weighted(reviews, RUBRIC, model)
    assert result == median(reviews, RUBRIC)
    assert result.aggregator == "median"


def test_reliability_weighted_uses_reviewers_with_the_minimum_reviews() -> None:
    reviews = [review("a", 5, 4, 10), review("b", 3, 2, 6)]
    model = known(("a", 0.0, 100.0), ("b", 0.0, 100.0), review_count=3)
    assert reliability_weighted(reviews, RUBRIC, model, minimum_reviews=3).aggregator == "reliability_weighted"
    assert reliability_weighted(reviews, RUBRIC, model, minimum_reviews=4).aggregator == "median"


def test_reliability_weighted_removes_each_reviewers_bias() -> None:
    # The truth is 3 of 5 and 5 of 10; a scores a fifth of each scale too high, b a fifth too low, c fairly.
    rubric = (Criterion("Accuracy", 5), Criterion("Depth", 10))
    reviews = [
        ScoredReview("generous", "a", {"Accuracy": 4, "Depth": 7}),
        ScoredReview("harsh", "b", {"Accuracy": 2, "Depth": 3}),
        ScoredReview("fair", "c", {"Accuracy": 3, "Depth": 5}),
    ]
    model = known(("a", 0.2, 100.0), ("b", -0.2, 100.0), ("c", 0.0, 100.0))
    result = reliability_weighted(reviews, rubric, model)
    assert result.aggregator == "reliability_weighted"
    assert result.scores == pytest.approx({"Accuracy": 3.0, "Depth": 5.0})
    assert result.grade == pytest.approx(8 / 15)
    assert result.accuracy == pytest.approx(
        {"generous": 1 - (0.2 + 0.2) / 2, "harsh": 1 - (0.2 + 0.2) / 2, "fair": 1.0}
    )


def test_reliability_weighted_weights_by_reliability_and_leaves_unknown_reviewers_out() -> None:
    reviews = [review("careful", 4, 4, 8), review("careless", 0, 0, 0), review("stranger", 5, 4, 10)]
    model = known(("careful", 0.0, 300.0), ("careless", 0.0, 100.0))
    result = reliability_weighted(reviews, RUBRIC, model)
    assert result.scores == pytest.approx({"Accuracy": 3.0, "Clarity": 3.0, "Depth": 6.0})
    # Everyone's accuracy is reported, the stranger's too.
    assert set(result.accuracy) == {"review-careful", "review-careless", "review-stranger"}


def test_reliability_weighted_clamps_corrected_scores_to_the_criterion_scale() -> None:
    reviews = [review("a", 5, 4, 10), review("b", 0, 0, 0)]
    result = reliability_weighted(reviews, RUBRIC, known(("a", -0.5, 100.0), ("b", -0.5, 1.0)))
    assert result.scores == {"Accuracy": 5.0, "Clarity": 4.0, "Depth": 10.0}
    assert result.grade == 1.0


# ---------------------------------------------------------------------------------------------------------------
# The reviewer model


def test_fitting_does_not_depend_on_the_observations_order() -> None:
    generator = seeded(7)
    observations = [
        Observation(f"t{target}", f"r{generator.randrange(12)}", generator.random())
        for target in range(40)
        for _ in range(3)
    ]
    shuffled = observations[:]
    generator.shuffle(shuffled)
    assert fit_reviewer_model(shuffled) == fit_reviewer_model(observations)


def test_fitting_runs_at_most_the_rounds_it_is_given() -> None:
    observations = [Observation(f"t{index}", f"r{index % 4}", (index % 7) / 7) for index in range(40)]
    assert fit_reviewer_model(observations, max_rounds=2).rounds == 2
    fitted = fit_reviewer_model(observations)
    assert fitted.converged
    assert fitted.rounds < 100


def test_an_empty_history_knows_nobody() -> None:
    model = fit_reviewer_model([])
    assert model.reviewers == {}
    assert reliability_weighted([review("a", 1, 1, 1), review("b", 2, 2, 2)], RUBRIC, model).aggregator == "median"


def test_a_reviewer_with_one_review_stays_near_the_populations_reliability() -> None:
    generator = seeded(3)
    observations = [
        Observation(f"t{target}", f"r{reviewer}", min(1.0, max(0.0, 0.6 + generator.gauss(0, 0.1))))
        for target in range(60)
        for reviewer in generator.sample(range(10), 3)
    ]
    # The newcomer is far off on their only review: one residual must not make them look hopeless.
    model = fit_reviewer_model([*observations, Observation("t0", "newcomer", 1.0)])
    newcomer = model.reviewers["newcomer"]
    assert newcomer.review_count == 1
    assert model.population_reliability / 3 < newcomer.reliability < model.population_reliability * 3


def test_observations_of_are_each_reviews_total_over_the_rubrics_total() -> None:
    assert observations_of("t", [review("a", 5, 4, 10), review("b", 0, 2, 0)], RUBRIC) == [
        Observation("t", "a", 1.0),
        Observation("t", "b", 2 / 19),
    ]


def test_reliability_summary_turns_reliability_into_trust() -> None:
    model = known(("steady", 0.05, 1 / 0.05**2), ("typical", 0.0, 1 / 0.15**2), ("erratic", -0.1, 1 / 0.3**2))
    steady, typical, erratic = (reliability_summary(model, name) for name in ("steady", "typical", "erratic"))
    assert (steady.trust, typical.trust, erratic.trust) == pytest.approx((0.9, 0.5, 0.2))
    assert (steady.review_count, steady.bias, steady.reliability) == (20, 0.05, pytest.approx(400.0))
    stranger = reliability_summary(model, "stranger")
    assert (stranger.review_count, stranger.bias, stranger.reliability) == (0, 0.0, model.population_reliability)
    assert 0.0 < stranger.trust < 1.0


# ---------------------------------------------------------------------------------------------------------------
# Simulation: biased and careless reviewers among honest ones


@dataclass(frozen=True)
class Simulated:
    """A reviewer of the simulation: their bias and the scatter of their scores, per criterion."""

    bias: float
    noise: float


def simulate(
    generator: random.Random, targets: int = 300, reviewers: int = 60
) -> tuple[dict[str, float], dict[str, Simulated], dict[str, list[ScoredReview]]]:
    """Return true normalised scores, the reviewers, and 3 to 5 reviews of each target by random reviewers."""
    truths = {f"target-{index:03}": generator.uniform(0.2, 0.9) for index in range(targets)}
    # A sixth generous and harsh by a fifth of the scale, a sixth careless, the rest honest and careful.
    people = {
        f"reviewer-{index:02}": (
            Simulated(0.2 if index % 2 == 0 else -0.2, 0.07)
            if index < reviewers // 6
            else Simulated(0.0, 0.3)
            if index < reviewers // 3
            else Simulated(0.0, 0.07)
        )
        for index in range(reviewers)
    }
    reviews: dict[str, list[ScoredReview]] = {}
    for target_id, truth in truths.items():
        chosen = generator.sample(sorted(people), generator.randint(3, 5))
        reviews[target_id] = [
            ScoredReview(
                f"{target_id}/{reviewer_id}",
                reviewer_id,
                {
                    criterion.criterion: round(
                        min(
                            1.0,
                            max(0.0, truth + people[reviewer_id].bias + generator.gauss(0, people[reviewer_id].noise)),
                        )
                        * criterion.max_score
                    )
                    for criterion in RUBRIC
                },
            )
            for reviewer_id in chosen
        ]
    return truths, people, reviews


def rmse(grades: Sequence[float], truths: Sequence[float]) -> float:
    """Return the root mean square error of the grades."""
    return math.sqrt(sum((grade - truth) ** 2 for grade, truth in zip(grades, truths, strict=True)) / len(truths))


def test_reliability_weighting_grades_closer_to_the_truth_than_the_median_and_finds_the_biased() -> None:
    truths, people, reviews = simulate(seeded(2026))
    model = fit_reviewer_model(
        observation
        for target_id, target_reviews in reviews.items()
        for observation in observations_of(target_id, target_reviews, RUBRIC)
    )
    targets = sorted(truths)
    median_error = rmse(
        [consensus("median", reviews[target], RUBRIC).grade for target in targets],
        [truths[target] for target in targets],
    )
    weighted_results = [consensus("reliability_weighted", reviews[target], RUBRIC, model) for target in targets]
    weighted_error = rmse([result.grade for result in weighted_results], [truths[target] for target in targets])
    print(f"median RMSE {median_error:.3f}, reliability-weighted RMSE {weighted_error:.3f}")

    # Over seeds 2026, 1-7, 42 and 1234 the weighted error was 0.47-0.59 of the median's.
    assert weighted_error < 0.75 * median_error
    assert all(result.aggregator == "reliability_weighted" for result in weighted_results)
    assert model.converged
    for reviewer_id, person in people.items():
        if person.bias:
            assert math.copysign(1, model.reviewers[reviewer_id].bias) == math.copysign(1, person.bias), reviewer_id
            assert abs(model.reviewers[reviewer_id].bias - person.bias) < 0.07, reviewer_id
    careless = [
        model.reviewers[reviewer_id].reliability for reviewer_id, person in people.items() if person.noise > 0.1
    ]
    careful = [model.reviewers[reviewer_id].reliability for reviewer_id, person in people.items() if person.noise < 0.1]
    assert max(careless) < min(careful)
