"""What a search run produced, as one JSON-able type: the contract between the search and the report/export.

`search.json` in the run folder is `SearchResult.to_json()`: every trial (arch, objectives, constraint ratios,
state and reason), the Pareto front, the finalists retrained from scratch, the baselines and ablations trained
with the same budget, and the winner.

The winner is chosen among from-scratch trainings by validation accuracy: the retrained finalists, and those
ablations of the best finalist that the space itself holds (a fusion replaced by sum, a branch the space lets
drop) and that meet its constraints. Those ablations cost no extra training (the report needs them anyway), and
on the default space one often beats the finalist it came from: the final stage's last step of local search.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mixsearch.arch import Arch
from mixsearch.errors import MixsearchError, first_line
from mixsearch.inputs import check_type
from mixsearch.outdir import write_file

RESULT_FORMAT = "mixsearch.search/2"  # 2: per-seed final accuracies, baseline trials
RESULT_FILE = "search.json"
TRIAL_STATES = ("complete", "fail", "infeasible", "duplicate", "surplus", "running")


@dataclass(frozen=True)
class TrialRecord:
    """One trial of the Optuna/random stage (or the one DARTS derivation).

    state: complete (trained), fail (diverged, out of memory, interrupted: see `reason`), infeasible (predicted
    cost breaks a constraint, never trained), duplicate (same arch as trial `reason` names, not retrained),
    surplus (another worker's trial already completed the budget), running. values: accuracy (validation, 0..1)
    and predicted latency_ms / flops / params. constraints: value / limit per constrained metric (> 1 misses).
    baseline: the hand-designed module this trial is (put into the study before any other), if any.
    """

    number: int
    state: str
    arch: Arch | None
    values: dict[str, float] = field(default_factory=dict)
    constraints: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    seconds: float | None = None
    baseline: str | None = None

    @property
    def feasible(self) -> bool:
        return all(ratio <= 1.0 for ratio in self.constraints.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["arch"] = self.arch.to_json() if self.arch is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialRecord:
        arch = data["arch"]
        return cls(
            **{
                **data,
                "arch": (
                    Arch.from_json(arch, f"trial {data['number']}") if arch else None
                ),
            }
        )


@dataclass(frozen=True)
class Trained:
    """A module trained from scratch with the final budget, once per final seed: accuracies, latency, counts.

    label: "trial 12", a baseline name ("se"), an ablation ("without spat") or, for a winner taken from the
    ablation, both ("trial 12, without ctx"). seeds, val_accs, test_accs: one entry per final seed, the same
    seeds for every module of a run. trial: the trial that trained the same architecture, if any. latency_ms is
    measured end to end on the target (summed over its shapes), not predicted; seconds: all seeds' training.
    """

    label: str
    arch: Arch
    seeds: tuple[int, ...]
    val_accs: tuple[float, ...]
    test_accs: tuple[float, ...]
    latency_ms: float
    flops: int
    params: int
    seconds: float
    trial: int | None = None

    @property
    def val_acc(self) -> float:
        """Mean validation accuracy over the seeds (what the winner is chosen on)."""
        return statistics.fmean(self.val_accs)

    @property
    def test_acc(self) -> float:
        """Mean test accuracy over the seeds."""
        return statistics.fmean(self.test_accs)

    @property
    def test_se(self) -> float | None:
        """Standard error of the mean test accuracy (None from one seed)."""
        return standard_error(self.test_accs)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "arch": self.arch.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trained:
        lists = {key: tuple(data[key]) for key in ("seeds", "val_accs", "test_accs")}
        arch = Arch.from_json(data["arch"], data["label"])
        return cls(**{**data, **lists, "arch": arch})


def standard_error(values: Sequence[float]) -> float | None:
    """The standard error of the mean of `values` (None for fewer than two)."""
    if len(values) < 2:
        return None
    return statistics.stdev(values) / math.sqrt(len(values))


class Validated(Protocol):
    """Anything scored on the validation split (a `Trained`, or a training not yet measured)."""

    @property
    def val_acc(self) -> float: ...


ValidatedT = TypeVar("ValidatedT", bound=Validated)


def best_by_validation(items: Sequence[ValidatedT]) -> ValidatedT:
    """The item with the highest validation accuracy; the earliest on a tie."""
    return max(items, key=lambda item: item.val_acc)


@dataclass(frozen=True)
class SearchResult:
    """Everything a run found; `ablation` varies `ablated`, `winner` is the best of both (module docstring).

    A run stopped before its end (Ctrl-C, SIGTERM) saves a partial result: `stopped` names the stage it was in,
    `winner` is None, and `best_trial` is the most accurate trained trial so far, never retrained.
    """

    space: str
    name: str
    strategy: str
    sampler: str
    budget: dict[str, Any]
    seed: int
    command: str
    device: str
    constraints: dict[str, float]
    objectives: tuple[str, ...]
    trials: tuple[TrialRecord, ...]
    pareto: tuple[int, ...]
    finalists: tuple[Trained, ...]
    winner: Trained | None
    baselines: tuple[Trained, ...]
    ablation: tuple[Trained, ...]
    alpha_history: tuple[dict[str, Any], ...] = ()
    alpha_options: dict[str, list[str]] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    date: str = ""  # when the run ended (ISO 8601, UTC)
    stopped: str | None = None  # the stage a stopped run was in
    best_trial: int | None = None  # a stopped run's most accurate trained trial
    # The candidates promoted at the rung to the final stage: (trial number, Pareto rank) in promotion order.
    promoted: tuple[tuple[int, int], ...] = ()
    task: str = "classification"  # the proxy task the modules were scored on
    metric: str = (
        "accuracy"  # what their scores measure (the "accuracy" objective): accuracy or mAP50-95
    )

    @property
    def partial(self) -> bool:
        return self.stopped is not None

    @property
    def ablated(self) -> Trained:
        """The finalist the ablation varies: the best retrained on validation."""
        return best_by_validation(self.finalists)

    def trial(self, number: int) -> TrialRecord:
        for record in self.trials:
            if record.number == number:
                return record
        raise MixsearchError(
            f"no trial {number} in this run (trials 0..{len(self.trials) - 1})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RESULT_FORMAT,
            **{
                key: value
                for key, value in asdict(self).items()
                if key not in ("trials", "finalists", "winner", "baselines", "ablation")
            },
            "objectives": list(self.objectives),
            "pareto": list(self.pareto),
            "trials": [record.to_json() for record in self.trials],
            "finalists": [item.to_json() for item in self.finalists],
            "winner": self.winner.to_json() if self.winner is not None else None,
            "baselines": [item.to_json() for item in self.baselines],
            "ablation": [item.to_json() for item in self.ablation],
        }

    def save(self, run_dir: str | Path) -> Path:
        return write_file(
            Path(run_dir) / RESULT_FILE, json.dumps(self.to_json(), indent=1)
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchResult:
        if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
            raise MixsearchError(
                f'not a mixsearch search result (expected "format": "{RESULT_FORMAT}")'
            )
        fields = {key: value for key, value in data.items() if key != "format"}
        result = cls(
            **{
                **fields,
                "objectives": tuple(data["objectives"]),
                "pareto": tuple(data["pareto"]),
                "trials": tuple(map(TrialRecord.from_json, data["trials"])),
                "finalists": tuple(map(Trained.from_json, data["finalists"])),
                "winner": Trained.from_json(data["winner"]) if data["winner"] else None,
                "baselines": tuple(map(Trained.from_json, data["baselines"])),
                "ablation": tuple(map(Trained.from_json, data["ablation"])),
                "alpha_history": tuple(data.get("alpha_history", ())),
                "promoted": tuple(map(tuple, data.get("promoted", ()))),
            }
        )
        _check_result(result)
        return result

    @classmethod
    def load(cls, run_dir: str | Path) -> SearchResult:
        """The result of the run in `run_dir` (a MixsearchError when there is none or it is unreadable)."""
        path = Path(run_dir) / RESULT_FILE
        try:
            return cls.from_json(json.loads(path.read_text()))
        except MixsearchError as error:
            raise MixsearchError(f"{path}: {error}") from None
        except FileNotFoundError:
            raise MixsearchError(
                f"{path}: no such file; is {run_dir} the folder of a finished `mixsearch run`?"
            ) from None
        except IsADirectoryError:
            raise MixsearchError(f"{path}: a folder, not a search result") from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise MixsearchError(
                f"{path}: unreadable search result ({type(error).__name__}: {first_line(error)}); "
                "run `mixsearch run` again to rewrite it"
            ) from None


def _check_result(result: SearchResult) -> None:
    """TypeError or ValueError unless `result` is what a run writes: every field of its type, a winner unless
    the run stopped, known trial states, and one score per seed of every module trained in the final stage.
    """
    check_type(result, SearchResult)
    if not result.partial and result.winner is None:
        raise ValueError("winner: missing from a run that did not stop")
    for record in result.trials:
        if record.state not in TRIAL_STATES:
            raise ValueError(f"trial {record.number}: unknown state {record.state!r}")
    trained = (*result.finalists, *result.baselines, *result.ablation)
    for item in (*trained, *filter(None, [result.winner])):
        if not len(item.seeds) == len(item.val_accs) == len(item.test_accs) > 0:
            raise ValueError(f"{item.label}: not one score per seed")
