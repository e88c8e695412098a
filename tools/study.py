"""Quality study: continued self-supervised pre-training, variant by variant.

    python tools/study.py --data DIR --out DIR
        [--variants start dino esvit cmd cmd-uniform cmd-geometric
                    cmd-no-reg cmd-no-inter] [--seeds 0 1 2]
        [--epochs E] [--init imagenet-lite0|scratch]
        [--arch effnet-lite0|vit-s|tiny-effnet] [--image-size N]
        [--batch-size B] [--num-workers W] [--device cpu|cuda]
        [--val-fraction F] [--final]
        [--data-name NAME]

``start`` evaluates the initial weights without training. Every other
variant is a config of the same code (``configs/<variant>_<arch>_cub.py``):
it trains from the same start with the same backbone, crops, batch, epochs,
optimiser and augmentation, and differs only in its loss terms and MIL
weighting. After training, the *teacher* backbone is evaluated on frozen
features (the average-pooled last feature map of an ``N x N`` image: resize
the shorter side to ``N``, centre crop):

- linear probe top-1: multinomial logistic regression fitted with L-BFGS on
  the standardised features of the train images (a fast probe on cached
  features instead of an augmented linear-classifier training);
- k-NN top-1: DINO's weighted vote, k = 20, T = 0.07 (``KNNAccuracy``);
- Rank-1 and mAP: leave-one-out retrieval among the evaluation images,
  cosine similarity (:mod:`cmd_plugin.evaluation.functional`).

Protocol. Without ``--final`` the evaluation images are a validation split
carved out of the train split (``--val-fraction`` of every class, fixed
seed), the rest of the train split is pre-trained on and is the probe's /
k-NN's train set; recipes are chosen there. ``--final`` pre-trains on the
whole train split and evaluates on the test split, once.

Recipe for ImageNet weights (``--init imagenet-lite0``): the configs'
:class:`FreezeBackboneHook` freezes the early stages (stem and blocks
``0 .. --frozen-blocks - 1``, default 0-4) and keeps every BatchNorm of the
backbone in eval mode (its ImageNet statistics); the other blocks and
``conv_head`` learn at ``--backbone-lr-mult`` (default 0.1) of the head's
rate (``configs/_base_/schedules/cmd_adamw_continued.py``). With ``--init
scratch`` the hook is removed and nothing is frozen.

``--data`` is an ImageNet-style folder (``train/<class>/*.jpg``,
``test/<class>/*.jpg``) or the official CUB-200-2011 layout (``images.txt``,
``image_class_labels.txt``, ``train_test_split.txt``, ``images/``).

Resumable across sessions: each run writes
``RESULTS/runs/<protocol>/<setting>/<run>.json`` when it finishes (small
files, meant to be committed; ``--results`` defaults to ``docs/study``), and
a run whose result file exists is never run again. Checkpoints, logs, image
caches and converted weights go to ``--out``. Every invocation rewrites
``RESULTS/results.json`` (all runs' figures and configs) and
``RESULTS/results.md`` (mean +- std per variant and setting).
"""
import argparse
import json
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from PIL import Image
from torch import nn
from torchvision.transforms import functional as TF

import cmd_plugin  # noqa: F401  (registers CMD, MILNeck, ...)
from cmd_plugin.evaluation.functional import (leave_one_out_nearest_hits,
                                              leave_one_out_retrieval,
                                              weighted_knn_predict)
from cmd_plugin.evaluation.linear_probe import (PROBE_WEIGHT_DECAY,
                                                linear_probe_predict)
from cmd_plugin.evaluation.paired_bootstrap import paired_bootstrap
from cmd_plugin.models.algorithms.feature_extractor import CMDFeatureExtractor
from cmd_plugin.utils.checkpoint_conversion import (
    build_reference, convert_state_dict, efficientnet_lite0_weight_path,
    load_source_state_dict, make_checkpoint)
from mmpretrain.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
VARIANTS = ('start', 'dino', 'esvit', 'cmd', 'cmd-uniform', 'cmd-geometric',
            'cmd-no-reg', 'cmd-no-inter')
