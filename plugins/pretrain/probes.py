"""How good a frozen backbone's features are: a k-NN and a linear-probe classification accuracy.

Both are the standard read-outs of self-supervised pre-training (MAE reports the linear probe,
DINO the weighted k-NN): train on the features of the training images, score on held-out val
images of the same classes. Neither changes the backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_accuracy(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 256,
) -> float:
    """Weighted k-NN on cosine similarity: each of a query's ``k`` nearest training features
    votes for its class with weight exp(similarity / ``temperature``); the top class wins."""
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    k = min(k, len(train))
    train = F.normalize(train.float(), dim=1)
    correct = 0
    for start in range(0, len(test), chunk):
        queries = F.normalize(test[start : start + chunk].float(), dim=1)
        similarity, index = (queries @ train.T).topk(k, dim=1)
        votes = torch.zeros(len(queries), classes)
        votes.scatter_add_(1, train_labels[index], (similarity / temperature).exp())
        correct += int((votes.argmax(1) == test_labels[start : start + chunk]).sum())
    return correct / max(1, len(test))


def linear_probe_accuracy(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    weight_decay: float = 1e-4,
    iterations: int = 100,
) -> float:
    """Multinomial logistic regression on standardised features (L-BFGS, full batch, L2
    ``weight_decay``), scored on ``test``."""
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    x, x_test = (train.float() - mean) / std, (test.float() - mean) / std
    layer = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.LBFGS(
        layer.parameters(), max_iter=iterations, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(x), train_labels) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float((layer(x_test).argmax(1) == test_labels).float().mean())
