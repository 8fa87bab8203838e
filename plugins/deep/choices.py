"""The deep engine's named choices, in a module without torch.

``scales.ENGINE_OPTIONS`` declares options with these choices; keeping them here lets a deep
method's options be checked (``MethodSpec.options``) before torch is imported, so a bad value
is one line within a second instead of after torch's import.
"""

STEMS = ("patch", "conv")
AUGMENTATIONS = ("none", "crop", "crop+flip", "rrc+flip", "flip")
