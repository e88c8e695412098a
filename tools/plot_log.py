"""Draw training curves (losses, ``diag/`` signals) of one or more runs.

    python tools/plot_log.py WORK_DIR [WORK_DIR ...] [--labels A B]
        [--keys loss diag/kl_img ...] [--prototypes K] [--out curves.png]

Each ``WORK_DIR`` is a training work dir (its newest ``vis_data/
scalars.json`` is read) or a ``scalars.json`` file. Without ``--keys`` the
training-health set is drawn (:data:`DIAGNOSTIC_KEYS`, those present).
``--prototypes K`` draws ``ln K`` (a uniform distribution's entropy) on the
entropy panels. mmpretrain's ``tools/analysis_tools/analyze_logs.py`` is not
installed with the package and reads one key per call, hence this tool.
"""
import argparse
import math
import sys
from pathlib import Path

from cmd_plugin.visualization import DIAGNOSTIC_KEYS, plot_curves, read_curves


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('runs', nargs='+', type=Path,
                        help='work dirs or scalars.json files')
    parser.add_argument('--labels', nargs='+',
                        help='one legend label per run (default: folder name)')
    parser.add_argument('--keys', nargs='+', help='scalars to draw')
    parser.add_argument('--prototypes', type=int,
                        help='K: draw ln K on the entropy panels')
    parser.add_argument('--title')
    parser.add_argument('--out', type=Path, default=Path('curves.png'))
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.runs):
        parser.error(f'--labels gives {len(args.labels)} labels for '
                     f'{len(args.runs)} runs.')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    labels = args.labels or [p.resolve().name for p in args.runs]
    try:
        runs = {label: read_curves(path)
                for label, path in zip(labels, args.runs)}
        keys = args.keys or [
            k for k in DIAGNOSTIC_KEYS if any(k in c for c in runs.values())
        ]
        reference = None
        if args.prototypes:
            reference = {k: math.log(args.prototypes)
                         for k in keys if 'entropy' in k}
        out = plot_curves(runs, keys, args.out, args.title, reference)
    except (OSError, KeyError, ValueError) as err:
        print(f'plot_log.py: error: {err}', file=sys.stderr)
        sys.exit(2)
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
