"""Strict initialiser: a model's backbone from a CMD (or backbone) checkpoint.
"""
from mmengine.logging import print_log
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner import CheckpointLoader
from torch import nn

from .cmd_checkpoint import check_network, check_weights, select_network


@WEIGHT_INITIALIZERS.register_module(name='CMDPretrained')
class CMDPretrainedInit:
    """Load ``model.backbone`` from one network of a CMD checkpoint, strictly.

    For linear probes and fine-tuning: put it in the *model's* ``init_cfg``::

        model = dict(
            type='ImageClassifier',
            backbone=dict(type='VisionTransformer', arch='deit-small',
                          patch_size=16, out_type='cls_token'),
            head=dict(...),
            init_cfg=dict(type='CMDPretrained', checkpoint='epoch_100.pth',
                          network='teacher'))

    Not in ``model.backbone.init_cfg``: mmengine applies initialisers other
    than ``'Pretrained'`` before a module's own ``init_weights``, which would
    then overwrite the loaded weights (e.g. ViT's ``pos_embed``). From the
    model, this initialiser loads the backbone and marks it initialised, so
    that ``init_weights`` leaves it alone and still initialises the head.

    The checkpoint may be a CMD pre-training checkpoint (``network`` picks
    ``teacher.backbone.*`` or the student's ``backbone.*``), another model's
    checkpoint with ``backbone.*`` keys (``network='student'``) or a
    backbone-only checkpoint (``tools/extract_backbone.py``). A missing or
    unexpected key or a differing shape raises an error naming it.

    Args:
        checkpoint (str): Path or URL of the checkpoint.
        network (str): ``'teacher'`` (the EMA teacher, the usual choice) or
            ``'student'``. Defaults to ``'teacher'``.
        map_location (str): Where to load the tensors. Defaults to ``'cpu'``.
    """

    def __init__(self,
                 checkpoint: str,
                 network: str = 'teacher',
                 map_location: str = 'cpu') -> None:
        check_network(network, 'CMDPretrainedInit.network')
        self.checkpoint = checkpoint
        self.network = network
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        """Load ``module.backbone`` and mark it initialised.

        Args:
            module (nn.Module): The model whose ``init_cfg`` this is; it must
                have a ``backbone``.
        """
        backbone = getattr(module, 'backbone', None)
        if not isinstance(backbone, nn.Module):
            raise TypeError(
                'CMDPretrained loads the backbone of the model it '
                'initialises, but it was given a '
                f'{type(module).__name__} without a backbone. Move it from '
                'model.backbone.init_cfg to model.init_cfg.')
        checkpoint = CheckpointLoader.load_checkpoint(
            self.checkpoint, map_location=self.map_location)
        state_dict = checkpoint.get('state_dict', checkpoint)
        weights, source = select_network(
            state_dict, self.network, ['backbone'], 'init_cfg.network')
        weights = {k[len('backbone.'):]: v for k, v in weights.items()}
        weights = check_weights(
            backbone, weights, f'{source} of {self.checkpoint!r}',
            'Make model.backbone match the pre-training backbone (arch, '
            'patch_size, img_size, ...) or change init_cfg.checkpoint / '
            'init_cfg.network.')
        backbone.load_state_dict(weights)
        backbone._is_init = True
        print_log(
            f'CMDPretrained: loaded the backbone from {source} of '
            f'{self.checkpoint}', logger='current')
