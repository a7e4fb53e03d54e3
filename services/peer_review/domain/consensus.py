"""Pure rules of consensus: how the reviews of one target become its scores, its grade and each review's accuracy.

Two aggregators share one call signature in `AGGREGATORS`:

- `median`: the median per criterion; needs no history and is hard for one odd review to move.
- `reliability_weighted`: the PG1 model of Piech et al., "Tuned Models of Peer Assessment in MOOCs" (EDM 2013).
  Each target u has a true score s_u, each reviewer v a bias b_v and a reliability (precision) τ_v, and a
  reviewer's normalised score is z_uv ~ N(s_u + b_v, 1/τ_v). `fit_reviewer_model` estimates b_v and τ_v from the
  history of reviews; the aggregator subtracts each known reviewer's bias and weights their score by τ_v.

Scores are on each criterion's own scale (0..max_score); the model's bias is on the normalised scale (0..1), so
a bias of 0.1 means "a tenth of any criterion's scale too generous".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shared.domain import InvalidField, InvalidState

# A reviewer counts as known to the weighted aggregator after this many past reviews: fewer say too little
# about their bias and reliability, and their estimates still sit mostly on the priors.
MINIMUM_REVIEWS = 5
# The weighted aggregator needs this many known reviewers of a target; with one, a single reviewer's
# (corrected) opinion would be the grade, which is what peer review is meant to avoid.
MINIMUM_KNOWN_REVIEWERS = 2


class InvalidRubric(InvalidField):
    """The rubric cannot grade anything: no criteria, repeated names, negative or all-zero maximums."""

    def __init__(self, message: str) -> None:
        super().__init__("rubric", message)


class InvalidScores(InvalidField):
    """A review's scores do not fit the rubric (a criterion missing or unknown, a score out of range)."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__("scores", message, **details)


class UnknownAggregator(InvalidField):
    """No aggregator has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            "aggregator", f"No aggregator is called {name!r}; use one of: {', '.join(sorted(AGGREGATORS))}", name=name
        )


class NoReviews(InvalidState):
    """A consensus needs at least one review."""

    kind = "no-reviews"

    def __init__(self) -> None:
        super().__init__("A consensus needs at least one review")


# ---------------------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Criterion:
    """One line of a rubric: a name and the highest score a reviewer may give it."""

    criterion: str
    max_score: int


@dataclass(frozen=True)
class ScoredReview:
    """A submitted review of one target: an integer score per criterion, 0 to the criterion's maximum."""

    review_id: str
    reviewer_id: str
    scores: Mapping[str, int]


@dataclass(frozen=True)
class Consensus:
    """What the reviews of one target agree on, and how far each review was from it."""

    # Per criterion, on the criterion's own scale (0..max_score).
    scores: Mapping[str, float]
    # The sum of `scores` over the sum of the maximums, 0 to 1.
    grade: float
    # Per review id, 0 to 1: 1 minus the mean over criteria of |score - consensus| / max_score.
    accuracy: Mapping[str, float]
    # The aggregator that produced the scores: "median" also when the weighted one had to fall back to it.
    aggregator: str


@dataclass(frozen=True)
class Observation:
    """One reviewer's normalised score (0 to 1) of one target: what the reviewer model learns from."""

    target_id: str
    reviewer_id: str
    score: float


@dataclass(frozen=True)
class ReviewerEstimate:
    """What the model believes about one reviewer."""

    # Added to the truth on the normalised scale: positive is generous, negative harsh.
    bias: float
    # The precision of the reviewer's scores around truth + bias (1 / variance on the normalised scale).
    reliability: float
    review_count: int


@dataclass(frozen=True)
class ModelPriors:
    """The priors of the reviewer model, each on the normalised (0..1) scale."""

    # True scores ~ N(mean of all observations, score_sd²): wide, targets' grades spread over most of the scale.
    score_sd: float = 0.25
    # Biases ~ N(0, bias_sd²): weak, a reviewer a fifth of the scale off is only 1.3 sd out, and twenty reviews of
    # a typical reviewer (precision about 150) outweigh the prior some seventy to one.
    bias_sd: float = 0.15
    # A reviewer's variance is estimated as if they had this many extra reviews at the population's variance
    # (a Gamma prior on the precision with shape pseudo_reviews / 2 and mean the population's precision), so a
    # reviewer with one or two reviews stays near the population and twenty reviews mostly speak for themselves.
    pseudo_reviews: float = 5.0
    # No reviewer is believed more precise than this (sd 0.01, finer than one point out of a hundred), so
    # reviewers who happen to agree exactly do not get unbounded weight.
    minimum_variance: float = 1e-4


