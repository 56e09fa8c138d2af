"""`mixsearch run`: the strategies end to end, from a compiled space to a `SearchResult`.

Stages: latency table (cached per device) -> DARTS supernet (hybrid, darts) -> trials (optuna, random, hybrid)
-> finalists retrained from scratch -> baselines and ablations with the same budget -> the winner, the best on
validation of the finalists and of the ablations the space holds (`SearchResult`). Every stage resumes: the
DARTS checkpoint and the Optuna study live in the run folder and the from-scratch trainings in the user's cache
(`trainings`, where later runs reuse them too), so running the same command again continues where a killed run
stopped.

Several workers (processes or machines) can run the same command against one storage: the DARTS stage and the
final stage run once per study (`workers.run_once`; their results are stored with the study), the trials are
shared out, and every worker ends with the same `SearchResult`.

Strategies:
- darts: the derived architecture of the supernet is the only finalist;
- optuna: TPE or NSGA-II over the whole space, each trial trained from scratch;
- random: the same loop with uniform sampling, the baseline every strategy is judged against;
- hybrid: DARTS keeps the `keep` strongest options of each choice (alpha ranking; by accuracy alone unless latency
  is constrained, see `darts_config`), then Optuna searches the narrowed space, each trial inheriting the
  supernet's weights and fine-tuned briefly.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from optuna import Study
from optuna.trial import TrialState

from mixsearch.arch import Arch
from mixsearch.errors import MixsearchError
from mixsearch.hardware.cost import (
    CostModel,
    check_constraints,
    format_limits,
    require_feasible,
)
from mixsearch.hardware.predictor import measure_archs
from mixsearch.space.sections import Constraints, Target
from mixsearch.model.supernet import ArchParameters
from mixsearch.proxy import TrainConfig, TrainResult
from mixsearch.space.sections import Budget
from mixsearch.search.darts import DartsConfig, DartsSearch
from mixsearch.search.derive import derive
from mixsearch.search.evaluate import (
    CandidateFailed,
    Evaluator,
    ablations,
    baseline_archs,
    capped,
    final_seed,
)
from mixsearch.search.one_shot import latency_table, load_proxy_data, supernet_search
from mixsearch.search.result import (
    SearchResult,
    Trained,
    TrialRecord,
    best_by_validation,
)
from mixsearch.search.study import (
    SoleWorkerLock,
    TrialLoop,
    counted,
    make_sampler,
    open_storage,
    open_study,
    option_label,
    predicted_costs,
    recover_interrupted,
    storage_url,
    trial_record,
)
from mixsearch.search.trainings import TrainingCache, default_cache_dir, json_digest
from mixsearch.search.workers import (
    HEARTBEAT_SECONDS,
    decode_state,
    encode_state,
    run_once,
)
from mixsearch.space.graph import Choice, SpaceGraph
from mixsearch.hardware.device import torch_device

DARTS_DIR = "darts"


@dataclass(frozen=True)
class RunOptions:
    """How to search: strategy, sampler, budget and objectives, where the study lives, what to show.

    cache_dir: where from-scratch trainings are kept for reuse (`trainings.TrainingCache`; default the user's
    cache directory)."""

    strategy: str
    sampler: str
    budget: Budget
    objectives: tuple[str, ...]
    keep: int = 2
    seed: int = 0
    device: str = "cpu"
    storage: str | None = None
    study_name: str | None = None
    table_path: str | Path | None = None
    cache_dir: str | Path | None = None
    command: str = ""
    show_progress: bool = True
    heartbeat_seconds: float = HEARTBEAT_SECONDS


Report = Callable[[str], None]


def run_search(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: str | Path,
    report: Report = lambda line: None,
) -> SearchResult:
    """Search `graph` with `options.strategy`, writing resumable state into `run_dir`."""
    run = _Run(graph, target, options, Path(run_dir), report)
    return run.execute()


def run_darts_stage(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: str | Path,
    report: Report = lambda line: None,
) -> None:
    """Only the DARTS stage of the study (`--stage darts`): later workers of the study reuse its result."""
    run = _Run(graph, target, options, Path(run_dir), report)
    run.prepare()
    with run.stage("DARTS"):
        run.shared_darts()


class _Run:
    """One run's stages and the state they share (data, costs, evaluator, timings)."""

    def __init__(
        self,
        graph: SpaceGraph,
        target: Target,
        options: RunOptions,
        run_dir: Path,
        report: Report,
    ):
        self.graph, self.target, self.options = graph, target, options
        self.run_dir, self.report = run_dir, report
        self.budget = options.budget
        self.constraints = graph.space.constraints
        self.stage_seconds: dict[str, float] = {}
        # Counts only (no table): baselines and ablations use ops the space's table need not hold.
        self.counts = CostModel(target)
        run_dir.mkdir(parents=True, exist_ok=True)

    def prepare(self) -> None:
        """Latency table and constraint check, proxy data, evaluator, the study's storage."""
        options = self.options
        with self.stage("latency table"):
            self.table = latency_table(
                self.graph, self.target, options.table_path, options.show_progress
            )
            self.costs = CostModel(self.target, self.table)
            if self.constraints.limits():
                feasibility = require_feasible(self.graph, self.costs, self.constraints)
                self.report(
                    f"constraints ({format_limits(self.constraints)}): {feasibility.fraction:.0%} of the space "
                    "feasible (predicted)"
                )
        self.data = capped(
            load_proxy_data(self.graph.space.proxy, options.seed), self.budget
        )
        trial_config = TrainConfig(seed=options.seed, device=options.device)
        self.evaluator = Evaluator(self.data, trial_config, options.show_progress)
        self.final_evaluator = Evaluator(
            self.data,
            replace(trial_config, seed=final_seed(options.seed)),
            options.show_progress,
        )
        self.trainings = TrainingCache(
            Path(options.cache_dir or default_cache_dir()),
            self.data,
            self.final_evaluator.config,
            self.target,
        )
        self.url = storage_url(self.run_dir, options.storage)
        self.storage = open_storage(self.url)
        self.lock = SoleWorkerLock(self.url)
        self.study_name = (
            options.study_name or f"{self.graph.space.name}-{options.strategy}"
        )

    def execute(self) -> SearchResult:
        options = self.options
        self.prepare()
        search = None
        if options.strategy in ("hybrid", "darts"):
            with self.stage("DARTS"):
                search = self.shared_darts()
        if options.strategy == "darts":
            trials, pareto, candidates = self._derived(search)
        else:
            with self.stage("trials"):
                trials, pareto, candidates = self._trials(search)
        with self.stage("final training"):
            final = self._shared_final(candidates)
        finalists = tuple(map(Trained.from_json, final["finalists"]))
        ablation = tuple(map(Trained.from_json, final["ablation"]))
        if options.strategy == "darts":
            trials = (self._darts_trial(trials[0], best_by_validation(finalists)),)
        return SearchResult(
            space=self.graph.space.path,
            name=self.graph.space.name,
            strategy=options.strategy,
            sampler=options.sampler if options.strategy in ("optuna", "hybrid") else "",
            budget=asdict(self.budget),
            seed=options.seed,
            command=options.command,
            device=str(torch_device(self.target)),
            constraints=self.constraints.limits(),
            objectives=options.objectives,
            trials=trials,
            pareto=pareto,
            finalists=finalists,
            winner=choose_winner(finalists, ablation, self._may_win, trials),
            baselines=tuple(map(Trained.from_json, final["baselines"])),
            ablation=ablation,
            alpha_history=tuple(search.state.history) if search is not None else (),
            alpha_options=alpha_option_labels(search.alphas) if search else {},
            stage_seconds=self.stage_seconds,
        )

    def shared_darts(self) -> DartsSearch:
        """The study's DARTS search: run (or resumed) here, or loaded from the worker that ran it."""
        config = darts_config(self.options, self.constraints)
        search = supernet_search(
            self.graph,
            self.target,
            self.table,
            self.data,
            config,
            self.run_dir / DARTS_DIR / self.options.strategy,
        )

        def compute() -> str:
            search.run(resume=True, show_progress=self.options.show_progress)
            return encode_state(
                {
                    "model": search.model.state_dict(),
                    "alphas": search.alphas.state_dict(),
                    "history": search.state.history,
                }
            )

        state = decode_state(
            run_once(
                self.storage,
                f"{self.study_name}:darts:{_digest(asdict(config))}",
                compute,
                self.options.heartbeat_seconds,
                lambda: self.report("waiting for the worker running the DARTS stage"),
                self.lock.sole,
            )
        )
        search.model.load_state_dict(state["model"])
        search.alphas.load_state_dict(state["alphas"])
        search.state.history = state["history"]
        return search

    def _shared_final(self, candidates: list[tuple[Arch, int]]) -> dict:
        """Finalists, baselines and ablations trained once per study (by the first worker to get here)."""

        def compute() -> dict:
            finalists = self._finalists(candidates)
            ablated = best_by_validation(finalists)
            groups = {
                "finalists": finalists,
                "baselines": self._train_all(baseline_archs()),
                "ablation": self._train_all(ablations(ablated.arch)),
            }
            measured = iter(self._measured([t for g in groups.values() for t in g]))
            return {
                name: [next(measured).to_json() for _ in group]
                for name, group in groups.items()
            }

        key = _digest(
            [[arch.dumps(), number] for arch, number in candidates]
            + [asdict(self.budget), self.options.seed]
        )
        return run_once(
            self.storage,
            f"{self.study_name}:final:{key}",
            compute,
            self.options.heartbeat_seconds,
            lambda: self.report("waiting for the worker training the finalists"),
            self.lock.sole,
        )

    def stage(self, name: str):
        return _StageTimer(name, self.stage_seconds, self.report)

    def _derived(self, search: DartsSearch):
        """The darts strategy: one trial, the derived architecture (scored once it is retrained)."""
        arch = derive(self.graph, search.alphas, self.constraints, self.costs)
        record = TrialRecord(
            0, "complete", arch, predicted_costs(self.costs.cost(arch))
        )
        return (record,), (0,), [(arch, 0)]

    def _darts_trial(self, record: TrialRecord, retrained: Trained) -> TrialRecord:
        values = {**record.values, "accuracy": retrained.val_acc}
        return replace(record, values=values, seconds=retrained.seconds)

    def _may_win(self, arch: Arch) -> bool:
        """Whether an ablation may be the winner: the space holds it and its predicted cost meets the constraints."""
        if not self.graph.contains(arch):
            return False
        return check_constraints(self.costs.cost(arch), self.constraints).feasible

    def _trials(self, search: DartsSearch | None):
        """The Optuna (or random) stage; returns the trial records, Pareto trial numbers and finalists."""
        options, budget = self.options, self.budget
        kind = "random" if options.strategy == "random" else options.sampler
        study = open_study(
            self.study_name,
            self.storage,
            options.objectives,
            make_sampler(kind, options.seed, budget.trials),
        )
        if self.lock.sole:
            recovered = recover_interrupted(study)
            if recovered:
                self.report(
                    f"re-queued {recovered} trial(s) a stopped run left unfinished"
                )
        if search is not None:
            choices = narrowed_choices(self.graph, search.alphas, options.keep)

            def score(arch: Arch) -> float:
                return self.evaluator.inherited(
                    arch, search.model, budget.finetune_epochs
                ).val_acc

        else:
            choices = list(self.graph.choices)

            def score(arch: Arch) -> float:
                return self.evaluator.from_scratch(arch, budget.trial_epochs).val_acc

        loop = TrialLoop(
            study,
            self.graph,
            choices,
            self.costs,
            self.constraints,
            options.objectives,
            score,
            _TrialReporter(budget.trials, self.report),
            options.heartbeat_seconds,
        )
        loop.run(budget.trials)
        records = tuple(trial_record(t, options.objectives) for t in study.trials)
        front = [t for t in study.best_trials if t.user_attrs.get("trained")]
        if not front:
            raise MixsearchError(
                "no trained trial meets the constraints; relax them or raise the budget"
            )
        pareto = tuple(sorted(t.number for t in front))
        return records, pareto, finalist_candidates(study, records, budget.finalists)

    def _finalists(self, candidates: list[tuple[Arch, int]]) -> list[_Training]:
        finalists = []
        for arch, number in candidates:
            try:
                finalists.append(self._final(f"trial {number}", arch, number))
            except CandidateFailed as error:
                self.report(f"finalist trial {number} failed in retraining: {error}")
        if not finalists:
            raise MixsearchError("every finalist failed when retrained from scratch")
        return finalists

    def _train_all(self, archs: dict[str, Arch]) -> list[_Training]:
        trained = []
        for label, arch in archs.items():
            try:
                trained.append(self._final(label, arch))
            except CandidateFailed as error:
                self.report(f"{label} failed in training: {error}")
        return trained

    def _final(self, label: str, arch: Arch, trial: int | None = None) -> _Training:
        """`arch` trained from scratch with the final budget (or an earlier run's training of it)."""
        epochs = self.budget.final_epochs
        result = self.trainings.get(arch, epochs)
        reused = result is not None
        if result is None:
            result = self.final_evaluator.from_scratch(arch, epochs)
            self.trainings.put(arch, result)
        self.report(
            f"{label}: test {result.test_acc:.2%}, val {result.val_acc:.2%}"
            + (" (trained by an earlier run)" if reused else "")
        )
        return _Training(label, arch, result, trial)

    def _measured(self, trainings: list[_Training]) -> list[Trained]:
        """The trainings with their latency on the target, all measured in the same interleaved rounds, so
        that the winner, baselines and ablations meet the same machine noise."""
        latencies = measure_archs(
            [training.arch for training in trainings],
            self.target,
            progress=self.options.show_progress,
            description="measuring the trained modules",
        ).sum(axis=1)
        measured = []
        for training, latency in zip(trainings, latencies):
            cost = self.counts.cost(training.arch)
            measured.append(
                Trained(
                    label=training.label,
                    arch=training.arch,
                    val_acc=training.result.val_acc,
                    test_acc=training.result.test_acc,
                    latency_ms=float(latency),
                    flops=cost.flops,
                    params=cost.params,
                    seconds=training.result.seconds,
                    trial=training.trial,
                )
            )
        self.report(
            "latency measured (ms): "
            + ", ".join(f"{t.label} {t.latency_ms:.3f}" for t in measured)
        )
        return measured


