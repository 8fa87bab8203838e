"""Features: image extractors and text encoders, shared by the linear and deep families.

Modules: :mod:`.image_ops` (channel and resize helpers on uint8 arrays), :mod:`.timm_models`
(timm models and safe weight loading), :mod:`.image_extractors` (``pixels`` and frozen ``timm``
features), :mod:`.cnn_extractor` (the seen-class CNN), :mod:`.text_encoders` (MiniLM, word-vector
files, hashing), :mod:`.class_semantics` (one vector per class from attributes or names).
Importing any of them imports neither torch nor timm.
"""
