"""The deep-hashing engine shared by RAZH and every deep baseline (a library, not a plugin).

Modules: :mod:`.images` (uint8 image tensors, normalisation, augmentation), :mod:`.backbones`
(timm ViTs: MAE ViT-B/16 at paper scale, the conv-stem token encoder at CPU scale, weights and
their provenance), :mod:`.scales` (the two scales' defaults), :mod:`.network` (backbone → pooled
feature → tanh hash layer), :mod:`.engine` (the training loop, encoding, training accuracy),
:mod:`.selection` (which validated epoch to keep), :mod:`.pairs` (the balanced pair weights θ of
the pairwise losses) and :mod:`.method` (:class:`DeepHashingMethod`: settings, the training
phases of model selection on the seen-class validation task, the record).
"""
