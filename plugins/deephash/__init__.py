"""The paper's deep baselines (and the two a reviewer asks for today) on the shared engine.

Each method is one module, in which its docstring cites the paper and its equations and names
every choice the paper leaves open; :mod:`.common` holds what they share (pair labels, balanced
pair weights, the per-image code memory, the output layers, the base class). Everything else —
backbone, optimisation, model selection, records — is :mod:`plugins.deep`'s.

Importing this package imports neither torch nor timm, so ``zshbench list`` stays fast.
"""

from __future__ import annotations

from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

# One line per method, sorted by name: (name, "module:class", summary, citation).
# fmt: off
_METHODS = (
    ("csq", "csq:CSQ", "CSQ: BCE of each code to its class's hash centre (Hadamard or Bernoulli) + quantisation", "L. Yuan, T. Wang, X. Zhang, F. E. H. Tay, Z. Jie, W. Liu, J. Feng, Central Similarity Quantization for Efficient Image and Video Retrieval, CVPR 2020"),  # noqa: E501
    ("dch", "dch:DCH", "DCH: weighted Cauchy cross-entropy on relaxed Hamming distances + Cauchy quantisation", "Y. Cao, M. Long, B. Liu, J. Wang, Deep Cauchy Hashing for Hamming Space Retrieval, CVPR 2018"),  # noqa: E501
    ("dpsh", "dpsh:DPSH", "DPSH: pairwise-label likelihood of relaxed codes + quantisation", "W.-J. Li, S. Wang, W.-C. Kang, Feature Learning based Deep Supervised Hashing with Pairwise Labels, IJCAI 2016"),  # noqa: E501
    ("dsdh", "dsdh:DSDH", "DSDH: pairwise likelihood + linear classification of binary codes (discrete B update)", "Q. Li, Z. Sun, R. He, T. Tan, Deep Supervised Discrete Hashing, NeurIPS 2017"),  # noqa: E501
    ("dsh", "dsh:DSH", "DSH: contrastive loss with margin on relaxed codes + L1 pull towards ±1", "H. Liu, R. Wang, S. Shan, X. Chen, Deep Supervised Hashing for Fast Image Retrieval, CVPR 2016"),  # noqa: E501
    ("hashnet", "hashnet:HashNet", "HashNet: weighted pairwise cross-entropy on tanh(βz), β by continuation", "Z. Cao, M. Long, J. Wang, P. S. Yu, HashNet: Deep Learning to Hash by Continuation, ICCV 2017"),  # noqa: E501
)
# fmt: on


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            name,
            f"plugins.deephash.{target}",
            summary=summary,
            family="deep",
            citation=citation,
        )
        for name, target, summary, citation in _METHODS
    ]