@dataclass(frozen=True)
class _Training:
    """A final training before its latency is measured (`_Run._measured` makes it a `Trained`)."""

    label: str
    arch: Arch
    result: TrainResult
    trial: int | None = None

    @property
    def val_acc(self) -> float:
        return self.result.val_acc


def darts_config(options: RunOptions, constraints: Constraints) -> DartsConfig:
    """The budget's DARTS search; hybrid's narrows by accuracy alone unless latency is constrained.

    In hybrid, latency is the Optuna stage's second objective. Alphas pulled towards cheap options by the hardware
    loss would narrow away the accurate but slower options its Pareto front needs (with it, no hybrid winner of
    the search quality benchmark used SimAM, the context op of nearly every random and Optuna winner). Under a
    latency constraint the hardware loss stays, so that the narrowed space can meet it.
    """
    budget = options.budget
    config = DartsConfig(
        epochs=budget.darts_epochs,
        warmup_epochs=min(budget.darts_warmup_epochs, budget.darts_epochs - 1),
        max_steps_per_epoch=budget.darts_steps_per_epoch,
        seed=options.seed,
        device=options.device,
    )
    if options.strategy == "hybrid" and constraints.latency_ms is None:
        config = replace(config, latency_weight=0.0)
    return config


def finalist_candidates(
    study: Study, records: tuple[TrialRecord, ...], count: int
) -> list[tuple[Arch, int]]:
    """The `count` most accurate feasible trained trials (lower cost first on a tie), distinct architectures.

    The winner is chosen by retrained accuracy, so finalists are ranked by accuracy alone. The
    Pareto front would drop a trial that a faster one beats by less than a trial score's noise (hybrid's
    fine-tuned scores sit within a point of each other).
    """
    trained = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("trained") and _feasible(t)
    ]
    trained.sort(key=lambda t: (-t.values[0], *t.values[1:], t.number))
    candidates: dict[str, tuple[Arch, int]] = {}
    for trial in trained:
        arch = records[trial.number].arch
        candidates.setdefault(arch.dumps(), (arch, trial.number))
    return list(candidates.values())[:count]


