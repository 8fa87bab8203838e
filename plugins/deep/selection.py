"""Model selection on the seen-class validation task: which epoch's network to keep.

The engine (:func:`plugins.deep.engine.train`) hands every validated epoch's score, network and
eligibility to an :class:`EpochSelector`; the selector keeps the states it may still choose and
says which epoch won, and how many evaluations have passed without a gain (for ``patience``).
"""

from __future__ import annotations

import torch
from torch import nn


class EpochSelector:
    """Chooses the epoch whose validation mAP, averaged over ``window`` evaluations centred on
    it, is best among the *eligible* epochs, and keeps that epoch's network state.

    Validation tasks on a few pseudo-unseen classes are noisy (±4 points between neighbouring
    epochs on digits); a window of 3 keeps a single lucky evaluation from being chosen. At the
    ends of training the window is truncated. An epoch is eligible once the network has fit its
    training classes (``add(..., eligible=...)``; the engine's ``selection_min_accuracy``): on
    digits an untrained network's codes already score 30 % on the validation task at 48 bits,
    so an epoch before the seen classes are learnt could otherwise win on noise, and such a
    network transfers worse (48 bits: 20 % test mAP after 10 epochs, 44 % after 20). When no
    epoch becomes eligible, the best of all is chosen (``fell_back``). ``stale`` counts eligible
    evaluations since the best.
    """

    def __init__(self, window: int = 1):
        if window < 1 or window % 2 == 0:
            raise ValueError(f"the selection window must be an odd number ≥ 1, not {window}")
        self.half = window // 2
        self.scores: list[tuple[int, float, bool]] = []
        self.states: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.fell_back = False
        self.stale = 0
        self._any: tuple[float, int, dict[str, torch.Tensor]] | None = None  # ignoring eligibility
        self._decided = 0  # evaluations whose window is complete

    def add(self, epoch: int, score: float, network: nn.Module, eligible: bool = True) -> None:
        self.scores.append((epoch, score, bool(eligible)))
        state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
        self.states = [*self.states[-self.half :], (epoch, state)]
        while self._decided + self.half < len(self.scores):
            self._decide(self._decided)

    def finish(self) -> None:
        while self._decided < len(self.scores):
            self._decide(self._decided)
        if self.best_state is None and self._any is not None:
            self.best_score, self.best_epoch, self.best_state = self._any
            self.fell_back = True

    def _decide(self, index: int) -> None:
        window = self.scores[max(0, index - self.half) : index + self.half + 1]
        smoothed = sum(score for _, score, _ in window) / len(window)
        epoch, _, eligible = self.scores[index]
        state = next(state for e, state in self.states if e == epoch)
        if self._any is None or smoothed > self._any[0]:
            self._any = (smoothed, epoch, state)
        self._decided += 1
        if not eligible:
            return
        if self.best_score is None or smoothed > self.best_score:
            self.best_score, self.best_epoch, self.best_state = smoothed, epoch, state
            self.stale = 0
        else:
            self.stale += 1
