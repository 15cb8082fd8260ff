"""Analyses built on fitted models: what an analyst asks of a fit.

- :mod:`.reliability` (and :mod:`.cutoffs`, the published cut-offs as data) — alpha,
  omega, CR, AVE, HTMT, Fornell-Larcker, common-method checks;
- :mod:`.effects` — indirect and total effects with bootstrap CIs;
- :mod:`.moderation` — latent and observed moderation;
- :mod:`.invariance` — the invariance ladder and path equality across groups;
- :mod:`.compare` — competing models;
- :mod:`.provenance` — what every result carries: its fits' warnings and rows used/read;
- :mod:`.power` — Monte Carlo power and sample-size planning.

Imports the engine, the survey layer, the model library and the ground modules; never
the reports or the CLI.
"""
