"""The estimation engine, in lavaan's pipeline order.

parameter table (:mod:`asymtrust.library.partable`) -> :mod:`.data` (the model's columns,
groups, rows dropped by reason) -> :mod:`.samplestats` (moments per group, missing-data
patterns) -> :mod:`.compile` (the model built once: :mod:`.model`'s RAM matrices,
constraints, start-value plan) -> :mod:`.estimators` (the estimator families: objective,
information, scores, tests, baseline and saturated models; ML and FIML) ->
:mod:`.estimate` (the optimiser) -> :mod:`.vcov` (standard errors) -> :mod:`.indices` /
:mod:`.robust` (tests and fit measures) -> :mod:`.standardize` and :mod:`.defined` (``:=``)
-> :mod:`.results` (``FitResult``). :mod:`.fit` drives the steps; :mod:`.refit` and
:mod:`.resample` are the one resampling service (bootstrap, Monte Carlo).

Takes data frames or moments, never files. Imports the model library and the ground
modules; never the survey layer, the analyses, the reports or the CLI.
"""
