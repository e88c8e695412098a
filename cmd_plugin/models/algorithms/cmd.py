"""Cross-level Multi-instance Distillation (CMD)."""
from copy import deepcopy
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_reduce, get_world_size
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ...structures import CropEncoding
from ...utils.validation import (check_bool, check_choice, check_int,
                                 check_number)
from ..utils.backbone_probe import complete_region_configs
from ..utils.training_diagnostics import module_distance


def resolution_groups(crops: List[torch.Tensor],
                      first: int) -> List[Tuple[int, int]]:
    """``[start, end)`` runs of consecutive crops with equal size.

    The first ``first`` crops (the global ones) always form one group.
    """
    groups, start = [(0, first)], first
    for i in range(first + 1, len(crops) + 1):
        if i == len(crops) or crops[i].shape[-2:] != crops[start].shape[-2:]:
            groups.append((start, i))
            start = i
    return [g for g in groups if g[1] > g[0]]


def untrained_attention_problem(neck: dict, head: dict) -> Optional[str]:
    """Why the MIL attention would never train, or None.

    With ``inter_weight=0`` and a class-token image embedding no gradient
    reaches the neck's gated attention, yet ``weighting='mil'`` weights the
    region term by it: fixed random weights.

    Args:
        neck (dict): The neck's ``attention`` and ``embedding``.
        head (dict): The head's ``inter_weight``, ``reg_weight`` and
            ``weighting``.

    Returns:
        str, optional: A message in the ``CMD.key:`` form.
    """
    if (head.get('inter_weight') == 0 and head.get('reg_weight', 1) > 0
            and head.get('weighting') == 'mil'
            and neck.get('attention') == 'gated'
            and neck.get('embedding') == 'cls'):
        return ("CMD.head.inter_weight: 0 with model.neck.attention='gated', "
                "model.neck.embedding='cls' and model.head.weighting='mil' "
                'trains nothing into the MIL attention (no gradient reaches '
                'it), so the region term is weighted by fixed random weights. '
                "Set model.head.weighting='uniform', or "
                "model.neck.attention='none', or model.head.inter_weight > 0 "
                "(or model.neck.embedding='bag').")
    return None


#: How the teacher's BatchNorm layers normalise (``CMD.teacher_bn``).
TEACHER_BN_MODES = ('running', 'batch')


