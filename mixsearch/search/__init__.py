"""The search stage: from a compiled space to a `SearchResult` (`run.run_search`).

`context` (what every stage reads), `darts` / `derive` / `expected_cost` (the DARTS supernet search), `trials` and
`study` (the Optuna or random study), `evaluate` (training candidates), `final` (finalists, baselines, ablations,
the winner), `trainings` (the cache of from-scratch trainings), `workers` (many workers on one study), `result`.
"""
