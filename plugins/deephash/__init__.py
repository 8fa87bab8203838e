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
    MethodSpec("adsh", "plugins.deephash.adsh:ADSH", family="deep", options="plugins.deephash.options:ADSH_OPTIONS", summary="ADSH: network hashes queries, training-set codes learned as discrete variables (asymmetric)", citation="Q.-Y. Jiang and W.-J. Li, Asymmetric Deep Supervised Hashing, AAAI 2018"),  # noqa: E501
    MethodSpec("amvh", "plugins.deephash.amvh:AMVH", family="deep", options="plugins.deephash.options:AMVH_OPTIONS", summary="AMVH: variational generator of synthetic samples + discriminator-hashing network", citation="J. Lu, V. E. Liong and Y.-P. Tan, Adversarial Multi-Label Variational Hashing, IEEE TIP 2021"),  # noqa: E501
    MethodSpec("csq", "plugins.deephash.csq:CSQ", family="deep", options="plugins.deephash.options:CSQ_OPTIONS", summary="CSQ: BCE of each code to its class's hash centre (Hadamard or Bernoulli) + quantisation", citation="L. Yuan, T. Wang, X. Zhang, F. E. H. Tay, Z. Jie, W. Liu and J. Feng, Central Similarity Quantization for Efficient Image and Video Retrieval, CVPR 2020"),  # noqa: E501
    MethodSpec("dch", "plugins.deephash.dch:DCH", family="deep", options="plugins.deephash.options:DCH_OPTIONS", summary="DCH: weighted Cauchy cross-entropy on relaxed Hamming distances + Cauchy quantisation", citation="Y. Cao, M. Long, B. Liu and J. Wang, Deep Cauchy Hashing for Hamming Space Retrieval, CVPR 2018"),  # noqa: E501
    MethodSpec("ddsh", "plugins.deephash.ddsh:DDSH", family="deep", options="plugins.deephash.options:DDSH_OPTIONS", summary="DDSH: bit-wise discrete codes of sampled columns alternating with feature learning", citation="Q.-Y. Jiang, X. Cui and W.-J. Li, Deep Discrete Supervised Hashing, IEEE TIP 2018"),  # noqa: E501
    MethodSpec("dpsh", "plugins.deephash.dpsh:DPSH", family="deep", options="plugins.deephash.options:DPSH_OPTIONS", summary="DPSH: pairwise-label likelihood of relaxed codes + quantisation", citation="W.-J. Li, S. Wang and W.-C. Kang, Feature Learning based Deep Supervised Hashing with Pairwise Labels, IJCAI 2016"),  # noqa: E501
    MethodSpec("drmh", "plugins.deephash.drmh:DRMH", family="deep", options="plugins.deephash.options:DRMH_OPTIONS", summary="DRMH: detected object regions + positions, self-attention, weighted pairwise loss", citation="L. Peng, J. Qian, Z. Xu, Y. Xin and L. Guo, Multi-Label Hashing for Dependency Relations among Multiple Objectives, IEEE TIP 2023"),  # noqa: E501
    MethodSpec("dsdh", "plugins.deephash.dsdh:DSDH", family="deep", options="plugins.deephash.options:DSDH_OPTIONS", summary="DSDH: pairwise likelihood + linear classification of binary codes (discrete B update)", citation="Q. Li, Z. Sun, R. He and T. Tan, Deep Supervised Discrete Hashing, NeurIPS 2017"),  # noqa: E501
    MethodSpec("dsh", "plugins.deephash.dsh:DSH", family="deep", options="plugins.deephash.options:DSH_OPTIONS", summary="DSH: contrastive loss with margin on relaxed codes + L1 pull towards ±1", citation="H. Liu, R. Wang, S. Shan and X. Chen, Deep Supervised Hashing for Fast Image Retrieval, CVPR 2016"),  # noqa: E501
    MethodSpec("hashnet", "plugins.deephash.hashnet:HashNet", family="deep", options="plugins.deephash.options:HASHNET_OPTIONS", summary="HashNet: weighted pairwise cross-entropy on tanh(βz), β by continuation", citation="Z. Cao, M. Long, J. Wang and P. S. Yu, HashNet: Deep Learning to Hash by Continuation, ICCV 2017"),  # noqa: E501
    MethodSpec("sitnet", "plugins.deephash.sitnet:SitNet", family="deep", options="plugins.deephash.options:SITNET_OPTIONS", zero_shot=True, summary="SitNet: discrete hashing layer + regularized center loss, semantic embedding of class vectors", citation="Y. Guo, G. Ding, J. Han and Y. Gao, SitNet: Discrete Similarity Transfer Network for Zero-shot Hashing, IJCAI 2017"),  # noqa: E501
]
# fmt: on


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return list(_METHODS)
