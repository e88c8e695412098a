"""Freeze the early stages of a pre-trained backbone for continued training."""
from typing import List, Sequence

from mmengine.hooks import Hook
from torch import nn

from mmpretrain.registry import HOOKS
from ...utils.validation import check_bool
from .trained_model import trained_model


@HOOKS.register_module()
class FreezeBackboneHook(Hook):
    """Freeze backbone parameters by name prefix; keep BatchNorm in eval mode.

    Continued pre-training from ImageNet weights (docs/design.md, Defaults)
    trains only the last stages. ``before_train`` turns off
    ``requires_grad`` of the student backbone's parameters whose names start
    with one of ``frozen_prefixes`` (the teacher, an EMA of the student, then
    keeps them too). With ``norm_eval`` every BatchNorm of the student and
    teacher backbones is put in eval mode before each iteration (the loop calls
    ``model.train()`` at every epoch start), so it normalises with, and never
    updates, its pre-trained statistics.

    Args:
        frozen_prefixes (Sequence[str]): Parameter-name prefixes inside the
            backbone, e.g. ``'timm_model.blocks.0'``. Empty: nothing frozen.
        norm_eval (bool): Keep the backbones' BatchNorm layers in eval mode.
            Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, frozen_prefixes: Sequence[str] = (),
                 norm_eval: bool = True) -> None:
        if isinstance(frozen_prefixes, str) or not all(
                isinstance(p, str) and p for p in frozen_prefixes):
            raise ValueError(
                'FreezeBackboneHook.frozen_prefixes: expected a list of '
                f'non-empty parameter-name prefixes, got {frozen_prefixes!r}.')
        check_bool('FreezeBackboneHook', 'norm_eval', norm_eval)
        self.frozen_prefixes = tuple(frozen_prefixes)
        self.norm_eval = norm_eval

    @staticmethod
    def _model(runner) -> nn.Module:
        return trained_model(runner)

    def _backbones(self, runner) -> List[nn.Module]:
        model = self._model(runner)
        return [model.backbone, model.teacher['backbone']]

    def before_train(self, runner) -> None:
        backbone = self._model(runner).backbone
        frozen = [
            param for name, param in backbone.named_parameters()
            if name.startswith(self.frozen_prefixes)
        ]
        if self.frozen_prefixes and not frozen:
            names = [name for name, _ in backbone.named_parameters()][:5]
            raise ValueError(
                'FreezeBackboneHook.frozen_prefixes: no backbone parameter '
                f'starts with any of {list(self.frozen_prefixes)} (the first '
                f'names are {names}).')
        for param in frozen:
            param.requires_grad_(False)
        runner.logger.info(
            f'FreezeBackboneHook: froze {len(frozen)} backbone parameter '
            f'tensors ({sum(p.numel() for p in frozen):,} values); BatchNorm '
            f'in eval mode: {self.norm_eval}.')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if not self.norm_eval:
            return
        for backbone in self._backbones(runner):
            for module in backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
