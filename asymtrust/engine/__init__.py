"""The estimation engine, in lavaan's pipeline order.

parameter table (:mod:`asymtrust.library.partable`) -> :mod:`.model` (RAM matrices,
implied moments, Jacobians) -> :mod:`.samplestats` (moments per group, missing-data
patterns) -> :mod:`.estimate` (objectives, start values, optimiser) -> :mod:`.vcov`
(information, case-wise scores, SEs) -> :mod:`.indices` / :mod:`.robust` (tests and fit
measures) -> :mod:`.standardize` -> :mod:`.results` (``FitResult``); :mod:`.fit` drives
the steps, :mod:`.resample` is the one resampling service (bootstrap, Monte Carlo).

Takes data frames or moments, never files. Imports the model library and the ground
modules; never the survey layer, the analyses, the reports or the CLI.
"""
