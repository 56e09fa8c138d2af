"""The search stage: from a compiled space to a `SearchResult` (`run.run_search`).

`run` runs a strategy's stages in order; `strategy` is the interface every strategy implements and
`strategies/` holds them (hybrid, optuna, random, darts). `darts/` is the DARTS supernet search (the weight loop,
the architect's alpha step, derivation, expected costs); `engine/` what runs the stages (the run's context and
folder, the trials and final stages, evaluation, pools, the trainings cache, workers, the tracker); `outcome/`
the result types and the verdicts, which the report reads without torch or Optuna.
"""
