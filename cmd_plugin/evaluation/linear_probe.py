"""A fast linear probe on cached frozen features."""
import torch
import torch.nn.functional as F
from torch import nn

#: L2 penalty of the probe's weights.
PROBE_WEIGHT_DECAY = 1e-3


def linear_probe_predict(train_x: torch.Tensor, train_y: torch.Tensor,
                         eval_x: torch.Tensor, num_classes: int,
                         weight_decay: float = PROBE_WEIGHT_DECAY
                         ) -> torch.Tensor:
    """Predictions of a logistic regression fitted on frozen features.

    Features are standardised with the train mean and std; the classifier is
    fitted on the full train set by L-BFGS on cross-entropy plus
    ``weight_decay / 2 * ||W||^2`` (deterministic: zero init, full batch).
    A fast probe on cached features, not the augmented SGD linear
    classifier of ``configs/benchmarks/linear_*``.

    Args:
        train_x (Tensor): ``(N, C)`` train features.
        train_y (Tensor): ``(N,)`` train labels.
        eval_x (Tensor): ``(M, C)`` evaluation features.
        num_classes (int): Number of classes.
        weight_decay (float): L2 penalty on the weights.

    Returns:
        Tensor: ``(M,)`` predicted labels.
    """
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    train_x, eval_x = (train_x - mean) / std, (eval_x - mean) / std
    classifier = nn.Linear(train_x.shape[1], num_classes)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.LBFGS(classifier.parameters(), max_iter=300,
                                  line_search_fn='strong_wolfe')

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(classifier(train_x), train_y)
        loss = loss + weight_decay / 2 * classifier.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return classifier(eval_x).argmax(dim=1)