def alpha_option_labels(alphas: ArchParameters) -> dict[str, list[str]]:
    """The option labels of every choice with alphas, for the plots."""
    return {
        choice.key: [str(option_label(option)) for option in choice.options]
        for choice in alphas.choices
    }


def narrowed_choices(
    graph: SpaceGraph, alphas: ArchParameters, keep: int
) -> list[Choice]:
    """Each choice cut to its `keep` most likely options under softmax(alpha), in their original order."""
    probabilities = alphas.probabilities()
    choices = []
    for choice in graph.choices:
        weights = probabilities.get(choice.key)
        if weights is None or len(choice.options) <= keep:
            choices.append(choice)
            continue
        strongest = sorted(range(len(weights)), key=lambda i: -weights[i])[:keep]
        options = tuple(choice.options[i] for i in sorted(strongest))
        choices.append(replace(choice, options=options))
    return choices


class _TrialReporter:
    """One line per finished trial: state, accuracy, predicted latency, feasibility, best so far."""

    def __init__(self, total: int, report: Report):
        self.total, self.report = total, report

    def __call__(self, record: TrialRecord, study) -> None:
        done = sum(map(counted, study.get_trials(deepcopy=False)))
        trained = [
            t.values[0]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("trained") and _feasible(t)
        ]
        best = f"best {max(trained):.2%}" if trained else "no feasible trial yet"
        if record.state == "fail":
            summary = f"failed: {record.reason}"
        else:
            latency = record.values.get("latency_ms", float("nan"))
            accuracy = record.values.get("accuracy", float("nan"))
            state = {"complete": "", "infeasible": " (infeasible, not trained)"}.get(
                record.state, f" ({record.reason})"
            )
            summary = f"acc {accuracy:.2%}, {latency:.3f} ms predicted{state}"
        self.report(f"trial {record.number} [{done}/{self.total}] {summary} | {best}")


