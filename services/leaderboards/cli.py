"""Operators' commands of the leaderboards: `connective leaderboards rebuild` and `... replay --rules FILE`.

Both read the service's usual environment (MONGO_URL, REDIS_URL, TIMEZONE, LEADERBOARD_RULES...).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from services.leaderboards.bootstrap import Dependencies, build
from services.leaderboards.domain.rules import InvalidRules
from services.leaderboards.settings import load_settings, read_scoring
from services.leaderboards.usecases.rebuilding import ReplayReport, rebuild_boards, replay


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `leaderboards` command and its subcommands to a parser."""
    parser = commands.add_parser("leaderboards", help="rebuild the boards, replay the events under new rules")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("rebuild", help="rebuild every board and window from the ledger (announces nothing)")
    replaying = actions.add_parser(
        "replay", help="show what a rules file would change, per learner; --apply writes it to the ledger"
    )
    replaying.add_argument("--rules", required=True, type=Path, help="the rules file (TOML) to replay under")
    replaying.add_argument(
        "--apply", action="store_true", help="correct the ledger: a reversal and a new entry per changed award"
    )
    parser.set_defaults(run=run)


def _bar(total: int, unit: str) -> tqdm:
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True)


def _print_report(report: ReplayReport, applied: bool) -> None:
    learners = report.per_learner()
    print(f"Rules version {report.version}: {report.events} events worked out again")
    if not learners:
        print("Nothing changes.")
        return
    print(f"{'learner':<32} {'change':>8}  awards")
    for user_id, (delta, changes) in learners.items():
        print(f"{user_id:<32} {delta:>+8}  {len(changes)}")
        for change in changes:
            print(f"    {change.rule:<28} {change.before:>6} -> {change.after:<6} {change.key}")
    total = sum(delta for delta, _ in learners.values())
    print(f"{len(learners)} learners, {len(report.changes)} awards, {total:+} points in all")
    if applied:
        print(f"Applied: {report.written} ledger entries written (reversals and new awards).")
    else:
        print("Nothing was written; run again with --apply to correct the ledger.")


def run(arguments: argparse.Namespace, dependencies: Dependencies | None = None) -> int:
    """Run a leaderboards command; return the exit status."""
    settings = load_settings()
    dependencies = dependencies or build(settings)
    context = dependencies.context()
    repositories = dependencies.repositories
    if arguments.action == "rebuild":
        with _bar(repositories.ledger.count(), "entries") as bar:
            report = rebuild_boards(context=context, progress=bar.update)
        print(f"Rebuilt the boards from {report.entries} ledger entries ({report.keys_removed} Redis keys replaced).")
        return 0
    try:
        scoring = read_scoring(arguments.rules, settings.zone, dependencies.scoring.periods_kept)
    except InvalidRules as error:
        print(f"{arguments.rules}: {error}", file=sys.stderr)
        return 2
    with _bar(repositories.inbox.count(), "events") as bar:
        replayed = replay(scoring, context=context, apply=arguments.apply, progress=bar.update)
    _print_report(replayed, arguments.apply)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run `leaderboards ...` on its own (`python -m services.leaderboards.cli rebuild`)."""
    parser = argparse.ArgumentParser(prog="connective")
    add_commands(parser.add_subparsers(dest="command", required=True))
    arguments = parser.parse_args(["leaderboards", *(argv if argv is not None else sys.argv[1:])])
    return int(arguments.run(arguments))


if __name__ == "__main__":
    sys.exit(main())
