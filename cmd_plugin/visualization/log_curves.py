"""Training curves from mmengine's ``vis_data/scalars.json`` logs."""
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

#: Curves of one run: key -> (iterations, values).
Curves = Dict[str, Tuple[List[int], List[float]]]

#: The ``diag/`` signals that tell learning from collapse, in plot order.
DIAGNOSTIC_KEYS = ('loss', 'diag/teacher_entropy_img', 'diag/kl_img',
                   'diag/teacher_entropy_reg', 'diag/kl_reg', 'diag/kl_inter',
                   'diag/mil_effective_share',
                   'diag/teacher_student_distance')


def find_scalars(path: Path) -> Path:
    """The ``scalars.json`` of a work dir (its newest run) or the file itself.

    Raises:
        FileNotFoundError: naming ``path`` when it holds no such log.
    """
    path = Path(path)
    if path.is_file():
        return path
    found = sorted(path.glob('*/vis_data/scalars.json')) + sorted(
        path.glob('vis_data/scalars.json'))
    if not found:
        raise FileNotFoundError(
            f'{path}: no vis_data/scalars.json in this folder or its '
            'timestamped sub-folders; pass a training work dir.')
    return found[-1]


def read_curves(path: Path) -> Curves:
    """Every numeric training scalar of a log, by iteration.

    Args:
        path (Path): A work dir or a ``scalars.json`` file (one JSON object
            per line, with an ``iter`` field; lines without ``iter``, such as
            validation results, are skipped).

    Returns:
        dict: key -> (iterations, values), in log order.
    """
    curves: Curves = {}
    for line in find_scalars(path).read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if 'iter' not in record:
            continue
        for key, value in record.items():
            if key in ('iter', 'epoch', 'step') or not isinstance(
                    value, (int, float)):
                continue
            iters, values = curves.setdefault(key, ([], []))
            iters.append(int(record['iter']))
            values.append(float(value))
    return curves


def merge_curves(parts: Sequence[Curves]) -> Curves:
    """Join the curves of consecutive logs of one run (e.g. a resumed one).

    Args:
        parts (Sequence[Curves]): Curves in log order; where two hold the
            same iteration of a key, the later one wins.

    Returns:
        dict: key -> (iterations, values), sorted by iteration.
    """
    merged: Dict[str, Dict[int, float]] = {}
    for curves in parts:
        for key, (iters, values) in curves.items():
            merged.setdefault(key, {}).update(zip(iters, values))
    return {
        key: (sorted(points), [points[i] for i in sorted(points)])
        for key, points in merged.items()
    }


def plot_curves(runs: Dict[str, Curves], keys: Sequence[str], out: Path,
                title: Optional[str] = None,
                reference: Optional[Dict[str, float]] = None,
                spans: Optional[Dict[str, Tuple[float, float]]] = None,
                notes: Optional[Dict[str, str]] = None,
                columns: int = 4) -> Path:
    """One panel per key, one line per run; save a PNG.

    Args:
        runs (dict): label -> curves of that run (:func:`read_curves`).
        keys (Sequence[str]): Keys to draw; a key no run has is an error.
        out (Path): PNG file to write.
        title (str, optional): Figure title.
        reference (dict, optional): key -> a horizontal reference line
            (e.g. ``ln K`` on the entropy panels), drawn dashed and labelled.
        spans (dict, optional): label -> ``(first, last)`` iterations
            shaded on every panel (e.g. the learning-rate warm-up), labelled
            in the first panel's legend.
        notes (dict, optional): key -> a line under the panel's title
            saying what the curve is.
        columns (int): Panels per row, at most. Defaults to 4.

    Returns:
        Path: ``out``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    missing = [k for k in keys if not any(k in c for c in runs.values())]
    if missing:
        known = sorted({k for c in runs.values() for k in c})
        raise KeyError(f'--keys {missing} are in none of the logs; '
                       f'available: {known}')
    columns = min(columns, len(keys))
    rows = math.ceil(len(keys) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns,
                                                     2.8 * rows),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for index, (label, (first, last)) in enumerate((spans or {}).items()):
            ax.axvspan(first, last, color=f'C{7 + index % 3}', alpha=0.15,
                       label=label)
        for index, (label, curves) in enumerate(runs.items()):
            if key in curves:  # one colour per run, on every panel
                ax.plot(*curves[key], label=label, linewidth=1.2,
                        color=f'C{index % 10}')
        if reference and key in reference:
            ax.axhline(reference[key], color='grey', linestyle='--',
                       linewidth=0.8, label='ln K')
        note = (notes or {}).get(key)
        ax.set_title(f'{key}\n{note}' if note else key, fontsize=9)
        ax.set_xlabel('iteration', fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
