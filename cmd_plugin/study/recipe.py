"""The study's recipe: which configs, and what every variant shares.

Every variant is a config of the same code
(``configs/<variant>_<arch>_cub.py``) and differs only in its loss terms and
MIL weighting; :func:`study_config` applies the factors that the study
varies (epochs, crop size, batch, backbone learning rate, frozen blocks,
teacher temperature, prototypes, output stride) the same way to each.
"""
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from mmengine.config import Config

from ..apis import find_transform, train_pipeline

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
VARIANTS = ('start', 'dino', 'esvit', 'cmd', 'cmd-uniform', 'cmd-geometric',
            'cmd-no-reg', 'cmd-no-inter')
INITS = ('imagenet-lite0', 'scratch')


@dataclass(frozen=True)
class Arch:
    """How the study builds one backbone.

    Attributes:
        configs (str): Config path pattern relative to ``configs/`` with a
            ``{variant}`` field.
        overrides (dict): Config overrides applied to every variant (tiny
            test models).
        imagenet (bool): Whether ``--init imagenet-lite0`` applies.
    """
    configs: str
    overrides: dict
    imagenet: bool


ARCHS = {
    'effnet-lite0': Arch('{variant}_effnet-lite0_cub.py', {}, True),
    'vit-s': Arch('{variant}_vit-s_cub.py', {}, False),
    # timm's 99 k-parameter test EfficientNet (256 channels): for tests and
    # smoke runs only, no weights
    'tiny-effnet': Arch(
        '{variant}_effnet-lite0_cub.py',
        dict(model=dict(
            backbone=dict(model_name='test_efficientnet', init_cfg=None),
            neck=dict(in_channels=256, attn_channels=16),
            head=dict(in_channels=256, num_prototypes=64,
                      hidden_channels=32, bottleneck_channels=16))),
        False),
}


def lite0_frozen_prefixes(frozen_blocks: int) -> Tuple[str, ...]:
    """The stem and blocks ``0 .. frozen_blocks - 1`` of (tf_)EfficientNet."""
    return ('timm_model.conv_stem', 'timm_model.bn1') + tuple(
        f'timm_model.blocks.{i}' for i in range(frozen_blocks))


@dataclass(frozen=True)
class Recipe:
    """The factors of one study setting (``tools/study.py``'s flags).

    ``teacher_temp``, ``num_prototypes`` and ``output_stride`` are None for
    the configs' own values.
    """
    arch: str = 'effnet-lite0'
    init: str = 'imagenet-lite0'
    image_size: int = 96
    batch_size: int = 16
    epochs: int = 1
    backbone_lr_mult: float = 0.1
    frozen_blocks: int = 5
    teacher_temp: Optional[float] = None
    num_prototypes: Optional[int] = None
    output_stride: Optional[int] = None
    num_workers: int = 2

    @property
    def setting_name(self) -> str:
        """The recipe as a folder name; non-default factors appended."""
        name = (f'{self.arch}_{self.init}_{self.image_size}px_'
                f'b{self.batch_size}_{self.epochs}e')
        if self.init == 'imagenet-lite0':
            if self.backbone_lr_mult != 0.1:
                name += f'_lr{self.backbone_lr_mult:g}'
            if self.frozen_blocks != 5:
                name += f'_frozen{self.frozen_blocks}'
        if self.teacher_temp is not None:
            name += f'_tt{self.teacher_temp:g}'
        if self.num_prototypes is not None:
            name += f'_k{self.num_prototypes}'
        if self.output_stride is not None:
            name += f'_os{self.output_stride}'
        return name


def variant_config_path(arch: str, variant: str) -> Path:
    """``configs/`` (or ``configs/study/``) file of a variant; ``start``
    evaluates the initial weights of the ``cmd`` config."""
    name = ARCHS[arch].configs.format(
        variant='cmd' if variant == 'start' else variant)
    path = CONFIGS / name
    return path if path.is_file() else CONFIGS / 'study' / name


def study_config(recipe: Recipe, variant: str, seed: int, work_dir: Path,
                 image_root: Path, ann_file: Path, num_images: int,
                 pretrained: Optional[Path]) -> Config:
    """The variant's config with the study's shared overrides.

    Args:
        recipe (Recipe): The study setting.
        variant (str): One of :data:`VARIANTS`.
        seed (int): The run's seed.
        work_dir (Path): The run's work dir.
        image_root (Path): Folder the ``ann_file`` paths are relative to.
        ann_file (Path): The pre-training image list.
        num_images (int): Its length (sets the iteration-based schedule).
        pretrained (Path, optional): Converted ImageNet weights for
            ``init='imagenet-lite0'``.

    Raises:
        ValueError: Fewer images than one batch.
    """
    cfg = Config.fromfile(str(variant_config_path(recipe.arch, variant)))
    cfg.merge_from_dict(ARCHS[recipe.arch].overrides)
    if recipe.num_prototypes is not None:
        cfg.model.head.num_prototypes = recipe.num_prototypes
    if recipe.output_stride is not None:
        cfg.model.backbone.output_stride = recipe.output_stride
    backbone = cfg.model.backbone
    hooks = [h for h in cfg.custom_hooks if h['type'] != 'FreezeBackboneHook']
    if recipe.init == 'imagenet-lite0':
        backbone.init_cfg = dict(type='Pretrained', checkpoint=str(pretrained))
        hooks.append(dict(
            type='FreezeBackboneHook',
            frozen_prefixes=list(lite0_frozen_prefixes(recipe.frozen_blocks)),
            norm_eval=True))
        cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult = \
            recipe.backbone_lr_mult
    else:
        backbone.init_cfg = None
        backbone.pop('bn_momentum', None)
    cfg.custom_hooks = hooks
    if num_images < recipe.batch_size:
        raise ValueError(f'{num_images} pre-training images are fewer than '
                         f'--batch-size {recipe.batch_size}.')
    iters = recipe.epochs * (num_images // recipe.batch_size)
    warmup = max(1, iters // 10)
    pipeline = train_pipeline(cfg)
    find_transform(pipeline, 'CMDMultiCrop').update(
        global_size=recipe.image_size, local_size=recipe.image_size // 2)
    cfg.train_dataloader = dict(
        batch_size=recipe.batch_size,
        num_workers=recipe.num_workers,
        persistent_workers=False,
        drop_last=True,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset',
                     data_root='',
                     data_prefix=str(image_root),
                     ann_file=str(ann_file),
                     with_label=False,
                     pipeline=pipeline))
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=recipe.epochs)
    # iteration-based, so a 1-epoch run still warms up and decays
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=1e-2, by_epoch=False,
             begin=0, end=warmup),
        dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False,
             begin=warmup, end=max(iters, warmup + 1)),
    ]
    for hook in hooks:
        if hook['type'] == 'TeacherTemperatureHook':
            hook['warmup_epochs'] = 0.3 * recipe.epochs
            if recipe.teacher_temp is not None:
                hook['end'] = recipe.teacher_temp
        elif hook['type'] == 'FreezePrototypesHook':
            hook['epochs'] = recipe.epochs // 10
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=recipe.epochs, max_keep_ckpts=1,
        save_last=True)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed, diff_rank_seed=False)
    cfg.experiment_name = f'{variant}_seed{seed}_{uuid.uuid4().hex[:8]}'
    return cfg
