"""DINO-style projection: MLP, bottleneck, L2-normalised prototypes."""
from typing import List

import torch
import torch.nn.functional as F
from torch import nn


#: MLP normalisations: none (DINO's ViT head) or BatchNorm after every
#: hidden linear layer (DINO's ``use_bn_in_head``).
MLP_NORMS = ('none', 'bn')


def build_mlp(in_channels: int, hidden_channels: int, out_channels: int,
              num_layers: int, norm: str = 'none') -> nn.Sequential:
    """``num_layers`` linear layers with GELU between them, and with
    ``norm='bn'`` a BatchNorm after every hidden one."""
    dims = [in_channels] + [hidden_channels] * (num_layers - 1)
    layers = []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers.append(nn.Linear(d_in, d_out))
        if norm == 'bn':
            layers.append(nn.BatchNorm1d(d_out))
        layers.append(nn.GELU())
    layers.append(nn.Linear(dims[-1], out_channels))
    mlp = nn.Sequential(*layers)
    for m in mlp:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
    return mlp


class _ZeroGradient(torch.autograd.Function):
    """The identity whose gradient is zero: the input stays in the graph."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(grad)


class CMDProjector(nn.Module):
    """Maps image embeddings and region tokens to prototype logits.

    Image and region outputs share one prototype layer, so both are
    distributions over the same ``K`` prototypes; the MLP before it is
    shared too unless ``share_mlp=False``. The prototype layer is
    weight-normalised with its norm fixed to 1 (both the bottleneck feature
    and every prototype are L2-normalised), as DINO's last layer.

    Args:
        in_channels (int): Width ``C`` of the embeddings.
        hidden_channels (int): MLP hidden width.
        bottleneck_channels (int): Width ``D`` before the prototypes.
        num_prototypes (int): ``K``.
        num_layers (int): Linear layers in the MLP (>= 1).
        share_mlp (bool): Whether regions use the image MLP.
        mlp_norm (str): ``'none'`` or ``'bn'``: BatchNorm after every hidden
            linear layer, over all the tokens of one call (it removes the
            component that all images share, which dominates the features of
            a freshly initialised network). Defaults to ``'none'``.
    """

    def __init__(self, in_channels: int, hidden_channels: int,
                 bottleneck_channels: int, num_prototypes: int,
                 num_layers: int, share_mlp: bool,
                 mlp_norm: str = 'none') -> None:
        super().__init__()
        self.mlp = build_mlp(in_channels, hidden_channels,
                             bottleneck_channels, num_layers, mlp_norm)
        self.region_mlp = None if share_mlp else build_mlp(
            in_channels, hidden_channels, bottleneck_channels, num_layers,
            mlp_norm)
        prototypes = torch.empty(num_prototypes, bottleneck_channels)
        nn.init.trunc_normal_(prototypes, std=0.02)
        self.prototypes = nn.Parameter(prototypes)
        # Set by FreezePrototypesHook: while True the prototypes take part in
        # the forward pass but receive a zero gradient (so that DDP sees
        # every parameter used and needs no unused-parameter search), and
        # drop_frozen_gradients(), which the hook runs before every
        # optimiser step, removes it (so the optimiser skips them: no
        # update, no weight decay, no optimiser state).
        self.freeze_prototypes = False

    def forward(self, x: torch.Tensor, regions: bool = False) -> torch.Tensor:
        """Prototype logits of ``(..., C)`` inputs.

        Args:
            x (Tensor): ``(..., C)`` image embeddings or region tokens.
            regions (bool): Use the region MLP (when not shared).

        Returns:
            Tensor: ``(..., K)`` fp32 cosine logits in [-1, 1]. The MLP
            follows autocast, the prototype layer does not: in bf16 the
            logits would carry rounding steps of about 0.004, about 0.1
            after the teacher's division by ``tau_t = 0.04``.
        """
        mlp = self.region_mlp if regions and self.region_mlp is not None \
            else self.mlp
        h = mlp(x)
        with torch.autocast(device_type=h.device.type, enabled=False):
            z = F.normalize(h.float(), dim=-1)
            w = F.normalize(self.prototypes.float(), dim=-1)
            if self.freeze_prototypes:
                w = _ZeroGradient.apply(w)
            return z @ w.t()

    def drop_frozen_gradients(self) -> None:
        """While frozen, remove the prototypes' (zero) gradient, so that an
        optimiser step leaves them exactly as they are."""
        if self.freeze_prototypes:
            self.prototypes.grad = None

    def project_many(self, inputs: List[torch.Tensor],
                     regions: bool = False) -> List[torch.Tensor]:
        """Logits of several ``(..., C)`` tensors in one forward pass.

        One call instead of one per tensor: the MLP weight gradients and the
        prototype normalisation are computed once.

        Args:
            inputs (list[Tensor]): Tensors ``(..., C)``; their leading dims
                may differ (e.g. region counts of two crop sizes).
            regions (bool): See :meth:`forward`.

        Returns:
            list[Tensor]: ``(..., K)`` logits, in input order and shape.
        """
        tokens = [x.reshape(-1, x.shape[-1]) for x in inputs]
        logits = self(torch.cat(tokens), regions=regions)
        return [
            y.reshape(*x.shape[:-1], -1)
            for x, y in zip(inputs, logits.split([len(t) for t in tokens]))
        ]
