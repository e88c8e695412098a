"""Figures of spatial weight maps (MIL weights, attention) over images.

Every map is drawn *relative to uniform*: a map ``a`` over ``N`` cells that
sums to 1 is shown as ``N * a_i``, so a uniform map is 1 everywhere and
looks flat, a cell at 4 holds four times its uniform share, one at 1/4 a
quarter of it. All panels of a figure share one logarithmic colour scale,
centred on 1 (white), with one colorbar on which the uniform level is
marked. Optional boxes (e.g. the key parts of ``SyntheticFineGrained``)
are outlined on every panel.
"""
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

Box = Tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
#: Colour of the box outlines.
BOX_COLOUR = '#00e000'


def relative_weights(weights: np.ndarray) -> np.ndarray:
    """``N * a_i``: a weight map relative to the uniform ``1 / N``.

    Args:
        weights (np.ndarray): ``(h, w)`` non-negative weights; they are
            normalised to sum to 1 first.

    Returns:
        np.ndarray: ``(h, w)`` float, 1 where a cell has its uniform share.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f'a weight map must be (h, w), got shape '
                         f'{weights.shape}.')
    total = weights.sum()
    if not np.isfinite(total) or total <= 0 or (weights < 0).any():
        raise ValueError('a weight map must be non-negative with a positive, '
                         'finite sum.')
    return weights * (weights.size / total)


def colour_range(maps: Sequence[np.ndarray], low: float = 2.0) -> float:
    """The shared scale ``r``: colours span ``[1 / r, r]``.

    ``r`` is the largest relative weight of any cell of the relative
    ``maps`` (where the maps look), at least ``low`` (a near-uniform figure
    is not stretched into strong colours) and at most the largest ``N``;
    cells below ``1 / r`` take the end colour.
    """
    if not maps:
        return low
    ratio = max(float(np.max(m)) for m in maps)
    return float(np.clip(ratio, low, max(max(m.size for m in maps), low)))


def plot_weight_maps(images: Sequence[np.ndarray],
                     columns: Sequence[Tuple[str, Sequence[np.ndarray]]],
                     path: Path,
                     boxes: Optional[Sequence[Sequence[Box]]] = None,
                     row_labels: Optional[Sequence[str]] = None,
                     title: Optional[str] = None,
                     panel_inches: float = 2.2) -> Path:
    """One row per image: the image, then one relative map per column.

    Each map panel shows the image in grey under the relative weights
    (:func:`relative_weights`), drawn cell by cell (the granularity the
    network works at) on a logarithmic scale shared by the whole figure;
    one colorbar on the right marks the uniform level 1 (= ``1/N``).

    Args:
        images (Sequence[np.ndarray]): ``(H, W, 3)`` uint8 RGB images.
        columns (Sequence[tuple[str, Sequence[np.ndarray]]]): ``(title,
            maps)``: one ``(h, w)`` weight map per image (any positive
            scale; normalised per map).
        path (Path): The PNG to write.
        boxes (Sequence[Sequence[Box]], optional): Per image, boxes
            ``(x1, y1, x2, y2)`` in its pixels (``x2`` / ``y2`` exclusive),
            outlined on every panel of its row. Defaults to None.
        row_labels (Sequence[str], optional): A label per image, under it.
        title (str, optional): Figure title.
        panel_inches (float): Side of one panel. Defaults to 2.2.

    Returns:
        Path: ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    for name, maps in columns:
        if len(maps) != len(images):
            raise ValueError(f'column {name!r} has {len(maps)} maps for '
                             f'{len(images)} images.')
    relative = [[relative_weights(m) for m in maps] for _, maps in columns]
    scale = colour_range([m for col in relative for m in col])
    norm = LogNorm(vmin=1 / scale, vmax=scale)
    rows, cols = len(images), 1 + len(columns)
    fig, axes = plt.subplots(
        rows, cols, squeeze=False, layout='constrained',
        figsize=(panel_inches * cols + 1.1, panel_inches * rows + 0.4 +
                 0.3 * bool(title)))
    mappable = None
    for r, image in enumerate(images):
        height, width = image.shape[:2]
        grey = np.repeat(image.mean(axis=2, keepdims=True), 3,
                         axis=2).astype(np.uint8)
        panels = [(image, None, 'image')] + [
            (grey, relative[c][r], name)
            for c, (name, _) in enumerate(columns)
        ]
        for c, (background, values, name) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(background, extent=(0, width, height, 0))
            if values is not None:
                mappable = ax.imshow(
                    np.clip(values, 1 / scale, scale), cmap='RdBu_r',
                    norm=norm, alpha=0.75, interpolation='nearest',
                    extent=(0, width, height, 0))
                ax.set_xlabel(f'{values.shape[0]}x{values.shape[1]} cells, '
                              f'max {values.max():.1f}x', fontsize=7,
                              labelpad=2)
            for x1, y1, x2, y2 in (boxes[r] if boxes else ()):
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1,
                                       fill=False, edgecolor=BOX_COLOUR,
                                       linewidth=1.2))
            ax.set_xlim(0, width)
            ax.set_ylim(height, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
        if row_labels:
            axes[r, 0].set_xlabel(row_labels[r], fontsize=7, labelpad=2)
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=axes, pad=0.02,
                           shrink=min(1.0, 0.5 + 0.2 * rows))
        ticks = [t for t in (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16)
                 if 1 / scale <= t <= scale]
        bar.ax.minorticks_off()
        bar.set_ticks(ticks)
        bar.set_ticklabels([f'{t:g}' if t >= 1 else f'1/{1 / t:g}'
                            for t in ticks])
        bar.ax.axhline(1.0, color='black', linewidth=1.5)
        bar.ax.tick_params(labelsize=7)
        bar.set_label('weight / uniform weight (N·a); 1 = uniform (1/N)',
                      fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
