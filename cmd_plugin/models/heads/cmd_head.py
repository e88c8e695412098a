"""CMD head: projection to prototypes and the three distillation terms."""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS
from ...structures import CropEncoding
from ...utils.validation import (check_bool, check_choice, check_int,
                                 check_number)
from ..losses import (cross_view_mask, cross_view_pairs, feature_matching,
                      geometric_matching, image_distillation_loss,
                      inter_level_loss, mil_pool_log_probs, mil_pool_probs,
                      region_distillation_terms, region_match_weights,
                      student_log_probs, teacher_probs)
from ..utils.training_diagnostics import (effective_regions, entropy,
                                          entropy_of_log, matched_entropy,
                                          prototype_usage)
from .cmd_projector import MLP_NORMS, CMDProjector

MATCHINGS = ('feature', 'geometric')
WEIGHTINGS = ('uniform', 'mil')


@MODELS.register_module()
class CMDHead(BaseModule):
    """Projection head and losses of Cross-level Multi-instance Distillation.

    ``L = img_weight * L_img + reg_weight * L_reg + inter_weight * L_inter``
    (DESIGN section 3). A term whose weight is 0 is not computed, and with
    both region-level weights at 0 the region tokens are not projected at
    all (the DINO baseline).

    Args:
        in_channels (int): Width of the image embedding and region tokens.
        num_prototypes (int): ``K``, shared by image and region outputs.
            Defaults to 8192.
        hidden_channels (int): MLP hidden width. Defaults to 2048.
        bottleneck_channels (int): Width before the prototypes.
            Defaults to 256.
        num_layers (int): Linear layers of the MLP. Defaults to 3.
        share_mlp (bool): Regions use the image MLP. Defaults to True.
        mlp_norm (str): ``'none'`` or ``'bn'`` (BatchNorm after every hidden
            MLP layer, DINO's ``use_bn_in_head``; see :class:`CMDProjector`).
            Defaults to ``'none'``.
        img_weight (float): ``lambda_img``. Defaults to 1.0.
        reg_weight (float): ``lambda_reg``. Defaults to 1.0.
        inter_weight (float): ``lambda_inter``. Defaults to 1.0.
        matching (str): Region matching, ``'feature'`` (most similar teacher
            token) or ``'geometric'`` (teacher region containing the student
            region's centre). Defaults to ``'feature'``.
        weighting (str): Region weights ``'mil'`` (the teacher's MIL weights
            of the matched regions) or ``'uniform'``. Defaults to ``'mil'``.
        student_temp (float): ``tau_s``. Defaults to 0.1.
        teacher_temp (float): ``tau_t`` until a
            :class:`TeacherTemperatureHook` sets it. Defaults to 0.04.
        centre_momentum (float): EMA momentum of the centres.
            Defaults to 0.9.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 num_prototypes: int = 8192,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 share_mlp: bool = True,
                 mlp_norm: str = 'none',
                 img_weight: float = 1.0,
                 reg_weight: float = 1.0,
                 inter_weight: float = 1.0,
                 matching: str = 'feature',
                 weighting: str = 'mil',
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 centre_momentum: float = 0.9,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_choice('CMDHead', 'matching', matching, MATCHINGS)
        check_choice('CMDHead', 'weighting', weighting, WEIGHTINGS)
        check_choice('CMDHead', 'mlp_norm', mlp_norm, MLP_NORMS)
        for name, value in (('in_channels', in_channels),
                            ('num_prototypes', num_prototypes),
                            ('hidden_channels', hidden_channels),
                            ('bottleneck_channels', bottleneck_channels),
                            ('num_layers', num_layers)):
            check_int('CMDHead', name, value, 1)
        check_bool('CMDHead', 'share_mlp', share_mlp)
        for name, value in (('img_weight', img_weight),
                            ('reg_weight', reg_weight),
                            ('inter_weight', inter_weight)):
            check_number('CMDHead', name, value, low=0)
        if img_weight + reg_weight + inter_weight == 0:
            raise ValueError('CMDHead: img_weight, reg_weight and '
                             'inter_weight are all 0; nothing to train.')
        for name, value in (('student_temp', student_temp),
                            ('teacher_temp', teacher_temp)):
            check_number('CMDHead', name, value, low=0, low_open=True)
        check_number('CMDHead', 'centre_momentum', centre_momentum, 0, 1,
                     high_open=True)
        self.projector = CMDProjector(in_channels, hidden_channels,
                                      bottleneck_channels, num_prototypes,
                                      num_layers, share_mlp, mlp_norm)
        self.num_prototypes = num_prototypes
        self.img_weight = img_weight
        self.reg_weight = reg_weight
        self.inter_weight = inter_weight
        self.matching = matching
        self.weighting = weighting
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.centre_momentum = centre_momentum
        self.register_buffer('image_centre', torch.zeros(1, num_prototypes))
        self.register_buffer('region_centre', torch.zeros(1, num_prototypes))

    @property
    def uses_regions(self) -> bool:
        """Whether region tokens need prototype logits."""
        return self.reg_weight > 0 or self.inter_weight > 0

    @property
    def needs_crop_geometry(self) -> bool:
        """Whether :meth:`loss` reads the crop boxes and flips (geometric
        matching of a region term); otherwise they stay on the host."""
        return self.matching == 'geometric' and self.reg_weight > 0

    def _match(self, teacher: CropEncoding, student: CropEncoding,
               offset: int, boxes: Optional[torch.Tensor],
               flips: Optional[torch.Tensor]
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Matched teacher region and validity, both ``(T, S, B, N)``."""
        if self.matching == 'feature':
            index = feature_matching(teacher.regions, student.regions)
            return index, torch.ones_like(index, dtype=torch.bool)
        t, s = teacher.num_crops, student.num_crops
        return geometric_matching(boxes[:t], flips[:t], teacher.grid,
                                  boxes[offset:offset + s],
                                  flips[offset:offset + s], student.grid)

    def loss(self,
             student: List[CropEncoding],
             teacher: CropEncoding,
             boxes: Optional[torch.Tensor] = None,
             flips: Optional[torch.Tensor] = None,
             diagnostics: bool = False) -> Dict[str, torch.Tensor]:
        """The weighted loss terms of one batch.

        Args:
            student (list[CropEncoding]): Student outputs per crop
                resolution, in crop order; the first ``T`` crops are the
                teacher's crops.
            teacher (CropEncoding): Teacher outputs of the ``T`` global
                crops.
            boxes (Tensor, optional): ``(V, B, 4)`` crop boxes, needed by
                geometric matching.
            flips (Tensor, optional): ``(V, B)`` crop flip flags.
            diagnostics (bool): Also return the ``diag/`` training-health
                signals (see :meth:`_diagnostics`). Defaults to False.

        Returns:
            dict[str, Tensor]: ``loss_img``, ``loss_reg``, ``loss_inter``
            (those with a non-zero weight), already weighted, and with
            ``diagnostics`` the ``diag/...`` scalars (no gradient; their
            names hold no ``loss``, so mmengine logs but does not add them).
        """
        if self.matching == 'geometric' and self.reg_weight > 0 and (
                boxes is None or flips is None):
            raise ValueError(
                "CMDHead: matching='geometric' needs the crop boxes; use "
                "CMDMultiCrop and PackInputs(meta_keys=['crop_boxes', "
                "'crop_flips']) in train_dataloader.dataset.pipeline.")
        device_type = teacher.image_logits.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            losses, parts = self._losses(student, teacher, boxes, flips,
                                         diagnostics)
            if diagnostics:
                losses.update(self._diagnostics(teacher, parts))
        self.update_centres(teacher)
        return losses

    def _losses(self, student: List[CropEncoding], teacher: CropEncoding,
                boxes: Optional[torch.Tensor], flips: Optional[torch.Tensor],
                diagnostics: bool
                ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """The loss terms, and the distributions the diagnostics read."""
        t_image = teacher_probs(teacher.image_logits, self.image_centre,
                                self.teacher_temp)
        s_image = torch.cat([
            student_log_probs(g.image_logits, self.student_temp)
            for g in student
        ])
        losses = {}
        parts = dict(t_image=t_image, s_image=s_image)
        if self.img_weight > 0 or diagnostics:
            parts['img_ce'] = image_distillation_loss(t_image, s_image)
        if self.img_weight > 0:
            losses['loss_img'] = self.img_weight * parts['img_ce']
        if not self.uses_regions:
            return losses, parts

        t_regions = teacher_probs(teacher.region_logits, self.region_centre,
                                  self.teacher_temp)
        s_regions = [
            student_log_probs(g.region_logits, self.student_temp)
            for g in student
        ]
        parts.update(t_regions=t_regions, s_regions=s_regions)
        if diagnostics:
            parts['t_region_entropy'] = entropy(t_regions)  # (T, B, M)
        if self.reg_weight > 0:
            mil = teacher.weights if self.weighting == 'mil' else None
            ce_sum, entropy_sum, pairs, offset = 0, 0, 0, 0
            for group, s_reg in zip(student, s_regions):
                index, valid = self._match(teacher, group, offset, boxes,
                                           flips)
                weight = region_match_weights(index, valid, mil)
                per_pair = region_distillation_terms(t_regions, s_reg, index,
                                                     weight)  # (T, S, B)
                # the pairs of different views in which some region matched
                # (all of them with feature matching), as a mask: no
                # boolean indexing, so the host never waits for the device
                keep = cross_view_mask(teacher.num_crops, group.num_crops,
                                       offset, per_pair.device)
                keep = keep.unsqueeze(-1) & (weight.sum(-1) > 0)
                ce_sum = ce_sum + torch.where(keep, per_pair, 0).sum()
                pairs = pairs + keep.sum()
                if diagnostics:
                    entropy_sum = entropy_sum + torch.where(
                        keep, matched_entropy(parts['t_region_entropy'],
                                              index, weight), 0).sum()
                offset += group.num_crops
            # no pair (no student region inside a teacher crop): a zero that
            # keeps the graph, never NaN
            count = pairs.clamp_min(1).float()
            losses['loss_reg'] = self.reg_weight * (ce_sum / count)
            if diagnostics:
                parts.update(reg_ce=ce_sum / count,
                             reg_entropy=entropy_sum / count,
                             reg_pairs=pairs.float())
        if self.inter_weight == 0 and not diagnostics:
            return losses, parts
        t_bag = mil_pool_probs(t_regions, teacher.weights)
        s_bag = torch.cat([
            mil_pool_log_probs(s_reg, g.weights)
            for g, s_reg in zip(student, s_regions)
        ])
        parts.update(t_bag=t_bag, s_bag=s_bag)
        if self.inter_weight > 0:
            parts['inter_ce'] = inter_level_loss(t_image, t_bag, s_image,
                                                 s_bag)
            losses['loss_inter'] = self.inter_weight * parts['inter_ce']
        return losses, parts

    @torch.no_grad()
    def _diagnostics(self, teacher: CropEncoding,
                     parts: Dict[str, torch.Tensor]
                     ) -> Dict[str, torch.Tensor]:
        """Training-health signals of one batch, all scalars.

        ``diag/teacher_entropy_{img,reg,bag}`` and ``diag/student_entropy_*``:
        mean entropy (nats) of the centred, sharpened teacher targets and of
        the student's distributions (``ln K`` = uniform, 0 = one-hot).
        ``diag/kl_{img,reg,inter}``: each term's cross-entropy minus the
        teacher entropy it contains (unweighted; what the student can still
        learn). ``diag/mil_effective_regions``: ``exp(H(a))`` of the
        teacher's MIL weights (``N`` when uniform) and
        ``diag/mil_effective_share`` that over ``N``.
        ``diag/prototype_usage``: fraction of the ``K`` prototypes that are
        the teacher's argmax for at least one global crop.
        ``diag/teacher_temp``: the current ``tau_t``.
        ``diag/reg_pairs``: how many (teacher crop, student crop, image)
        pairs the region term averaged over (0: nothing matched, the term
        was a zero). A KL part with no pair to average over is 0.
        All are computed on the device without the host waiting for it (no
        ``.item()``, no data-dependent shapes, no copies from the host).
        """
        t_image, s_image = parts['t_image'], parts['s_image']
        t_image_entropy = entropy(t_image)
        # no cross-view pair (one crop in all): the terms are 0, so are the KLs
        pairs = cross_view_pairs(t_image.shape[0], s_image.shape[0]) > 0
        diag = {
            'diag/teacher_entropy_img': t_image_entropy.mean(),
            'diag/student_entropy_img': entropy_of_log(s_image).mean(),
            'diag/kl_img': (parts['img_ce'] - t_image_entropy.mean()) * pairs,
            'diag/prototype_usage': prototype_usage(t_image),
            'diag/teacher_temp': torch.full((), self.teacher_temp,
                                            device=t_image.device),
        }
        effective = effective_regions(teacher.weights.float())
        diag['diag/mil_effective_regions'] = effective.mean()
        diag['diag/mil_effective_share'] = (effective /
                                            teacher.weights.shape[-1]).mean()
        if 't_regions' not in parts:
            return diag
        t_bag_entropy = entropy(parts['t_bag'])
        diag.update({
            'diag/teacher_entropy_reg': parts['t_region_entropy'].mean(),
            'diag/student_entropy_reg': torch.cat([
                entropy_of_log(s).flatten() for s in parts['s_regions']
            ]).mean(),
            'diag/teacher_entropy_bag': t_bag_entropy.mean(),
            'diag/student_entropy_bag': entropy_of_log(parts['s_bag']).mean(),
        })
        if 'reg_ce' in parts:
            # means over the kept pairs (0 without one)
            diag['diag/kl_reg'] = parts['reg_ce'] - parts['reg_entropy']
            diag['diag/reg_pairs'] = parts['reg_pairs']
        if self.inter_weight > 0:
            diag['diag/kl_inter'] = (parts['inter_ce'] - 0.5 * (
                t_image_entropy.mean() + t_bag_entropy.mean())) * pairs
        return diag

    @torch.no_grad()
    def update_centres(self, teacher: CropEncoding) -> None:
        """EMA of the teacher's mean logits, averaged over all processes."""
        pairs = [(self.image_centre, teacher.image_logits)]
        if teacher.region_logits is not None:
            pairs.append((self.region_centre, teacher.region_logits))
        for centre, logits in pairs:
            batch_mean = logits.float().flatten(0, -2).mean(0, keepdim=True)
            all_reduce(batch_mean, op='mean')
            centre.mul_(self.centre_momentum).add_(
                batch_mean, alpha=1 - self.centre_momentum)
