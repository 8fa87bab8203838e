"""The smallest RAZH settings the tests train with: fast on two CPU cores, still the real model."""

# A ViT of 16-d width and one block on digits' 8×8 images (2×2 patches), one epoch, no warm-up.
TINY = {
    "epochs": 1,
    "pretrain_epochs": 0,
    "batch_size": 64,
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
    "decoder_dim": 8,
    "decoder_depth": 1,
    "decoder_heads": 2,
    "attribute_dim": 8,
    "eval_every": 1,
}
