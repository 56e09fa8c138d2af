"""Many workers on one study: heartbeats, stale trials, and stages that run once per study.

Optuna 5's own heartbeat covers only RDB storages and only trials run by `study.optimize`; the journal backend
has none. So mixsearch stamps every running trial itself: a thread writes the time into the trial's
`heartbeat` attribute every `interval` seconds, and any worker that finds a RUNNING trial whose stamp is older
than `grace` seconds marks it FAIL (reason STALE) and queues its parameters again. Clocks of the workers'
machines are assumed to agree to well within `grace` (NTP).

A stage that must run once per study (the DARTS supernet of `hybrid`, the final retraining) is a small study
of its own in the same storage: every worker adds a trial, the lowest-numbered live one does the work and
stores the result in its attributes, the others wait for it; if the owner dies, its trial goes stale and the
next worker takes over.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna
import torch
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from mixsearch.errors import MixsearchError, first_line
from mixsearch.search.engine.weights import DAMAGED_FILE_ERRORS, load_weights
from mixsearch.search.settings import HEARTBEAT_SECONDS

STALE = "the worker stopped during the trial (stale heartbeat); queued again"
RESULT_ATTR = "result"
# A trial's attributes that say what it is, kept when it is queued again.
BASELINE_ATTR = "baseline"
KEPT_ATTRS = (BASELINE_ATTR,)


def trial_id(storage: BaseStorage, study: optuna.Study, number: int) -> int:
    """The storage's id of trial `number` of `study` (through Optuna's public storage API)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def fail_trial(
    storage: BaseStorage, study: optuna.Study, number: int, reason: str
) -> None:
    """Mark trial `number` FAIL with `reason` (RuntimeError when it has already finished)."""
    identifier = trial_id(storage, study, number)
    storage.set_trial_user_attr(identifier, "fail_reason", reason)
    storage.set_trial_state_values(identifier, TrialState.FAIL)


def queue_again(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a trial's parameters again, keeping what it is (a baseline stays marked as one)."""
    kept = {key: trial.user_attrs[key] for key in KEPT_ATTRS if key in trial.user_attrs}
    study.enqueue_trial(trial.params, user_attrs=kept, skip_if_exists=False)


@contextmanager
def heartbeat(
    storage: BaseStorage, trial_id: int, interval: float = HEARTBEAT_SECONDS
) -> Iterator[None]:
    """Stamp trial `trial_id` with the time every `interval` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.set_trial_user_attr(trial_id, "heartbeat", time.time())
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, daemon=True, name="mixsearch-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def last_sign_of_life(trial: FrozenTrial) -> float:
    """The trial's last heartbeat, or its start when it has none yet."""
    stamp = trial.user_attrs.get("heartbeat")
    if stamp is not None:
        return float(stamp)
    return trial.datetime_start.timestamp() if trial.datetime_start else time.time()


def fail_stale(
    study: optuna.Study, storage: BaseStorage, grace: float, requeue: bool = True
) -> list[int]:
    """Fail the RUNNING trials silent for more than `grace` seconds (and queue their parameters again)."""
    now = time.time()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if now - last_sign_of_life(trial) <= grace:
            continue
        try:
            fail_trial(storage, study, trial.number, STALE)
        except RuntimeError:
            continue  # another worker got there first, or the trial just finished
        if requeue:
            queue_again(study, trial)
        failed.append(trial.number)
    return failed


def run_once(
    storage: BaseStorage,
    name: str,
    compute: Callable[[], Any],
    interval: float = HEARTBEAT_SECONDS,
    on_wait: Callable[[], None] = lambda: None,
    sole_worker: bool = False,
) -> Any:
    """The JSON-able result of stage `name` of a study: computed here if no other worker owns it, else awaited.

    A `sole_worker` (the only process on the study) takes over an unfinished stage at once: whoever ran it
    is gone."""
    grace = 0.0 if sole_worker else 3 * interval
    stage = optuna.create_study(study_name=name, storage=storage, load_if_exists=True)
    waited = False
    while True:
        finished = stage.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if finished:
            return finished[0].user_attrs[RESULT_ATTR]
        fail_stale(stage, storage, grace=grace, requeue=False)
        if not stage.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            claim = stage.ask()
            live = stage.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            finished = stage.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not finished and min(t.number for t in live) == claim.number:
                with heartbeat(
                    storage, trial_id(storage, stage, claim.number), interval
                ):
                    result = compute()
                    claim.set_user_attr(RESULT_ATTR, result)
                stage.tell(claim, 0.0)
                return result
            stage.tell(claim, state=TrialState.FAIL)
        if not waited:
            on_wait()
            waited = True
        time.sleep(min(interval, 2.0))


def encode_state(state: dict[str, Any]) -> str:
    """A torch state (tensors, lists, numbers) as compressed base64 text, storable as a study attribute."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return base64.b64encode(zlib.compress(buffer.getvalue())).decode("ascii")


def decode_state(text: str, where: str) -> dict[str, Any]:
    """The inverse of `encode_state`, loading tensors and plain containers only: the text comes from shared
    storage, and unpickling anything else could run code (MixsearchError at `where` for any other content).
    """
    try:
        data = zlib.decompress(base64.b64decode(text, validate=True))
        return load_weights(io.BytesIO(data))
    except (*DAMAGED_FILE_ERRORS, zlib.error, binascii.Error) as error:
        raise MixsearchError(
            f"{where}: the stored stage state is not a weights-only torch state ({first_line(error)})"
        ) from None
