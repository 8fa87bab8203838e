"""The RAZH network, module by module in the paper's order (§III, Fig. 2).

``RAZHNet`` wraps a timm Vision Transformer (the encoder) and adds what RAZH needs around it:

1. visual embedding P = patch_embed(x) (position embeddings are added when tokens enter the
   encoder, so that K-means and the replacement see appearance only);
2. mixing branch: cosine K-means of P into K' clusters (Eq. 1) → F_m → AEM (attribute vectors →
   F_a, cosine similarity restricted to the image's own class attributes T^(i), top-1 with a
   straight-through estimator, F_i back to d_v) → threshold replacement (Eq. 3) → Z → encoder →
   shared decoder (Eq. 4). The threshold is either absolute (the authors' 0.1 / 0.2, tuned for
   d_a = 300) or ``replace_ratio``: the per-batch quantile of the patches' best similarities
   that replaces that share of the patches. At d_a = 32 the best of an image's own attributes
   clears 0.1 for 96–99.9 % of patches, so an absolute threshold keeps almost nothing of the
   image in Z; a ratio keeps its meaning at any attribute dimension;
3. reconstruction branch: keep (1 − mask ratio)·M random patches, encode them, fill the rest
   with one shared learnable mask token, shared decoder (Eq. 5);
4. hash layer h = tanh(W_h f + o_h) on the pooled encoder feature (Eq. 7) and a classifier on h
   (Eq. 12). In training f is f_x, the encoder's output on the *masked* patches (Eq. 5, 7, and
   the authors' code; ``hash_input="full"`` encodes the whole image instead); at test time the
   whole image, with neither masking nor mixing.

Precision: under bf16 autocast the cosine similarities, their argmax, the threshold test and the
quantile run in fp32 (K-means too, :mod:`.kmeans`), so the discrete choices do not depend on
bf16 rounding.

The ablations are switches of the same network: ``mixing="aem"`` (RAZH), ``"random"`` (RAZH-D:
a second random-selection branch instead), ``None`` (RAZH-A: reconstruction branch only);
``clustering=False`` (RAZH-C: every patch is matched to its own attribute).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .kmeans import cluster_means, cosine_kmeans


@dataclass
class Mixing:
    """What the mixing branch did to a batch; used by the losses and the diagnostics."""

    tokens: torch.Tensor  # Z, (B, M, d_v)
    replaced: torch.Tensor  # (B, M) bool: patch replaced by its cluster's attribute patch
    assignment: torch.Tensor  # (B, M) cluster of each patch
    attribute: torch.Tensor  # (B, K') index of the attribute each cluster was matched to
    similarity: torch.Tensor  # (B, K') cosine similarity of that match
    passed: torch.Tensor  # (B, K') bool: similarity ≥ threshold


@dataclass
class TrainOutputs:
    """Everything one training forward pass produces (the inputs of Eq. 16)."""

    h: torch.Tensor  # (B, bits) hash layer output on the original image
    logits: torch.Tensor  # (B, classes)
    target: torch.Tensor  # (B, M, p²·C) pixel patches
    reconstruction: torch.Tensor | None  # g_x, (B, M, p²·C); None without reconstruction
    masked: torch.Tensor  # (B, M) bool, patches the reconstruction branch did not see
    h_aux: torch.Tensor | None = None  # h^a, from Z (or the second random branch, RAZH-D)
    aux_reconstruction: torch.Tensor | None = None  # g_z
    aux_selected: torch.Tensor | None = None  # (B, M) bool, patches scored in g_z
    mixing: Mixing | None = None


def sincos_2d(grid: tuple[int, int], dim: int) -> torch.Tensor:
    """(gh·gw, dim) fixed 2-D sin-cos position embedding (MAE's): half the channels encode the
    row, half the column, each as sin/cos at frequencies 1/10000^(k/(dim/4))."""
    if dim % 4:
        raise ValueError(f"sin-cos positions need a width divisible by 4, not {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(
        torch.arange(grid[0], dtype=torch.float64),
        torch.arange(grid[1], dtype=torch.float64),
        indexing="ij",
    )
    parts = []
    for axis in (rows.flatten(), cols.flatten()):
        angle = axis[:, None] * omega[None]
        parts += [torch.sin(angle), torch.cos(angle)]
    return torch.cat(parts, dim=1).float()


class AttributeEmbedding(nn.Module):
    """AEM (Eq. 6): text vectors → F_a → A; pick each cluster's most similar own attribute.

    ``class_attributes`` (C, E) bool is T^(i) for every seen class. The choice is an argmax,
    which has no gradient; a straight-through estimator (forward: the one-hot choice; backward:
    the gradient of a softmax over the same similarities at ``temperature``) lets F_m, F_a and
    the patch embedding learn the alignment. ``straight_through=False`` gives the plain argmax.
    """

    def __init__(
        self,
        word_vectors: torch.Tensor,
        class_attributes: torch.Tensor,
        visual_dim: int,
        attribute_dim: int,
        temperature: float = 0.1,
        straight_through: bool = True,
    ):
        super().__init__()
        if class_attributes.shape[1] != word_vectors.shape[0]:
            raise ValueError("class_attributes and word_vectors disagree on the attribute count")
        self.register_buffer("word_vectors", word_vectors.float())
        self.register_buffer("class_attributes", class_attributes.bool())
        self.to_attribute_space = nn.Linear(visual_dim, attribute_dim)  # F_m
        self.embed_attributes = nn.Linear(word_vectors.shape[1], attribute_dim)  # F_a
        self.to_visual_space = nn.Linear(attribute_dim, visual_dim)  # F_i
        self.temperature = float(temperature)
        self.straight_through = bool(straight_through)

    def forward(
        self, centres: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attribute patches P_a (B, K', d_v), chosen attribute (B, K'), its similarity (B, K')."""
        # The choice (F_m, F_a, cosine, argmax) runs in fp32 even under bf16 autocast: these are
        # small matrices, and a discrete choice should not flip with bf16 rounding.
        with torch.autocast(centres.device.type, enabled=False):
            mapped = self.to_attribute_space(centres.float())  # L = F_m(J)
            attributes = self.embed_attributes(self.word_vectors.float())  # A = F_a(w2v(T))
            similarity = F.normalize(mapped, dim=-1) @ F.normalize(attributes, dim=-1).T
            allowed = self.class_attributes[labels][:, None, :]  # T^(i) of each image
            similarity = similarity.masked_fill(~allowed, float("-inf"))
            best_similarity, best = similarity.max(dim=-1)
            choice = F.one_hot(best, attributes.shape[0]).to(similarity.dtype)
            if self.straight_through and self.training:
                soft = torch.softmax(similarity / self.temperature, dim=-1)
                choice = choice + (soft - soft.detach())  # exactly 0 forward: stays one-hot
            selected = choice @ attributes  # A^(s)
        return self.to_visual_space(selected), best, best_similarity


class RAZHNet(nn.Module):
    """A timm ViT encoder with RAZH's branches, decoder, hash layer and classifier."""

    def __init__(
        self,
        encoder: nn.Module,
        bits: int,
        num_classes: int,
        *,
        aem: AttributeEmbedding | None = None,
        mixing: str | None = "aem",
        clustering: bool = True,
        clusters: int = 9,
        kmeans_iterations: int = 10,
        threshold: float | None = 0.1,
        replace_ratio: float | None = None,
        mask_ratio: float = 0.5,
        decoder_dim: int = 512,
        decoder_depth: int = 8,
        decoder_heads: int = 16,
        pool: str = "mean",
        hash_input: str = "masked",
        norm_pix_loss: bool = False,
        decoder_pos_embed: str = "learned",
    ):
        super().__init__()
        from timm.models.vision_transformer import Block

        if mixing not in ("aem", "random", None):
            raise ValueError(f"mixing must be 'aem', 'random' or None, not {mixing!r}")
        if mixing == "aem" and aem is None:
            raise ValueError("mixing='aem' needs an AttributeEmbedding")
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', not {pool!r}")
        if pool == "cls" and getattr(encoder, "cls_token", None) is None:
            raise ValueError("pool='cls' needs a ViT with a class token")
        if hash_input not in ("full", "masked"):
            raise ValueError(f"hash_input must be 'full' or 'masked', not {hash_input!r}")
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), not {mask_ratio}")
        if (threshold is None) == (replace_ratio is None):
            raise ValueError("give exactly one of threshold and replace_ratio")
        if replace_ratio is not None and not 0.0 <= replace_ratio <= 1.0:
            raise ValueError(f"replace_ratio must be in [0, 1], not {replace_ratio}")
        self.encoder = encoder
        patch_embed = encoder.patch_embed
        self.num_patches = int(patch_embed.num_patches)
        self.patch_size = tuple(int(s) for s in patch_embed.patch_size)
        self.grid_size = tuple(int(s) for s in patch_embed.grid_size)
        self.in_chans = int(getattr(patch_embed, "in_chans", None) or patch_embed.proj.in_channels)
        if mixing == "aem" and clustering and not 1 <= clusters <= self.num_patches:
            raise ValueError(f"clusters must be in [1, {self.num_patches}], not {clusters}")
        visual_dim = int(encoder.embed_dim)
        self.mixing = mixing
        self.clustering = clustering
        self.clusters = int(clusters)
        self.kmeans_iterations = int(kmeans_iterations)
        self.threshold = None if threshold is None else float(threshold)
        self.replace_ratio = None if replace_ratio is None else float(replace_ratio)
        self.bits = int(bits)
        self.mask_ratio = float(mask_ratio)
        self.pool = pool
        self.hash_input = hash_input
        self.norm_pix_loss = norm_pix_loss
        self.aem = aem if mixing == "aem" else None

        self.hash_layer = nn.Linear(visual_dim, bits)  # W_h, o_h (Eq. 7)
        self.classifier = nn.Linear(bits, num_classes)  # W̃, õ (Eq. 12)

        # The shared MAE-style decoder (both branches use it).
        self.decoder_embed = nn.Linear(visual_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, decoder_dim))
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        pixels = self.patch_size[0] * self.patch_size[1] * self.in_chans
        self.decoder_pred = nn.Linear(decoder_dim, pixels)
        nn.init.normal_(self.mask_token, std=0.02)
        if decoder_pos_embed == "sincos":  # MAE's fixed 2-D sin-cos positions, not learned
            self.decoder_pos_embed.data.copy_(sincos_2d(self.grid_size, decoder_dim)[None])
            self.decoder_pos_embed.requires_grad_(False)
        elif decoder_pos_embed == "learned":
            nn.init.trunc_normal_(self.decoder_pos_embed, std=0.02)
        else:
            raise ValueError(
                f"decoder_pos_embed must be 'learned' or 'sincos', not {decoder_pos_embed!r}"
            )

    # ------------------------------------------------------------------ encoder pieces

    def patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """P: (B, M, d_v) patch embeddings, without position embeddings."""
        tokens = self.encoder.patch_embed(images)
        return tokens.flatten(1, 2) if tokens.ndim == 4 else tokens

    def _patch_positions(self) -> torch.Tensor | None:
        pos = self.encoder.pos_embed
        if pos is None:
            return None
        return pos if self.encoder.no_embed_class else pos[:, self.encoder.num_prefix_tokens :]

    def encode_tokens(self, tokens: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Run the ViT on patch tokens (B, m, d_v) at positions ``keep`` (B, m) (all if None).

        Returns the encoder's output sequence, prefix (class/register) tokens first.
        """
        encoder = self.encoder
        positions = self._patch_positions()
        if positions is not None:
            positions = positions.expand(tokens.shape[0], -1, -1)
            if keep is not None:
                positions = torch.gather(
                    positions, 1, keep[..., None].expand(-1, -1, positions.shape[-1])
                )
            tokens = tokens + positions
        prefix = []
        if encoder.cls_token is not None:
            prefix.append(encoder.cls_token.expand(tokens.shape[0], -1, -1))
        if getattr(encoder, "reg_token", None) is not None:
            prefix.append(encoder.reg_token.expand(tokens.shape[0], -1, -1))
        if prefix:
            prefix_tokens = torch.cat(prefix, dim=1)
            if encoder.pos_embed is not None and not encoder.no_embed_class:
                prefix_tokens = prefix_tokens + encoder.pos_embed[:, : prefix_tokens.shape[1]]
            tokens = torch.cat([prefix_tokens, tokens], dim=1)
        x = encoder.pos_drop(tokens)
        x = encoder.norm_pre(x)
        for block in encoder.blocks:
            x = block(x)
        return encoder.norm(x)

    def pooled(self, sequence: torch.Tensor) -> torch.Tensor:
        """The feature f the hash layer reads: mean of all tokens (authors' code) or CLS."""
        return sequence[:, 0] if self.pool == "cls" else sequence.mean(dim=1)

    def hash_from_sequence(self, sequence: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.hash_layer(self.pooled(sequence)))  # Eq. 7

    @torch.no_grad()
    def hash_images(self, images: torch.Tensor) -> torch.Tensor:
        """Test-time h for whole images: no masking, no mixing (b = sgn(h), Eq. 8)."""
        return self.hash_from_sequence(self.encode_tokens(self.patch_tokens(images)))

    # ------------------------------------------------------------------ decoder

    def decode(self, sequence: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel patches (B, M, p²·C) from encoder output; dropped positions get the mask token."""
        patches = sequence[:, self.encoder.num_prefix_tokens :]
        x = self.decoder_embed(patches)
        if keep is not None:
            full = self.mask_token.to(x.dtype).expand(x.shape[0], self.num_patches, -1).clone()
            full = full.scatter(1, keep[..., None].expand(-1, -1, x.shape[-1]), x)
            x = full
        x = x + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, M, p²·C) in the patch embedding's order (row-major grid)."""
        batch, channels, _, _ = images.shape
        (gh, gw), (ph, pw) = self.grid_size, self.patch_size
        x = images.reshape(batch, channels, gh, ph, gw, pw)
        x = x.permute(0, 2, 4, 3, 5, 1).reshape(batch, gh * gw, ph * pw * channels)
        if self.norm_pix_loss:
            mean = x.mean(dim=-1, keepdim=True)
            var = x.var(dim=-1, keepdim=True)
            x = (x - mean) / (var + 1e-6).sqrt()
        return x

    # ------------------------------------------------------------------ branches

    def random_keep(
        self, batch: int, generator: torch.Generator | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the kept patches (B, M_m), sorted, and the dropped mask (B, M) bool."""
        keep_count = max(1, round(self.num_patches * (1.0 - self.mask_ratio)))
        noise = torch.rand(batch, self.num_patches, generator=generator).to(device)
        keep = noise.argsort(dim=1)[:, :keep_count].sort(dim=1).values
        dropped = torch.ones(batch, self.num_patches, dtype=torch.bool, device=device)
        dropped.scatter_(1, keep, False)
        return keep, dropped

    def reconstruction_branch(
        self, tokens: torch.Tensor, generator: torch.Generator | None, decode: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Eq. 5: encoder output f_x, reconstruction g_x (None unless ``decode``) and the
        dropped-patch mask."""
        keep, dropped = self.random_keep(tokens.shape[0], generator, tokens.device)
        kept = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        sequence = self.encode_tokens(kept, keep)
        return sequence, (self.decode(sequence, keep) if decode else None), dropped

    def mix(
        self, tokens: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None
    ) -> Mixing:
        """Eq. 1–3: cluster, match each cluster to an own-class attribute, replace → Z."""
        if self.aem is None:
            raise RuntimeError("this network has no attribute embedding module")
        batch, count, _ = tokens.shape
        if self.clustering:
            assignment = cosine_kmeans(
                tokens.detach(), self.clusters, self.kmeans_iterations, generator
            )
            with torch.autocast(tokens.device.type, enabled=False):
                centres = cluster_means(tokens.float(), assignment, self.clusters)  # J (Eq. 1)
        else:  # RAZH-C: each patch is its own cluster
            assignment = torch.arange(count, device=tokens.device).expand(batch, -1)
            centres = tokens
        attribute_patches, attribute, similarity = self.aem(centres, labels)  # P_a, Eq. 2/6
        passed = similarity >= self.replacement_threshold(similarity, assignment)
        index = assignment[..., None].expand(-1, -1, tokens.shape[-1])
        per_patch = torch.gather(attribute_patches.to(tokens.dtype), 1, index)
        replaced = torch.gather(passed, 1, assignment)
        mixed = torch.where(replaced[..., None], per_patch, tokens)  # Eq. 3
        return Mixing(mixed, replaced, assignment, attribute, similarity, passed)

    def replacement_threshold(
        self, similarity: torch.Tensor, assignment: torch.Tensor
    ) -> float | torch.Tensor:
        """Eq. 3's threshold: the absolute one, or the quantile of the patches' best similarities
        (each patch carries its cluster's) above which ``replace_ratio`` of them lie."""
        if self.replace_ratio is None:
            return self.threshold
        if self.replace_ratio <= 0.0:
            return float("inf")
        per_patch = torch.gather(similarity.float(), 1, assignment).flatten()
        return torch.quantile(per_patch, 1.0 - self.replace_ratio)

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator | None = None,
        reconstruct: bool = True,
    ) -> TrainOutputs:
        """One training pass: both branches, the hash codes and the class scores.

        ``reconstruct=False`` (Table IV's subsets without L_r + L_hal) skips the decoder and the
        mixing branch, whose outputs no loss term would use; h is computed as always."""
        tokens = self.patch_tokens(images)
        masked_sequence, reconstruction, masked = self.reconstruction_branch(
            tokens, generator, decode=reconstruct
        )
        if self.hash_input == "masked":  # the paper's f_x (Eq. 5, 7)
            h = self.hash_from_sequence(masked_sequence)
        else:  # the whole original image, as at test time
            h = self.hash_from_sequence(self.encode_tokens(tokens))
        outputs = TrainOutputs(
            h=h,
            logits=self.classifier(h),
            target=self.patchify(images),
            reconstruction=reconstruction,
            masked=masked,
        )
        if not reconstruct:
            return outputs
        if self.mixing == "aem":
            mixing = self.mix(tokens, labels, generator)
            sequence = self.encode_tokens(mixing.tokens)  # f_z
            outputs.h_aux = self.hash_from_sequence(sequence)
            outputs.aux_reconstruction = self.decode(sequence)  # g_z
            outputs.aux_selected = mixing.replaced
            outputs.mixing = mixing
        elif self.mixing == "random":  # RAZH-D: a second random-selection branch
            sequence, outputs.aux_reconstruction, outputs.aux_selected = self.reconstruction_branch(
                tokens, generator
            )
            outputs.h_aux = self.hash_from_sequence(sequence)
        return outputs