INITS = ('imagenet-lite0', 'scratch')
CUB_FILES = ('images.txt', 'image_class_labels.txt', 'train_test_split.txt')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
KNN_K, KNN_T = 20, 0.07
CUB50_NAME = 'CUB-50 subset (cropped)'


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


def lite0_frozen_prefixes(frozen_blocks: int) -> Tuple[str, ...]:
    """The stem and blocks ``0 .. frozen_blocks - 1`` of (tf_)EfficientNet."""
    return ('timm_model.conv_stem', 'timm_model.bn1') + tuple(
        f'timm_model.blocks.{i}' for i in range(frozen_blocks))


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


@dataclass(frozen=True)
class Sample:
    """One labelled image: path relative to the image root, label, split."""
    path: str
    label: int
    split: str


@dataclass
class Dataset:
    """A labelled dataset with its official train / test splits."""
    image_root: Path
    classes: List[str]
    samples: List[Sample]


def read_cub(root: Path) -> Dataset:
    """Read the official CUB-200-2011 layout (labels 1..C in the files)."""
    def table(name: str) -> Dict[str, str]:
        rows = (line.split(maxsplit=1)
                for line in (root / name).read_text().splitlines()
                if line.strip())
        return {key: value.strip() for key, value in rows}

    paths, labels, splits = (table(name) for name in CUB_FILES)
    label_ids = sorted({int(v) for v in labels.values()})
    index = {label: i for i, label in enumerate(label_ids)}
    names = {}
    if (root / 'classes.txt').is_file():
        names = {int(k): v for k, v in table('classes.txt').items()}
    classes = [names.get(label, str(label)) for label in label_ids]
    samples = [
        Sample(paths[i], index[int(labels[i])],
               'train' if splits[i] == '1' else 'test') for i in paths
    ]
    return Dataset(root / 'images', classes, samples)


def read_image_folder(root: Path) -> Dataset:
    """Read ``train/<class>/*`` and ``test/<class>/*`` (classes of train)."""
    classes = sorted(d.name for d in (root / 'train').iterdir() if d.is_dir())
    index = {name: i for i, name in enumerate(classes)}
    samples = []
    for split in ('train', 'test'):
        for folder in sorted(d for d in (root / split).iterdir()
                             if d.is_dir()):
            if folder.name not in index:
                raise ValueError(
                    f'{folder} is a test class without train images; every '
                    f'test class needs a folder in {root / "train"}.')
            samples += [
                Sample(str(p.relative_to(root)), index[folder.name], split)
                for p in sorted(folder.rglob('*'))
                if p.suffix.lower() in IMAGE_EXTENSIONS
            ]
    return Dataset(root, classes, samples)


def read_dataset(root: Path) -> Dataset:
    """Read ``--data`` in the CUB layout or as an ImageNet-style folder."""
    if all((root / name).is_file() for name in CUB_FILES):
        dataset = read_cub(root)
    elif (root / 'train').is_dir() and (root / 'test').is_dir():
        dataset = read_image_folder(root)
    else:
        raise ValueError(
            f'--data {root} is neither the CUB-200-2011 layout '
            f'({", ".join(CUB_FILES)}, images/) nor an ImageNet-style folder '
            '(train/<class>/*.jpg, test/<class>/*.jpg).')
    for split in ('train', 'test'):
        if not any(s.split == split for s in dataset.samples):
            raise ValueError(f'--data {root} has no {split} images.')
    return dataset


