"""The deep-hashing engine shared by RAZH and every deep baseline (a library, not a plugin).

Modules: :mod:`.images` (uint8 image tensors, normalisation, augmentation), :mod:`.backbones`
(timm ViTs: MAE ViT-B/16 at paper scale, the conv-stem token encoder at CPU scale, weights and
their provenance), :mod:`.scales` (the two scales' defaults), :mod:`.engine` (the training loop,
encoding, training accuracy) and :mod:`.method` (:class:`DeepHashingMethod`: settings, model
selection on the seen-class validation task, the record).
"""