DEFAULT_PRIORS = ModelPriors()
# Coordinate ascent converges in a few dozen rounds on realistic histories; the bound keeps a pathological
# history from looping long, and the tolerance (on the normalised scale) is far below any visible grade change.
MAX_ROUNDS = 100
TOLERANCE = 1e-6


@dataclass(frozen=True)
class ReviewerModel:
    """Reviewers' fitted biases and reliabilities, and the targets' fitted true scores."""

    reviewers: Mapping[str, ReviewerEstimate]
    # The precision the model expects from a reviewer it knows nothing about (the prior's mean).
    population_reliability: float
    target_scores: Mapping[str, float] = field(default_factory=dict)
    # How many rounds of coordinate ascent the fit ran, and whether it met the tolerance before the bound.
    rounds: int = 0
    converged: bool = True


@dataclass(frozen=True)
class ReviewerReliability:
    """A reviewer's reliability as shown to people."""

    reviewer_id: str
    review_count: int
    bias: float
    reliability: float
    # 0 to 1: see `reliability_summary`.
    trust: float


Aggregator = Callable[[Sequence[ScoredReview], Sequence[Criterion], ReviewerModel | None], Consensus]


# ---------------------------------------------------------------------------------------------------------------
# Checks and shared arithmetic


def check_rubric(rubric: Sequence[Criterion]) -> None:
    """Refuse a rubric without criteria, with repeated names, negative maximums or nothing to score."""
    if not rubric:
        raise InvalidRubric("The rubric has no criteria")
    names = [criterion.criterion for criterion in rubric]
    if len(set(names)) != len(names):
        raise InvalidRubric("Rubric criteria must have different names")
    if any(criterion.max_score < 0 for criterion in rubric):
        raise InvalidRubric("A criterion's maximum score cannot be negative")
    if sum(criterion.max_score for criterion in rubric) == 0:
        raise InvalidRubric("Every criterion's maximum score is 0, so there is nothing to grade")


def check_reviews(reviews: Sequence[ScoredReview], rubric: Sequence[Criterion]) -> None:
    """Refuse no reviews, repeated review ids, and scores that do not fit the rubric."""
    if not reviews:
        raise NoReviews
    if len({review.review_id for review in reviews}) != len(reviews):
        raise InvalidScores("Each review must have its own review id")
    names = {criterion.criterion for criterion in rubric}
    for review in reviews:
        if set(review.scores) != names:
            raise InvalidScores(
                f"Review {review.review_id} must score exactly the rubric's criteria",
                review_id=review.review_id,
                missing=sorted(names - set(review.scores)),
                unknown=sorted(set(review.scores) - names),
            )
        for criterion in rubric:
            score = review.scores[criterion.criterion]
            if not 0 <= score <= criterion.max_score:
                raise InvalidScores(
                    f"Review {review.review_id} scores {criterion.criterion} {score}, "
                    f"outside 0 to {criterion.max_score}",
                    review_id=review.review_id,
                    criterion=criterion.criterion,
                )


def grade_of(scores: Mapping[str, float], rubric: Sequence[Criterion]) -> float:
    """Return the scores' sum as a fraction of the rubric's maximum."""
    total = sum(criterion.max_score for criterion in rubric)
    # Clamped because float sums of clamped scores can land a hair outside [0, 1].
    return min(1.0, max(0.0, sum(scores[criterion.criterion] for criterion in rubric) / total))


def accuracy_of(review: ScoredReview, scores: Mapping[str, float], rubric: Sequence[Criterion]) -> float:
    """Return 1 minus the review's mean distance from the consensus, each criterion a fraction of its maximum."""
    # A criterion with maximum 0 has nothing to be wrong about, and would divide by zero.
    distances = [
        abs(review.scores[criterion.criterion] - scores[criterion.criterion]) / criterion.max_score
        for criterion in rubric
        if criterion.max_score > 0
    ]
    return min(1.0, max(0.0, 1.0 - sum(distances) / len(distances)))


def _consensus(
    scores: Mapping[str, float], reviews: Sequence[ScoredReview], rubric: Sequence[Criterion], aggregator: str
) -> Consensus:
    """Return the consensus of the scores: their grade and each review's accuracy against them."""
    return Consensus(
        scores=dict(scores),
        grade=grade_of(scores, rubric),
        accuracy={review.review_id: accuracy_of(review, scores, rubric) for review in reviews},
        aggregator=aggregator,
    )


