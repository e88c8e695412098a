"""Write the teacher's (or student's) backbone of a CMD checkpoint alone.

    python tools/extract_backbone.py CHECKPOINT OUT [--network teacher|student]

CHECKPOINT is a CMD pre-training checkpoint (``teacher.backbone.*`` and the
student's ``backbone.*`` keys) or another model's checkpoint with
``backbone.*`` keys (``--network student``). OUT gets
``{'state_dict': ..., 'meta': ...}`` with the backbone's own keys (no
``backbone.`` prefix), the layout of ``tools/convert_pretrained.py``: load it
with ``model.init_cfg=dict(type='CMDPretrained', checkpoint=OUT)``,
``model.backbone.init_cfg=dict(type='Pretrained', checkpoint=OUT)`` or as the
checkpoint of a ``CMDFeatureExtractor`` config.
"""
import argparse
import pickle
from pathlib import Path

import torch

from cmd_plugin.apis import NETWORKS
from cmd_plugin.apis.preflight import check_checkpoint
from cmd_plugin.models.utils.cmd_checkpoint import backbone_checkpoint
from cmd_plugin.utils.checkpoint_safety import load_checkpoint_safely
from cmd_plugin.utils.user_errors import (UserError, add_debug_argument,
                                          exit_on_user_error)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract the backbone of a CMD checkpoint (mmpretrain '
        'backbone keys, no "backbone." prefix).')
    parser.add_argument('checkpoint', metavar='CHECKPOINT',
                        help='CMD pre-training checkpoint')
    parser.add_argument('out', help='output .pth file')
    parser.add_argument('--network', default='teacher', choices=NETWORKS,
                        help='which network\'s backbone (default: teacher)')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with exit_on_user_error(
            'extract_backbone.py', args.debug,
            errors=(UserError, pickle.UnpicklingError, ValueError)):
        check_checkpoint(args.checkpoint, 'CHECKPOINT')
        checkpoint = backbone_checkpoint(
            load_checkpoint_safely(args.checkpoint), args.network,
            Path(args.checkpoint).name, '--network')
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    print(f'Saved the {args.network} backbone ({len(checkpoint["state_dict"])}'
          f' tensors) of {args.checkpoint} to {out}')


if __name__ == '__main__':
    main()
