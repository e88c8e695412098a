"""The study's tables: ``results.json`` and ``results.md`` from run files.

Per setting and protocol: mean ± std per variant over seeds, and each
variant minus ``dino`` paired by seed with a bootstrap interval over the
evaluation images.
"""
import json
import statistics
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch

from ..evaluation.frozen_features import KNN_K, KNN_T
from ..evaluation.linear_probe import PROBE_WEIGHT_DECAY
from ..evaluation.paired_bootstrap import paired_bootstrap
from .recipe import VARIANTS

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