@MODELS.register_module()
class CMD(BaseSelfSupervisor):
    """Cross-level Multi-instance Distillation (arXiv 2401.08860).

    The student is ``backbone + neck (MILNeck) + head (CMDHead)``; the
    teacher is an exponential moving average of the student's backbone,
    neck and projection, sees only the global crops and never receives
    gradients. Crops of one resolution go through the backbone together.
    The teacher runs in eval mode: no drop path or dropout (as DINO's
    teacher, built without them). Its BatchNorm layers (``teacher_bn``)
    either use the running statistics copied from the student at every EMA
    step (``'running'``, the default), or, as DINO's ResNet teacher,
    normalise the teacher's own batch of global crops (``'batch'``:
    train-mode BatchNorm, SyncBatchNorm across processes with the config's
    ``sync_bn='torch'``); the teacher then keeps its own running statistics
    (an average over global crops only, which evaluating the teacher uses)
    instead of copying the student's, which are half from local crops.

    Args:
        backbone (dict): Any mmpretrain backbone; a ViT needs
            ``out_type='raw'``.
        neck (dict): :class:`MILNeck` config. Without ``in_channels`` (or
            ``embedding``) they are read from the backbone's output
            (:func:`~cmd_plugin.models.utils.backbone_probe.
            complete_region_configs`): ``model.backbone`` alone swaps the
            backbone.
        head (dict): :class:`CMDHead` config; ``in_channels`` likewise.
        base_momentum (float): Teacher momentum ``m`` in
            ``teacher = m * teacher + (1 - m) * student`` until a
            :class:`TeacherMomentumHook` sets it. Defaults to 0.996.
        num_global_crops (int): Leading crops that the teacher sees (as many
            as ``CMDMultiCrop`` makes global crops). Defaults to 2.
        teacher_bn (str): ``'running'`` or ``'batch'`` (see above); only
            matters for backbones with BatchNorm. ``'batch'`` needs more
            than one image per process (or SyncBatchNorm). Defaults to
            ``'running'``.
        diagnostics (bool): Add the ``diag/`` training-health signals to the
            logged values (:meth:`CMDHead._diagnostics`, plus
            ``diag/teacher_student_distance``, the relative parameter
            distance of the two backbones, and ``diag/teacher_momentum``).
            Defaults to True.
        pretrained (str, optional): Checkpoint for the whole model.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.

    What the schedule and monitoring hooks set or read, all on the model
    (``engine.hooks.trained_model(runner)``), never deeper:
    :attr:`momentum` (the teacher's EMA momentum), :attr:`teacher_temp`
    (the teacher's sharpening temperature), :attr:`projector` (the
    student's projection and prototypes) and :attr:`num_prototypes`.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.996,
                 num_global_crops: int = 2,
                 teacher_bn: str = 'running',
                 diagnostics: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        check_number('CMD', 'base_momentum', base_momentum, 0, 1)
        check_int('CMD', 'num_global_crops', num_global_crops, 1)
        check_choice('CMD', 'teacher_bn', teacher_bn, TEACHER_BN_MODES)
        check_bool('CMD', 'diagnostics', diagnostics)
        if isinstance(backbone, dict):
            backbone = MODELS.build(backbone)
        if isinstance(neck, dict) and (head is None or isinstance(head, dict)):
            # in_channels / embedding left out: read from the backbone
            neck, head = complete_region_configs(backbone, neck, head)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        problem = untrained_attention_problem(
            {k: getattr(self.neck, k, None)
             for k in ('attention', 'embedding')},
            {k: getattr(self.head, k, None)
             for k in ('inter_weight', 'reg_weight', 'weighting')})
        if problem:
            raise ValueError(problem)
        self.momentum = base_momentum
        self.num_global_crops = num_global_crops
        self.teacher_bn = teacher_bn
        self.diagnostics = diagnostics
        self.teacher = nn.ModuleDict(
            dict(
                backbone=deepcopy(self.backbone),
                neck=deepcopy(self.neck),
                projector=deepcopy(self.head.projector)))
        self.teacher.requires_grad_(False)

    @property
    def teacher_temp(self) -> float:
        """The teacher's temperature ``tau_t`` (held by the head)."""
        return self.head.teacher_temp

    @teacher_temp.setter
    def teacher_temp(self, value: float) -> None:
        self.head.teacher_temp = value

    @property
    def projector(self) -> nn.Module:
        """The student's projection MLP and prototypes (the head's
        :class:`~cmd_plugin.models.heads.cmd_projector.CMDProjector`)."""
        return self.head.projector

    @property
    def num_prototypes(self) -> int:
        """``K``, the number of prototypes."""
        return self.head.num_prototypes

    def _student_modules(self) -> List[nn.Module]:
        """Student modules in the order of ``self.teacher``."""
        return [self.backbone, self.neck, self.head.projector]

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its copy."""
        super().init_weights()
        for t, s in zip(self.teacher.values(), self._student_modules()):
            t.load_state_dict(s.state_dict())

    def train(self, mode: bool = True) -> 'CMD':
        """Set the student's mode; the teacher stays in eval mode, except its
        BatchNorm layers with ``teacher_bn='batch'`` while training."""
        super().train(mode)
        self.teacher.eval()
        if mode and self.teacher_bn == 'batch':
            for module in self.teacher.modules():
                if isinstance(module, _BatchNorm):
                    module.train()
        return self

    @torch.no_grad()
    def update_teacher(self) -> None:
        """``teacher = m * teacher + (1 - m) * student``; buffers copied
        (with ``teacher_bn='batch'`` all but the BatchNorm statistics)."""
        t_params, s_params, t_bufs, s_bufs = [], [], [], []
        for t, s in zip(self.teacher.values(), self._student_modules()):
            t_params += list(t.parameters())
            s_params += list(s.parameters())
            t_bufs += list(t.buffers())
            s_bufs += list(s.buffers())
        torch._foreach_lerp_(t_params, s_params, 1.0 - self.momentum)
        own = set()
        if self.teacher_bn == 'batch':
            own = {id(b) for m in self.teacher.modules()
                   if isinstance(m, _BatchNorm) for b in m.buffers(False)}
        for tb, sb in zip(t_bufs, s_bufs):
            if id(tb) not in own:
                tb.copy_(sb)

    def encode(self, modules: List[nn.Module],
               groups: List[List[torch.Tensor]]) -> List[CropEncoding]:
        """Run ``[backbone, neck, projector]`` on groups of equal-size crops.

        The backbone and neck run once per group (one resolution each); the
        projector then runs once on the image embeddings and region tokens
        of all groups together, as DINO runs its head once on all crops.

        Args:
            modules (list[nn.Module]): Backbone, MIL neck and projector of the
                student or the teacher.
            groups (list[list[Tensor]]): Per group, ``n`` crop batches
                ``(B, 3, H, W)`` of one size.

        Returns:
            list[CropEncoding]: One per group, leading dims ``(n, B)``.
        """
        backbone, neck, projector = modules
        mils = [neck(backbone(torch.cat(crops))) for crops in groups]
        image_logits = projector.project_many([m.image for m in mils])
        region_logits = [None] * len(mils)
        if self.head.uses_regions:
            region_logits = projector.project_many(
                [m.regions for m in mils], regions=True)
        encodings = []
        for crops, mil, image, region in zip(groups, mils, image_logits,
                                             region_logits):
            shape = (len(crops), crops[0].shape[0])
            encodings.append(
                CropEncoding(
                    regions=mil.regions.unflatten(0, shape),
                    weights=mil.weights.unflatten(0, shape),
                    grid=mil.grid,
                    image_logits=image.unflatten(0, shape),
                    region_logits=None
                    if region is None else region.unflatten(0, shape)))
        return encodings

    def crop_geometry(
        self, data_samples: List[DataSample], device: torch.device
    ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Crop boxes ``(V, B, 4)`` and flips ``(V, B)`` from the samples."""
        if not data_samples or 'crop_boxes' not in data_samples[0]:
            return None, None
        boxes = np.stack([s.crop_boxes for s in data_samples], axis=1)
        flips = np.stack([s.crop_flips for s in data_samples], axis=1)
        return (torch.as_tensor(boxes, device=device),
                torch.as_tensor(flips, device=device))

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """The CMD losses of a batch of multi-crop views.

        Args:
            inputs (list[Tensor]): ``V`` crop batches ``(B, 3, H_v, W_v)``,
                the global crops first.
            data_samples (list[DataSample]): Carry ``crop_boxes`` ``(V, 4)``
                and ``crop_flips`` ``(V,)`` from :class:`CMDMultiCrop`.

        Returns:
            dict[str, Tensor]: ``loss_img``, ``loss_reg``, ``loss_inter``.
        """
        if not isinstance(inputs, (list, tuple)) or \
                len(inputs) < self.num_global_crops:
            raise ValueError(
                f'CMD expects a list of at least num_global_crops='
                f'{self.num_global_crops} crop batches; check that the '
                'pipeline uses CMDMultiCrop and the dataloader '
                "collate_fn=dict(type='default_collate').")
        global_crops = inputs[:self.num_global_crops]
        # student: every crop, one backbone call per resolution
        student = self.encode(self._student_modules(), [
            inputs[a:b]
            for a, b in resolution_groups(inputs, self.num_global_crops)
        ])
        # teacher: global crops only, no gradient
        with torch.no_grad():
            self.update_teacher()
            teacher, = self.encode(list(self.teacher.values()),
                                   [global_crops])
        # on the device only when geometric matching reads them
        boxes, flips = self.crop_geometry(
            data_samples, inputs[0].device) if \
            self.head.needs_crop_geometry else (None, None)
        losses = self.head.loss(student, teacher, boxes, flips,
                                diagnostics=self.diagnostics)
        if self.diagnostics:
            losses['diag/teacher_student_distance'] = module_distance(
                self.teacher['backbone'], self.backbone)
            # a fill on the device, not a copy from the host
            losses['diag/teacher_momentum'] = torch.full(
                (), self.momentum, device=inputs[0].device)
        return losses

    def parse_losses(
        self, losses: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The loss to back-propagate and the values to log.

        Each process back-propagates its own loss (DDP averages the
        gradients), but the logged values are averaged over the processes:
        the log of an ``N``-process run with batch ``b`` then matches that
        of one process with batch ``N * b``, and a non-finite term on any
        process shows on every process.

        Args:
            losses (dict[str, Tensor]): The output of :meth:`loss`.

        Returns:
            tuple: The summed loss of this process and the logged values
            (``loss`` and each term).
        """
        loss, log_vars = super().parse_losses(losses)
        if get_world_size() > 1:
            values = torch.stack(
                [value.detach().float() for value in log_vars.values()])
            all_reduce(values, op='mean')
            log_vars = dict(zip(log_vars, values))
        return loss, log_vars
