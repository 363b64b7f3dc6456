"""The history checker against the real stack (tests/history.py): a few seeds of a random mix of
requests under a random schedule of faults, then every rule of issue 15 over the history and
the final state. By hand, longer: make check-history ARGS="--seconds 600 --seed N"."""

import time

import pytest

from tests import history as hist
from tests.flows import customer
from tests.invariants import assert_invariants, quiesce
from tests.support import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live")]

SEEDS = (1501, 1502)  # make test: these seeds, SECONDS of traffic and faults each
SECONDS = 35.0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("history_seed")
        metafunc.parametrize("seed", [chosen] if chosen is not None else SEEDS)


def test_history_under_random_faults(seed, request, workers, redis_server, settings):
    settings.GATEWAY_REPLY_TIMEOUT = 1.0
    seconds = request.config.getoption("history_seconds") or SECONDS
    began = time.monotonic()
    history = hist.run(seed, seconds, workers, redis_server)
    print(f"\n{hist.summary(history)}")
    reproduce = f'make check-history ARGS="--seconds {seconds:g} --seed {seed}"'
    try:
        quiesce(timeout=120)
        outcomes = assert_invariants(timeout=120)
        eventually(
            lambda: hist.accepted_settled(history),
            timeout=60,
            interval=0.5,
            what="every accepted request's outcome",
        )
    except pytest.fail.Exception as failed:
        for line in history.faults:
            print(line)
        pytest.fail(f"seed {seed} ({reproduce}): {failed}")
    violations = hist.check(history)
    for violation in violations:
        print(violation.show(history))
    if violations:
        for line in history.faults:
            print(line)
    assert not violations, f"{len(violations)} violations; reproduce: {reproduce}"
    print(f"outcomes {outcomes}; checked in {time.monotonic() - began:.0f}s")


def test_the_checker_shows_a_violation_with_its_seed_and_the_calls_that_show_it(api):
    buyer = customer(api)
    history = hist.History(seed=42, buyers={buyer.username: buyer})
    read = hist.Call(
        0, 0, buyer.username, "balance", "GET", "/account/", None, None, 0.1, 0.2, 200,
        {"balance": "999.00"},
    )  # fmt: skip
    history.calls.append(read)
    violations = hist.check(history)
    assert [v.what for v in violations] == [f"{buyer.username}: balance read 999.00 unexplained"]
    shown = violations[0].show(history)
    assert "seed 42" in shown and str(read) in shown