def normalised_score(review: ScoredReview, rubric: Sequence[Criterion]) -> float:
    """Return the review's total as a fraction of the rubric's total."""
    return sum(review.scores[criterion.criterion] for criterion in rubric) / sum(
        criterion.max_score for criterion in rubric
    )


def observations_of(target_id: str, reviews: Sequence[ScoredReview], rubric: Sequence[Criterion]) -> list[Observation]:
    """Return one observation per review of the target, for the reviewer model's history."""
    check_rubric(rubric)
    check_reviews(reviews, rubric)
    return [Observation(target_id, review.reviewer_id, normalised_score(review, rubric)) for review in reviews]


# ---------------------------------------------------------------------------------------------------------------
# Aggregators


def median(
    reviews: Sequence[ScoredReview], rubric: Sequence[Criterion], model: ReviewerModel | None = None
) -> Consensus:
    """Return the consensus of the median score per criterion (the model is ignored)."""
    check_rubric(rubric)
    check_reviews(reviews, rubric)
    return _consensus(_medians(reviews, rubric), reviews, rubric, "median")


def _medians(reviews: Sequence[ScoredReview], rubric: Sequence[Criterion]) -> dict[str, float]:
    """Return the median score per criterion (the mean of the two middle ones for an even count)."""
    return {
        criterion.criterion: float(statistics.median(review.scores[criterion.criterion] for review in reviews))
        for criterion in rubric
    }


def reliability_weighted(
    reviews: Sequence[ScoredReview],
    rubric: Sequence[Criterion],
    model: ReviewerModel | None = None,
    minimum_reviews: int = MINIMUM_REVIEWS,
) -> Consensus:
    """Return the consensus of the known reviewers' bias-corrected scores weighted by reliability.

    A reviewer is known with at least `minimum_reviews` reviews in the model's history. Reviewers it does not
    know are left out: their bias is unknown, and a raw score would pull the corrected ones back. With fewer
    than two known reviewers (or no model) the consensus is the median of all reviews.
    """
    check_rubric(rubric)
    check_reviews(reviews, rubric)
    known = [
        (review, estimate)
        for review in reviews
        if model is not None
        and (estimate := model.reviewers.get(review.reviewer_id)) is not None
        and estimate.review_count >= minimum_reviews
    ]
    if len(known) < MINIMUM_KNOWN_REVIEWERS:
        return _consensus(_medians(reviews, rubric), reviews, rubric, "median")
    total_weight = sum(estimate.reliability for _, estimate in known)
    scores = {}
    for criterion in rubric:
        corrected = sum(
            estimate.reliability * (review.scores[criterion.criterion] - estimate.bias * criterion.max_score)
            for review, estimate in known
        )
        scores[criterion.criterion] = min(float(criterion.max_score), max(0.0, corrected / total_weight))
    return _consensus(scores, reviews, rubric, "reliability_weighted")


AGGREGATORS: Mapping[str, Aggregator] = {
    "median": median,
    "reliability_weighted": reliability_weighted,
}


def consensus(
    name: str, reviews: Sequence[ScoredReview], rubric: Sequence[Criterion], model: ReviewerModel | None = None
) -> Consensus:
    """Return the consensus the named aggregator reaches on the reviews."""
    aggregator = AGGREGATORS.get(name)
    if aggregator is None:
        raise UnknownAggregator(name)
    return aggregator(reviews, rubric, model)


# ---------------------------------------------------------------------------------------------------------------
# The reviewer model


@dataclass(frozen=True)
class _History:
    """Observations as indices into sorted target and reviewer ids: the loops of a fit run over these."""

    target_ids: list[str]
    reviewer_ids: list[str]
    # (target index, reviewer index, score) per observation; plain tuples, as each round loops over them all.
    pairs: list[tuple[int, int, float]]
    reviews_per_target: list[int]
    reviews_per_reviewer: list[int]
    score_mean: float


def _history_of(observations: Iterable[Observation]) -> _History:
    """Return the observations indexed, sorted first so that a fit does not depend on their order."""
    history = sorted(
        observations, key=lambda observation: (observation.target_id, observation.reviewer_id, observation.score)
    )
    for observation in history:
        if not 0.0 <= observation.score <= 1.0 or math.isnan(observation.score):
            raise InvalidField(
                "score", f"Normalised scores run from 0 to 1, not {observation.score}", target_id=observation.target_id
            )
    target_ids = sorted({observation.target_id for observation in history})
    reviewer_ids = sorted({observation.reviewer_id for observation in history})
    target_index = {target_id: index for index, target_id in enumerate(target_ids)}
    reviewer_index = {reviewer_id: index for index, reviewer_id in enumerate(reviewer_ids)}
    pairs = [
        (target_index[observation.target_id], reviewer_index[observation.reviewer_id], observation.score)
        for observation in history
    ]
    reviews_per_target = [0] * len(target_ids)
    reviews_per_reviewer = [0] * len(reviewer_ids)
    for target, reviewer, _ in pairs:
        reviews_per_target[target] += 1
        reviews_per_reviewer[reviewer] += 1
    score_mean = sum(value for _, _, value in pairs) / len(pairs) if pairs else 0.0
    return _History(target_ids, reviewer_ids, pairs, reviews_per_target, reviews_per_reviewer, score_mean)