def choose_winner(
    finalists: tuple[Trained, ...],
    ablation: tuple[Trained, ...],
    may_win: Callable[[Arch], bool],
    trials: tuple[TrialRecord, ...],
) -> Trained:
    """The best on validation of the finalists and of the ablations `may_win` admits (a finalist on a tie).

    An ablation that wins is labelled with the finalist it varies ("trial 3, without ctx") and with the trial
    that trained the same architecture, if one did.
    """
    ablated = best_by_validation(finalists)
    admitted = [
        replace(
            item,
            label=f"{ablated.label}, {item.label}",
            trial=_trial_of(item.arch, trials),
        )
        for item in ablation
        if may_win(item.arch)
    ]
    return best_by_validation([*finalists, *admitted])


def _trial_of(arch: Arch, trials: tuple[TrialRecord, ...]) -> int | None:
    """The first trial with architecture `arch`, if any."""
    text = arch.dumps()
    return next(
        (t.number for t in trials if t.arch is not None and t.arch.dumps() == text),
        None,
    )


def _feasible(trial) -> bool:
    return all(
        value <= 0
        for key, value in trial.system_attrs.items()
        if key.startswith("constraints:")
    )


class _StageTimer:
    """Adds a stage's wall time to `seconds` and announces the stage."""

    def __init__(self, name: str, seconds: dict[str, float], report: Report):
        self.name, self.seconds, self.report = name, seconds, report

    def __enter__(self):
        self.report(f"== {self.name}")
        self.start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        elapsed = time.perf_counter() - self.start
        self.seconds[self.name] = self.seconds.get(self.name, 0.0) + elapsed


def _digest(value) -> str:
    """A short stable hash of a JSON-able value: names a stage result by everything it depends on."""
    return json_digest(value)[:12]