def carve_validation(samples: Sequence[Sample], fraction: float,
                     seed: int = 0) -> List[Sample]:
    """Move ``fraction`` of every class's train images to a ``val`` split.

    Each class keeps at least one train image and gives at least one to
    ``val`` when it has two or more. The choice depends on ``seed`` only.
    """
    rng = random.Random(seed)
    by_class: Dict[int, List[Sample]] = {}
    for s in samples:
        if s.split == 'train':
            by_class.setdefault(s.label, []).append(s)
    val = set()
    for label in sorted(by_class):
        items = sorted(by_class[label], key=lambda s: s.path)
        if len(items) < 2:
            continue
        count = min(len(items) - 1, max(1, round(fraction * len(items))))
        val.update(s.path for s in rng.sample(items, count))
    return [
        Sample(s.path, s.label, 'val') if s.path in val else s
        for s in samples
    ]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pre-train variants from one start and compare their '
        'frozen teacher features.')
    parser.add_argument('--data', required=True, type=Path,
                        help='CUB-200-2011 layout or ImageNet-style folder')
    parser.add_argument('--out', required=True, type=Path,
                        help='work folder: checkpoints, logs, caches')
    parser.add_argument('--results', type=Path,
                        default=Path(__file__).resolve().parents[1] / 'docs' /
                        'study',
                        help='per-run results and the tables (committed; a '
                        'run with a result here is skipped)')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=VARIANTS)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--init', choices=INITS, default='imagenet-lite0')
    parser.add_argument('--arch', choices=sorted(ARCHS),
                        default='effnet-lite0')
    parser.add_argument('--image-size', type=int, default=96,
                        help='global crop and evaluation size; local crops '
                        'are half of it')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--backbone-lr-mult', type=float, default=0.1,
                        help="backbone learning rate as a fraction of the "
                        "head's (continued pre-training)")
    parser.add_argument('--teacher-temp', type=float,
                        help='teacher temperature after the warm-up (which '
                        'starts at the config\'s start value; default: the '
                        'config\'s end value)')
    parser.add_argument('--num-prototypes', type=int,
                        help='K of the head (default: the config\'s)')
    parser.add_argument('--output-stride', type=int, choices=(16, 32),
                        help='16: dilate the last EfficientNet stages (timm '
                        '``output_stride``) for 4x as many regions per crop '
                        '(6x6 at 96 px instead of 3x3), same weights')
    parser.add_argument('--frozen-blocks', type=int, default=5,
                        help='EfficientNet blocks 0..N-1 (and the stem) stay '
                        'frozen when continuing from ImageNet weights')
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu',
                        help='feature-extraction device; training runs '
                        "where mmengine's runner puts it (CUDA if present)")
    parser.add_argument('--val-fraction', type=float, default=0.2)
    parser.add_argument('--final', action='store_true',
                        help='pre-train on the whole train split and '
                        'evaluate on the test split')
    parser.add_argument('--data-name',
                        help='dataset name in results.md (default: '
                        f'"{CUB50_NAME}" for cub50 folders, else the '
                        'folder name)')
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.image_size < 32 or args.batch_size < 2:
        parser.error('need --epochs >= 1, --image-size >= 32 and '
                     '--batch-size >= 2.')
    if not 0 < args.backbone_lr_mult <= 1 or not 0 <= args.frozen_blocks <= 7:
        parser.error('need 0 < --backbone-lr-mult <= 1 and 0 <= '
                     '--frozen-blocks <= 7.')
    if not 0 < args.val_fraction < 1:
        parser.error(f'--val-fraction must lie in (0, 1), got '
                     f'{args.val_fraction}.')
    if args.init == 'imagenet-lite0' and not ARCHS[args.arch].imagenet:
        parser.error(f'--init imagenet-lite0 needs --arch effnet-lite0, got '
                     f'--arch {args.arch}; use --init scratch.')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but torch sees no CUDA device.')
    return args


def setting_name(args: argparse.Namespace) -> str:
    """The recipe of a run as a folder name; non-default factors appended."""
    name = (f'{args.arch}_{args.init}_{args.image_size}px_'
            f'b{args.batch_size}_{args.epochs}e')
    if args.init == 'imagenet-lite0':
        if args.backbone_lr_mult != 0.1:
            name += f'_lr{args.backbone_lr_mult:g}'
        if args.frozen_blocks != 5:
            name += f'_frozen{args.frozen_blocks}'
    if args.teacher_temp is not None:
        name += f'_tt{args.teacher_temp:g}'
    if args.num_prototypes is not None:
        name += f'_k{args.num_prototypes}'
    if args.output_stride is not None:
        name += f'_os{args.output_stride}'
    return name


