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
from pathlib import Path

import torch

from cmd_plugin.study import ARCHS, INITS, VARIANTS, Recipe, StudySetting
from cmd_plugin.utils.user_errors import (UserError, add_debug_argument,
                                          exit_on_user_error)

ROOT = Path(__file__).resolve().parents[1]
CUB50_NAME = 'CUB-50 subset (cropped)'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pre-train variants from one start and compare their '
        'frozen teacher features.')
    parser.add_argument('--data', required=True, type=Path,
                        help='CUB-200-2011 layout or ImageNet-style folder')
    parser.add_argument('--out', required=True, type=Path,
                        help='work folder: checkpoints, logs, caches')
    parser.add_argument('--results', type=Path,
                        default=ROOT / 'docs' / 'study',
                        help='per-run results and the tables (committed; a '
                        'run with a result here is skipped)')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=VARIANTS)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--epochs', type=int, default=Recipe.epochs)
    parser.add_argument('--init', choices=INITS, default=Recipe.init)
    parser.add_argument('--arch', choices=sorted(ARCHS),
                        default=Recipe.arch)
    parser.add_argument('--image-size', type=int, default=Recipe.image_size,
                        help='global crop and evaluation size; local crops '
                        'are half of it')
    parser.add_argument('--batch-size', type=int,
                        default=Recipe.batch_size)
    parser.add_argument('--backbone-lr-mult', type=float,
                        default=Recipe.backbone_lr_mult,
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
    parser.add_argument('--frozen-blocks', type=int,
                        default=Recipe.frozen_blocks,
                        help='EfficientNet blocks 0..N-1 (and the stem) stay '
                        'frozen when continuing from ImageNet weights')
    parser.add_argument('--num-workers', type=int,
                        default=Recipe.num_workers)
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
    add_debug_argument(parser)
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


def recipe_of(args: argparse.Namespace) -> Recipe:
    """The :class:`Recipe` that the flags describe."""
    return Recipe(arch=args.arch, init=args.init, image_size=args.image_size,
                  batch_size=args.batch_size, epochs=args.epochs,
                  backbone_lr_mult=args.backbone_lr_mult,
                  frozen_blocks=args.frozen_blocks,
                  teacher_temp=args.teacher_temp,
                  num_prototypes=args.num_prototypes,
                  output_stride=args.output_stride,
                  num_workers=args.num_workers)


def main(argv=None) -> None:
    args = parse_args(argv)
    with exit_on_user_error('study.py', args.debug,
                            errors=(UserError, OSError, ValueError)):
        setting = StudySetting(args.data, args.out, args.results,
                               recipe_of(args), final=args.final,
                               val_fraction=args.val_fraction,
                               device=args.device)
    data_name = args.data_name or (CUB50_NAME if 'cub50' in str(
        args.data.resolve()).lower() else args.data.resolve().name)
    setting.run_all(args.variants, args.seeds, data_name)
    print(f'[study] wrote {args.results / "results.md"}')


if __name__ == '__main__':
    main()
