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

from cmd_plugin.apis.preflight import check_checkpoint
from cmd_plugin.models.utils.cmd_checkpoint import (NETWORKS,
                                                    checkpoint_layout,
                                                    select_network)
from cmd_plugin.utils.checkpoint_conversion import make_checkpoint
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


def extract_backbone(checkpoint: dict, network: str, source: str) -> dict:
    """Build the backbone-only checkpoint.

    Args:
        checkpoint (dict): A loaded mmengine checkpoint (or bare state dict).
        network (str): ``'teacher'`` or ``'student'``.
        source (str): Name of the source file, kept in ``meta``.

    Returns:
        dict: ``{'state_dict': backbone weights, 'meta': provenance}``.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    if checkpoint_layout(state_dict) == 'backbone':
        raise ValueError(
            f'{source} has no backbone.* or teacher.backbone.* keys (its '
            f'top-level names are '
            f'{sorted({k.split(".")[0] for k in state_dict})}); it is not '
            'a CMD (or other model) checkpoint.')
    weights, _ = select_network(state_dict, network, ['backbone'],
                                '--network')
    weights = {k[len('backbone.'):]: v for k, v in weights.items()}
    meta = dict(source=source, network=network, key_prefix='',
                converter='tools/extract_backbone.py')
    source_meta = checkpoint.get('meta')
    if isinstance(source_meta, dict):
        meta.update({key: source_meta[key] for key in ('epoch', 'iter')
                     if isinstance(source_meta.get(key), int)})
    return make_checkpoint(weights, meta)


def main(argv=None) -> None:
    args = parse_args(argv)
    with exit_on_user_error(
            'extract_backbone.py', args.debug,
            errors=(UserError, pickle.UnpicklingError, ValueError)):
        check_checkpoint(args.checkpoint, 'CHECKPOINT')
        checkpoint = extract_backbone(
            load_checkpoint_safely(args.checkpoint), args.network,
            Path(args.checkpoint).name)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    print(f'Saved the {args.network} backbone ({len(checkpoint["state_dict"])}'
          f' tensors) of {args.checkpoint} to {out}')


if __name__ == '__main__':
    main()