class Study:
    """Runs, caches and evaluates the (variant, seed) runs of one setting."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.arch = ARCHS[args.arch]
        self.protocol = 'test' if args.final else 'val'
        self.dataset = read_dataset(args.data)
        samples = self.dataset.samples
        if not args.final:
            samples = carve_validation(samples, args.val_fraction)
        self.samples = samples
        self.train_split = 'train'
        self.eval_split = self.protocol
        self.setting = setting_name(args)
        self.root = args.out / 'runs' / self.protocol / self.setting
        self.result_root = (args.results / 'runs' / self.protocol /
                            self.setting)
        self.device = torch.device(args.device)
        self._images: Optional[torch.Tensor] = None

    # -- data -------------------------------------------------------------
    def split(self, name: str) -> List[Sample]:
        return [s for s in self.samples if s.split == name]

    def ann_file(self) -> Path:
        """The pre-training image list (train split, without ``val``)."""
        path = self.args.out / 'splits' / f'{self.protocol}_pretrain.txt'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(''.join(f'{s.path}\n'
                                for s in self.split(self.train_split)))
        return path

    def images(self) -> torch.Tensor:
        """All train + eval images, ``(N, 3, S, S)`` uint8, cached on disk."""
        if self._images is None:
            size = self.args.image_size
            cache = (self.args.out / 'cache' /
                     f'{self.protocol}_images_{size}px.pt')
            wanted = self.split(self.train_split) + self.split(
                self.eval_split)
            if cache.is_file():
                stored = torch.load(cache, weights_only=True)
                if stored['paths'] == [s.path for s in wanted]:
                    self._images = stored['images']
            if self._images is None:
                self._images = torch.stack(
                    [self.load_image(s.path, size) for s in wanted])
                cache.parent.mkdir(parents=True, exist_ok=True)
                torch.save(dict(paths=[s.path for s in wanted],
                                images=self._images), cache)
        return self._images

    def load_image(self, path: str, size: int) -> torch.Tensor:
        with Image.open(self.dataset.image_root / path) as img:
            img = TF.resize(img.convert('RGB'), size,
                            interpolation=TF.InterpolationMode.BICUBIC)
            return TF.pil_to_tensor(TF.center_crop(img, size))

    # -- configs ----------------------------------------------------------
    def pretrained_weights(self) -> Path:
        """Converted ImageNet EfficientNet-Lite0 weights (made once)."""
        path = self.args.out / 'pretrained' / 'tf_efficientnet_lite0.pth'
        if not path.is_file():
            timm_model = 'tf_efficientnet_lite0'
            source = efficientnet_lite0_weight_path()
            reference = build_reference('efficientnet-pytorch',
                                        timm_model).state_dict()
            converted = convert_state_dict(load_source_state_dict(source),
                                           'efficientnet-pytorch', reference)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                make_checkpoint(converted, dict(
                    source=source.name, source_format='efficientnet-pytorch',
                    target=timm_model, key_prefix='')), path)
        return path

    def config(self, variant: str, seed: int, work_dir: Path) -> Config:
        """The variant's config with the study's shared overrides."""
        name = 'cmd' if variant == 'start' else variant
        path = CONFIGS / self.arch.configs.format(variant=name)
        if not path.is_file():
            path = CONFIGS / 'study' / path.name
        cfg = Config.fromfile(str(path))
        cfg.merge_from_dict(self.arch.overrides)
        if self.args.num_prototypes is not None:
            cfg.model.head.num_prototypes = self.args.num_prototypes
        if self.args.output_stride is not None:
            cfg.model.backbone.output_stride = self.args.output_stride
        args = self.args
        backbone = cfg.model.backbone
        hooks = [h for h in cfg.custom_hooks
                 if h['type'] != 'FreezeBackboneHook']
        if args.init == 'imagenet-lite0':
            backbone.init_cfg = dict(type='Pretrained',
                                     checkpoint=str(self.pretrained_weights()))
            hooks.append(dict(
                type='FreezeBackboneHook',
                frozen_prefixes=list(lite0_frozen_prefixes(
                    args.frozen_blocks)),
                norm_eval=True))
            cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult = \
                args.backbone_lr_mult
        else:
            backbone.init_cfg = None
            backbone.pop('bn_momentum', None)
        cfg.custom_hooks = hooks
        images = len(self.split(self.train_split))
        if images < args.batch_size:
            raise ValueError(f'{images} pre-training images are fewer than '
                             f'--batch-size {args.batch_size}.')
        iters = args.epochs * (images // args.batch_size)
        warmup = max(1, iters // 10)
        pipeline = cfg.train_dataloader.dataset.pipeline
        for transform in pipeline:
            if transform['type'] == 'CMDMultiCrop':
                transform.update(global_size=args.image_size,
                                 local_size=args.image_size // 2)
        cfg.train_dataloader = dict(
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            persistent_workers=False,
            drop_last=True,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='CustomDataset',
                         data_root='',
                         data_prefix=str(self.dataset.image_root),
                         ann_file=str(self.ann_file()),
                         with_label=False,
                         pipeline=pipeline))
        cfg.train_cfg = dict(type='EpochBasedTrainLoop',
                             max_epochs=args.epochs)
        # iteration-based, so a 1-epoch run still warms up and decays
        cfg.param_scheduler = [
            dict(type='LinearLR', start_factor=1e-2, by_epoch=False,
                 begin=0, end=warmup),
            dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False,
                 begin=warmup, end=max(iters, warmup + 1)),
        ]
        for hook in hooks:
            if hook['type'] == 'TeacherTemperatureHook':
                hook['warmup_epochs'] = 0.3 * args.epochs
                if args.teacher_temp is not None:
                    hook['end'] = args.teacher_temp
            elif hook['type'] == 'FreezePrototypesHook':
                hook['epochs'] = args.epochs // 10
        cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', interval=args.epochs, max_keep_ckpts=1,
            save_last=True)
        cfg.work_dir = str(work_dir)
        cfg.randomness = dict(seed=seed, diff_rank_seed=False)
        cfg.experiment_name = f'{variant}_seed{seed}_{uuid.uuid4().hex[:8]}'
        return cfg

    # -- runs -------------------------------------------------------------
    def run_dir(self, variant: str, seed: int) -> Path:
        return self.root / ('start' if variant == 'start' else
                            f'{variant}_seed{seed}')

    def run(self, variant: str, seed: int) -> dict:
        """Train (unless ``start``) and evaluate one run, or read its cache."""
        work_dir = self.run_dir(variant, seed)
        result_file = self.result_root / f'{work_dir.name}.json'
        if result_file.is_file():
            print(f'[study] {work_dir.name}: finished earlier, skipped')
            return json.loads(result_file.read_text())
        work_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.config(variant, seed, work_dir)
        start = time.time()
        if variant == 'start':
            state = self.initial_state(cfg)
        else:
            state = self.train(cfg)
        train_s = time.time() - start
        start = time.time()
        metrics, per_image = self.evaluate(cfg, state)
        result = dict(
            variant=variant,
            seed=None if variant == 'start' else seed,
            protocol=self.protocol,
            setting=self.setting,
            metrics=metrics,
            train_seconds=round(train_s, 1),
            eval_seconds=round(time.time() - start, 1),
            per_image=per_image,
            config=cfg.pretty_text)
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(json.dumps(result, indent=1))
        print(f'[study] {work_dir.name}: ' + ', '.join(
            f'{k} {v:.2f}' for k, v in metrics.items()))
        return result

    def initial_state(self, cfg: Config) -> Dict[str, torch.Tensor]:
        """State dict of the CMD model after ``init_weights``."""
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(cfg.model)
        model.init_weights()
        return model.state_dict()

    def train(self, cfg: Config) -> Dict[str, torch.Tensor]:
        """Pre-train with mmengine's runner; return the final state dict."""
        runner = Runner.from_cfg(cfg)
        runner.train()
        return {k: v.detach().cpu()
                for k, v in runner.model.state_dict().items()}

    # -- evaluation -------------------------------------------------------
    @torch.no_grad()
    def features(self, cfg: Config,
                 state: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Teacher features ``(N, C)`` of :meth:`images`."""
        backbone = dict(cfg.model.backbone, init_cfg=None)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            extractor = CMDFeatureExtractor(backbone=backbone,
                                            feature='avg', network='teacher')
        extractor.load_state_dict(state)
        extractor.to(self.device).eval()
        pre = cfg.model.get('data_preprocessor') or cfg.data_preprocessor
        mean = torch.tensor(pre.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(pre.std, device=self.device).view(1, 3, 1, 1)
        feats = []
        for batch in self.images().split(64):
            x = (batch.to(self.device).float() - mean) / std
            feats.append(extractor.extract_feat(x).float().cpu())
        return torch.cat(feats)

    def evaluate(self, cfg: Config, state: Dict[str, torch.Tensor]
                 ) -> Tuple[Dict[str, float], Dict[str, str]]:
        """Linear probe, k-NN, Rank-1 and mAP in percent, and per image
        whether the probe and the nearest neighbour were right (``'0'`` /
        ``'1'`` strings in evaluation-split order, for paired tests)."""
        feats = self.features(cfg, state)
        num_train = len(self.split(self.train_split))
        labels = torch.tensor([
            s.label for s in self.split(self.train_split) +
            self.split(self.eval_split)
        ])
        train_x, eval_x = feats[:num_train], feats[num_train:]
        train_y, eval_y = labels[:num_train], labels[num_train:]
        knn = weighted_knn_predict(train_x, train_y, eval_x, k=KNN_K,
                                   temperature=KNN_T)
        retrieval = leave_one_out_retrieval(eval_x, eval_y)
        linear = linear_probe_predict(train_x, train_y, eval_x,
                                      len(self.dataset.classes)) == eval_y
        metrics = dict(
            linear_top1=100 * linear.float().mean().item(),
            knn_top1=100 * (knn == eval_y).float().mean().item(),
            rank1=100 * retrieval['rank1'],
            mAP=100 * retrieval['mAP'])
        per_image = dict(
            linear_top1=linear,
            rank1=leave_one_out_nearest_hits(eval_x, eval_y))
        return metrics, {k: ''.join('1' if hit else '0' for hit in v.tolist())
                         for k, v in per_image.items()}


# -- reports ----------------------------------------------------------------
METRICS = (('linear_top1', 'Linear top-1'), ('knn_top1', 'k-NN top-1'),
           ('rank1', 'Rank-1'), ('mAP', 'mAP'))
PROTOCOLS = {
    'val': 'validation split ({fraction:.0%} of each class of the train '
    'split, fixed seed 0); pre-training, probe and k-NN memory use the rest '
    'of the train split',
    'test': 'official test split (final); pre-training, probe and k-NN '
    'memory use the whole train split',
}


def collect(results: Path) -> List[dict]:
    """Every finished run under ``results/runs``."""
    return [
        json.loads(p.read_text())
        for p in sorted((results / 'runs').glob('*/*/*.json'))
    ]


def mean_std(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.1f}'
    return f'{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}'


def write_reports(out: Path, data_name: str, val_fraction: float) -> None:
    """Write ``results.json`` and ``results.md`` from all finished runs."""
    runs = collect(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(json.dumps(
        dict(data=data_name, runs=runs), indent=1))
    lines = [
        f'# Study results on {data_name}', '',
        'Frozen teacher-backbone features (average-pooled last map). '
        'Linear top-1: L-BFGS logistic regression on standardised cached '
        f'features (L2 {PROBE_WEIGHT_DECAY}); k-NN top-1: weighted vote, '
        f'k = {KNN_K}, T = {KNN_T}; Rank-1 / mAP: leave-one-out retrieval '
        'among the evaluation images, cosine similarity. All in %, '
        'mean ± std over seeds (one number: one run).', ''
    ]
    groups: Dict[Tuple[str, str], Dict[str, List[dict]]] = {}
    for run in runs:
        key = (run['protocol'], run['setting'])
        groups.setdefault(key, {}).setdefault(run['variant'], []).append(run)
    for (protocol, setting), variants in sorted(groups.items()):
        lines += [
            f'## {setting}: {protocol}', '',
            'Evaluated on the ' +
            PROTOCOLS[protocol].format(fraction=val_fraction) + '.', '',
            '| variant | seeds | ' + ' | '.join(t for _, t in METRICS) +
            ' | train min |', '|---' * (len(METRICS) + 3) + '|'
        ]
        for variant in VARIANTS:
            if variant not in variants:
                continue
            found = variants[variant]
            seeds = ', '.join(
                '-' if r['seed'] is None else str(r['seed']) for r in found)
            cells = [
                mean_std([r['metrics'][key] for r in found])
                for key, _ in METRICS
            ]
            minutes = statistics.mean(r['train_seconds'] for r in found) / 60
            lines.append(f'| {variant} | {seeds} | ' + ' | '.join(cells) +
                         f' | {minutes:.1f} |')
        lines += [''] + paired_lines(variants)
    (out / 'results.md').write_text('\n'.join(lines))


PAIRED_METRICS = (('linear_top1', 'Linear top-1'), ('rank1', 'Rank-1'))


def paired_lines(variants: Dict[str, List[dict]]) -> List[str]:
    """Markdown rows of ``variant - dino``, paired by seed, with intervals.

    Per metric: the difference of each seed, and the difference of the seed
    means with its 95 % bootstrap interval over the evaluation images
    (:func:`paired_bootstrap`). Only runs that stored per-image results.
    """
    base = {r['seed']: r for r in variants.get('dino', []) if 'per_image' in r}
    rows = []
    for variant in VARIANTS:
        if variant in ('start', 'dino'):
            continue
        runs = [r for r in variants.get(variant, [])
                if 'per_image' in r and r['seed'] in base]
        if not runs:
            continue
        cells = []
        for key, _ in PAIRED_METRICS:
            per_seed = ', '.join(
                f"{r['metrics'][key] - base[r['seed']]['metrics'][key]:+.1f}"
                for r in runs)
            hits = [torch.tensor([c == '1' for c in r['per_image'][key]])
                    for r in runs]
            base_hits = [torch.tensor(
                [c == '1' for c in base[r['seed']]['per_image'][key]])
                for r in runs]
            diff, low, high = paired_bootstrap(torch.stack(hits),
                                               torch.stack(base_hits))
            cells.append(f'{per_seed} | {diff:+.1f} [{low:+.1f}, {high:+.1f}]')
        seeds = ', '.join(str(r['seed']) for r in runs)
        rows.append(f'| {variant} - dino | {seeds} | ' + ' | '.join(cells) +
                    ' |')
    if not rows:
        return []
    header = ' | '.join(f'{title} per seed | {title} mean [95 % CI]'
                        for _, title in PAIRED_METRICS)
    return [
        'Paired with `dino` of the same seed (percentage points; the '
        'interval resamples the evaluation images, 2,000 bootstrap draws):',
        '', f'| difference | seeds | {header} |',
        '|---' * (2 + 2 * len(PAIRED_METRICS)) + '|'
    ] + rows + ['']


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        study = Study(args)
    except (OSError, ValueError) as err:
        sys.exit(f'study.py: error: {err}')
    data_name = args.data_name or (CUB50_NAME if 'cub50' in str(
        args.data.resolve()).lower() else args.data.resolve().name)
    args.out.mkdir(parents=True, exist_ok=True)
    for variant in args.variants:
        seeds = [args.seeds[0]] if variant == 'start' else args.seeds
        for seed in seeds:
            study.run(variant, seed)
            write_reports(args.results, data_name, args.val_fraction)
    write_reports(args.results, data_name, args.val_fraction)
    print(f'[study] wrote {args.results / "results.md"}')


if __name__ == '__main__':
    main()
