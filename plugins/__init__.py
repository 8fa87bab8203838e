"""zshbench's first-party plugins, one folder per family.

Each registers through the ``zshbench`` entry-point group, exactly as a third-party plugin does
(see ``pyproject.toml``); the core (``zshbench/``) never imports anything here.

* :mod:`plugins.features`: what turns images and class names into vectors — the ``pixels``,
  ``timm`` and ``cnn`` image extractors, timm model and weight loading, and the text encoders
  and class-semantic vectors. Shared by both method families below.
* :mod:`plugins.linear`: hashing of fixed feature vectors — the unsupervised (LSH, SH, ITQ),
  supervised (SDH, FSSH, SCDH) and zero-shot (TSK, AH, OPZH, ASZH, SASH) linear methods, one
  module each, with the solvers they share in :mod:`plugins.linear.common`.
* :mod:`plugins.deep`: the deep-hashing engine (a library, no methods): backbones, training loop,
  model selection, the record.
* :mod:`plugins.deephash`: the deep baselines on that engine, one module each.
* :mod:`plugins.razh`: RAZH and its ablations on that engine.

Imports flow one way: ``features`` ← ``linear``; ``features`` ← ``deep`` ← ``deephash``, ``razh``.
``tests/test_import_layers.py`` guards it.
"""
