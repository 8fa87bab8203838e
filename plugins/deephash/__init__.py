"""The paper's deep hashing baselines, each on the shared deep-hashing engine (plugins/deep).

Registered through the ``zshbench`` entry-point group like any third-party plugin. One module
per method holds its loss (and its code update or sampling where the paper has one); the
backbone, training loop, model selection and record are the engine's. Importing this package
imports neither torch nor timm, so ``zshbench list`` stays fast.
"""

from __future__ import annotations

from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

# One line per method, sorted by name.
# fmt: off
_METHODS = [
    MethodSpec("adsh", "plugins.deephash.adsh:ADSH", family="deep", summary="ADSH: network hashes queries, training-set codes learned as discrete variables (asymmetric)", citation="Q.-Y. Jiang and W.-J. Li, Asymmetric Deep Supervised Hashing, AAAI 2018"),  # noqa: E501
    MethodSpec("amvh", "plugins.deephash.amvh:AMVH", family="deep", summary="AMVH: variational generator of synthetic samples + discriminator-hashing network", citation="J. Lu, V. E. Liong and Y.-P. Tan, Adversarial Multi-Label Variational Hashing, IEEE TIP 2021"),  # noqa: E501
    MethodSpec("ddsh", "plugins.deephash.ddsh:DDSH", family="deep", summary="DDSH: bit-wise discrete codes of sampled columns alternating with feature learning", citation="Q.-Y. Jiang, X. Cui and W.-J. Li, Deep Discrete Supervised Hashing, IEEE TIP 2018"),  # noqa: E501
    MethodSpec("drmh", "plugins.deephash.drmh:DRMH", family="deep", summary="DRMH: detected object regions + positions, self-attention, weighted pairwise loss", citation="L. Peng, J. Qian, Z. Xu, Y. Xin and L. Guo, Multi-Label Hashing for Dependency Relations among Multiple Objectives, IEEE TIP 2023"),  # noqa: E501
    MethodSpec("sitnet", "plugins.deephash.sitnet:SitNet", family="deep", zero_shot=True, summary="SitNet: discrete hashing layer + regularized center loss, semantic embedding of class vectors", citation="Y. Guo, G. Ding, J. Han and Y. Gao, SitNet: Discrete Similarity Transfer Network for Zero-shot Hashing, IJCAI 2017"),  # noqa: E501
]
# fmt: on


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return list(_METHODS)
