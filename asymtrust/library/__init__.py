"""The model library: what a model *is*, before any data.

- :mod:`.syntax` — lavaan model syntax, parsed with lavaan's rules;
- :mod:`.partable` — the parameter table (lavaan's ``parTable``) with ``sem()``/``cfa()``
  defaults, ``group.equal``, labels and constraints: the spine every later step reads;
- :mod:`.specs` — the bundled models (Fig. 1 and its rivals) and ``.lav``/``.toml`` spec files;
- :mod:`.codebook` — the questionnaire the models assume.

Imports only the ground modules (:mod:`asymtrust.exceptions`, ``_paths``, ...); every
other layer may import this one.
"""
