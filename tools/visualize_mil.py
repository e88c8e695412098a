"""Overlay the MIL instance weights of a CMD checkpoint on images.

    python tools/visualize_mil.py CONFIG CHECKPOINT --images IMG [IMG ...]
        --out DIR [--network teacher|student] [--size N]

CONFIG is the pre-training config of the checkpoint (it builds the ``CMD``
model; the checkpoint is loaded strictly through mmengine's loader). For
every image the tool writes ``DIR/<image name>.png``: the image resized to
``N x N``, the MIL instance weights ``a_i`` of the chosen network's
``backbone + neck`` over the region grid and, for a VisionTransformer
backbone, the last block's class-token attention over the patches (averaged
over heads) for comparison. Swin and ResNet backbones have no class token:
their figure shows the image and the MIL weights.

The maps are drawn cell by cell (no smoothing), at the granularity the
network works at: MIL regions (e.g. 4x4 for a 64 px crop of a stride-16
ResNet, 7x7 for ViT-S/16 or Swin-T at 224) and ViT patches. Each map is
shown relative to uniform (``N * a_i``: 1 = the uniform ``1/N``) on one
logarithmic colour scale per figure with a colorbar (white = uniform), so
a uniform map looks flat. A MIL neck with ``attention='none'`` (the DINO
baseline) has uniform weights by construction: its panel is left out and
the title says so.
"""
import argparse
import os.path as osp

import cmd_plugin  # noqa: F401  (registers CMD, MILNeck, ...)
from cmd_plugin.apis import NETWORKS, visualize
from cmd_plugin.apis.preflight import check_checkpoint
from cmd_plugin.utils.user_errors import (UserError, add_debug_argument,
                                          exit_on_user_error)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Overlay the MIL instance weights (and, for ViTs, the '
        'last-layer cls attention) of a CMD checkpoint on images.')
    parser.add_argument('config', metavar='CONFIG',
                        help='pre-training config of the checkpoint')
    parser.add_argument('checkpoint', metavar='CHECKPOINT',
                        help='CMD pre-training checkpoint')
    parser.add_argument('--images', nargs='+', required=True,
                        help='image files')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--network', choices=NETWORKS, default='teacher',
                        help='whose backbone and neck to show '
                        '(default: teacher)')
    parser.add_argument(
        '--size', type=int,
        help='side the images are resized to (default: the global crop '
        'size of the config\'s CMDMultiCrop, else 224)')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def check_inputs(args: argparse.Namespace) -> None:
    """Check the files the command line names before building anything.

    Raises:
        UserError: The config, the checkpoint or some images do not exist;
            the message names the argument.
    """
    if not osp.isfile(args.config):
        raise UserError(f'CONFIG: config file {args.config!r} does not '
                        'exist.')
    check_checkpoint(args.checkpoint, 'CHECKPOINT')
    missing = [path for path in args.images if not osp.isfile(path)]
    if missing:
        raise UserError(f'--images: {len(missing)} of {len(args.images)} '
                        f'image files do not exist: {missing}.')


def main(argv=None) -> list:
    args = parse_args(argv)
    with exit_on_user_error('visualize_mil.py', args.debug):
        check_inputs(args)
        written = visualize(args.config, args.checkpoint, args.images,
                            args.out, args.network, args.size)
    print(f'Wrote {len(written)} figures to {args.out}')
    return written


if __name__ == '__main__':
    main()