def _starting_reliability(history: _History, priors: ModelPriors) -> float:
    """Return the precision the spread of scores around each target's mean suggests, to start the fit from."""
    sums = [0.0] * len(history.target_ids)
    for target, _, value in history.pairs:
        sums[target] += value
    means = [total / size for total, size in zip(sums, history.reviews_per_target, strict=True)]
    # A target's lone review matches its mean exactly: counting it would start everyone near-perfectly reliable,
    # which the rounds then take long to unlearn. So the spread is pooled over targets with two reviews or more
    # (each with one degree of freedom fewer), or taken around the overall mean when there are none.
    freedom = sum(size - 1 for size in history.reviews_per_target)
    if freedom:
        spread = sum((value - means[target]) ** 2 for target, _, value in history.pairs) / freedom
    else:
        spread = sum((value - history.score_mean) ** 2 for _, _, value in history.pairs) / len(history.pairs)
    return 1.0 / max(spread, priors.minimum_variance)


def _fit_scores(
    history: _History, biases: list[float], reliabilities: list[float], priors: ModelPriors
) -> tuple[list[float], list[float]]:
    """Return each target's true score (mean, variance): the prior and its reviews less bias, by reliability."""
    prior_precision = 1.0 / priors.score_sd**2
    numerators = [prior_precision * history.score_mean] * len(history.target_ids)
    precisions = [prior_precision] * len(history.target_ids)
    for target, reviewer, value in history.pairs:
        numerators[target] += reliabilities[reviewer] * (value - biases[reviewer])
        precisions[target] += reliabilities[reviewer]
    means = [numerator / precision for numerator, precision in zip(numerators, precisions, strict=True)]
    return means, [1.0 / precision for precision in precisions]


def _fit_biases(
    history: _History, scores: list[float], reliabilities: list[float], priors: ModelPriors
) -> tuple[list[float], list[float]]:
    """Return each reviewer's bias (mean, variance): their mean residual, shrunk towards 0 by the prior."""
    residuals = [0.0] * len(history.reviewer_ids)
    for target, reviewer, value in history.pairs:
        residuals[reviewer] += value - scores[target]
    precisions = [
        1.0 / priors.bias_sd**2 + size * reliability
        for size, reliability in zip(history.reviews_per_reviewer, reliabilities, strict=True)
    ]
    means = [
        reliability * residual / precision
        for reliability, residual, precision in zip(reliabilities, residuals, precisions, strict=True)
    ]
    return means, [1.0 / precision for precision in precisions]


def _recentre(
    history: _History, scores: list[float], biases: list[float], priors: ModelPriors
) -> tuple[list[float], list[float]]:
    """Return the scores raised and the biases lowered by the one amount the priors like best.

    Raising every score and lowering every bias alike leaves every s_u + b_v, so the fit to the data, unchanged:
    only the weak priors pin that direction, and the score and bias steps crawl along it for hundreds of rounds.
    This exact step along it makes a fit converge in a few dozen.
    """
    score_precision = 1.0 / priors.score_sd**2
    bias_precision = 1.0 / priors.bias_sd**2
    shift = (bias_precision * sum(biases) - score_precision * sum(score - history.score_mean for score in scores)) / (
        score_precision * len(scores) + bias_precision * len(biases)
    )
    return [score + shift for score in scores], [bias - shift for bias in biases]


def _fit_reliabilities(
    history: _History,
    scores: tuple[list[float], list[float]],
    biases: tuple[list[float], list[float]],
    priors: ModelPriors,
) -> tuple[list[float], float]:
    """Return each reviewer's reliability and the population's: Gamma posterior means, from expected residuals."""
    (score_means, score_variances), (bias_means, bias_variances) = scores, biases
    squares = [0.0] * len(history.reviewer_ids)
    for target, reviewer, value in history.pairs:
        error = value - score_means[target] - bias_means[reviewer]
        # The expected square under the fit's uncertainty, not just the square of the best guess.
        squares[reviewer] += error * error + score_variances[target] + bias_variances[reviewer]
    # Empirical Bayes: the prior's mean is the pooled precision of everyone's reviews, refitted every round.
    population = 1.0 / max(sum(squares) / len(history.pairs), priors.minimum_variance)
    shape = priors.pseudo_reviews / 2.0
    ceiling = 1.0 / priors.minimum_variance
    reliabilities = [
        min(ceiling, (shape + size / 2.0) / (shape / population + square / 2.0))
        for size, square in zip(history.reviews_per_reviewer, squares, strict=True)
    ]
    return reliabilities, population


def fit_reviewer_model(
    observations: Iterable[Observation],
    *,
    priors: ModelPriors = DEFAULT_PRIORS,
    max_rounds: int = MAX_ROUNDS,
    tolerance: float = TOLERANCE,
) -> ReviewerModel:
    """Return reviewers' biases and reliabilities (and targets' true scores) fitted to the observations.

    Mean-field variational Bayes on PG1, i.e. coordinate ascent: each round updates every true score given the
    biases and reliabilities, then every bias, then recentres the two (see `_recentre`), then every reliability,
    each to its exact conditional optimum (Gaussian for scores and biases, Gamma for reliabilities). The
    reliability update adds the remaining uncertainty of score and bias to each squared residual; without it, a
    target's few reviews fit its score too closely and everyone looks more reliable than they are. The fit stops
    when no score or bias moves by `tolerance`, or after `max_rounds`. Observations are sorted first, so the result
    does not depend on their order.
    """
    history = _history_of(observations)
    if not history.pairs:
        # Nothing seen: a reviewer's score is taken to say as much about a target as the prior on true scores.
        return ReviewerModel(reviewers={}, population_reliability=1.0 / priors.score_sd**2, rounds=0)

    # Start from everyone unbiased and as reliable as the spread of scores around each target's mean says.
    population = _starting_reliability(history, priors)
    reliabilities = [population] * len(history.reviewer_ids)
    scores = [history.score_mean] * len(history.target_ids)
    biases = [0.0] * len(history.reviewer_ids)
    rounds = 0
    converged = False
    while rounds < max_rounds and not converged:
        rounds += 1
        previous_scores, previous_biases = scores, biases
        scores, score_variances = _fit_scores(history, biases, reliabilities, priors)
        biases, bias_variances = _fit_biases(history, scores, reliabilities, priors)
        scores, biases = _recentre(history, scores, biases, priors)
        reliabilities, population = _fit_reliabilities(
            history, (scores, score_variances), (biases, bias_variances), priors
        )
        converged = tolerance > max(
            *(abs(new - old) for new, old in zip(scores, previous_scores, strict=True)),
            *(abs(new - old) for new, old in zip(biases, previous_biases, strict=True)),
        )

    return ReviewerModel(
        reviewers={
            reviewer_id: ReviewerEstimate(biases[index], reliabilities[index], history.reviews_per_reviewer[index])
            for index, reviewer_id in enumerate(history.reviewer_ids)
        },
        population_reliability=population,
        target_scores={target_id: scores[index] for index, target_id in enumerate(history.target_ids)},
        rounds=rounds,
        converged=converged,
    )


# ---------------------------------------------------------------------------------------------------------------
# Display

# The scatter (sd, normalised scale) at which a reviewer's trust is one half: 0.15 is three quarters of a point on
# a five-point criterion, about twice what a careful reviewer shows and half what a careless one does.
TRUST_HALF_SD = 0.15


def reliability_summary(model: ReviewerModel, reviewer_id: str) -> ReviewerReliability:
    """Return the reviewer's reliability for display; a reviewer the model never saw gets the population's.

    trust = τ / (τ + 1 / TRUST_HALF_SD²), i.e. 1 / (1 + (sd / 0.15)²) with sd = 1 / √τ the reviewer's typical
    scatter: 0.9 at sd 0.05, 0.69 at sd 0.1, 0.5 at sd 0.15, 0.2 at sd 0.3. It rises with reliability and
    ignores bias, which the weighted aggregator corrects; reliability is shrunk towards the population's for
    reviewers with few reviews, so trust is too.
    """
    estimate = model.reviewers.get(reviewer_id) or ReviewerEstimate(0.0, model.population_reliability, 0)
    reliability = estimate.reliability
    trust = reliability / (reliability + 1.0 / TRUST_HALF_SD**2)
    return ReviewerReliability(reviewer_id, estimate.review_count, estimate.bias, reliability, trust)
