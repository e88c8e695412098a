"""The demo's summary, verdict, figures and ``report.md``."""
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpretrain.registry import DATASETS
from ..apis import build_model, network_modules
from ..evaluation.localisation import box_masks, mass_in_masks
from ..visualization import (instance_maps, merge_curves, plot_curves,
                             plot_weight_maps, preprocess, read_curves)
from .plan import LABELS, METHODS, DemoPlan
from .steps import format_duration, read_json

#: summary.json field -> metric key of ``tools/test.py --out``.
METRIC_KEYS = {'knn_top1': 'knn/top1', 'rank1': 'retrieval/loo/rank1',
               'map': 'retrieval/loo/mAP', 'linear_top1': 'linear/top1'}


def learned(summary: dict, method: str) -> bool:
    """Whether ``method``'s k-NN top-1 and Rank-1 are both at least twice
    chance and at least 10 points above the untrained network's."""
    untrained, scores = summary['random'], summary[method]
    return all(
        scores[key] is not None and scores[key] >= 2 * summary['chance']
        and scores[key] >= untrained[key] + 10 for key in ('knn_top1', 'rank1'))


def verdict(summary: dict) -> str:
    """The report's opening sentences, computed from ``summary``.

    Says which self-supervised methods learned (:func:`learned`), by how
    much, how CMD compares with DINO, whether CMD's MIL weights found the
    key parts and what the supervised reference reaches.

    Args:
        summary (dict): As written to ``summary.json`` (values in %).

    Returns:
        str: One paragraph.
    """
    ssl = [m for m in ('dino', 'cmd') if learned(summary, m)]
    if len(ssl) == 2:
        head = 'Both DINO and CMD learned features that tell the classes apart'
    elif ssl:
        head = (f'Only {LABELS[ssl[0]]} learned features that tell the '
                'classes apart')
    else:
        head = ('Neither DINO nor CMD learned features that clearly tell the '
                'classes apart')
    head += (' (the bar: k-NN top-1 and Rank-1 both at least twice chance '
             'and 10 points above the untrained network)')
    numbers = ', '.join(
        f'{LABELS[m]} {summary[m]["knn_top1"]:.1f} / {summary[m]["rank1"]:.1f}'
        for m in ('random', 'dino', 'cmd'))
    text = (f'{head}: k-NN top-1 / Rank-1 {numbers} % (chance '
            f'{summary["chance"]:.1f} %). ')
    gaps = {key: summary['cmd'][key] - summary['dino'][key]
            for key in ('knn_top1', 'rank1')}
    numbers = (f'{gaps["knn_top1"]:+.1f} k-NN top-1 and {gaps["rank1"]:+.1f} '
               'Rank-1 points (one seed)')
    if all(abs(gap) < 1 for gap in gaps.values()):
        text += f'CMD and DINO are level: {numbers}. '
    elif min(gaps.values()) >= 0:
        text += f'CMD is ahead of DINO by {numbers}. '
    elif max(gaps.values()) <= 0:
        text += f'CMD is behind DINO by {numbers}. '
    else:
        text += f'CMD against DINO is mixed: {numbers}. '
    share = summary['cmd']['key_part_share']
    uniform = summary['uniform_key_part_share']
    if share is not None:
        ratio = share / uniform
        found = ('found the key parts' if ratio >= 2 else
                 'lean towards the key parts' if ratio >= 1.25 else
                 'did not find the key parts')
        text += (f"CMD's MIL weights {found}: {share:.1f} % of their mass "
                 f"lies on the parts' boxes, {ratio:.1f}x the {uniform:.1f} % "
                 'of a uniform map. ')
    ceiling = summary['supervised']
    text += (f'The supervised reference (same backbone and iterations, with '
             f'labels) reaches {ceiling["knn_top1"]:.1f} / '
             f'{ceiling["rank1"]:.1f}.')
    return text


def test_images(plan: DemoPlan):
    """The evaluation's test split, generated without a pipeline."""
    cfg = Config.fromfile(str(plan.eval_config))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(
            dict(cfg.test_dataloader.dataset.test, pipeline=[]))


def where_networks_look(plan: DemoPlan, dataset, indices: Sequence[int]):
    """Teacher maps of the random init, DINO and CMD on test images.

    Args:
        plan (DemoPlan): The demo plan (checkpoints must exist).
        dataset (SyntheticFineGrained): The test split, no pipeline.
        indices (Sequence[int]): The images.

    Returns:
        tuple: RGB images ``(B, H, W, 3)``, their key-part boxes, and per
        method (``'random'``, ``'dino'``, ``'cmd'``) the
        ``InstanceMaps`` (MIL weights; cls attention for a ViT) and
        whether its MIL weights are uniform by construction.
    """
    rendered = [dataset.render(i) for i in indices]
    images_bgr = np.stack([image for image, _ in rendered])
    boxes = [[part.box for part in parts] for _, parts in rendered]
    maps = {}
    for method in ('random', 'dino', 'cmd'):
        config = plan.train_configs['dino' if method == 'dino' else 'cmd']
        model = build_model(Config.fromfile(str(config)),
                            str(plan.checkpoint(method)))
        backbone, neck = network_modules(model, 'teacher')
        maps[method] = (instance_maps(backbone, neck,
                                      preprocess(model, images_bgr)),
                        neck.attention == 'none')
    return images_bgr[..., ::-1], boxes, maps


def plot_training(plan: DemoPlan, path: Path) -> Path:
    """The loss terms and the teacher's health signals of both runs, the
    learning-rate warm-up shaded."""
    runs = {
        LABELS[m]: merge_curves([
            read_curves(p)
            for p in sorted(plan.train_dir(m).glob('*/vis_data/scalars.json'))
        ])
        for m in ('dino', 'cmd')
    }
    cfg = Config.fromfile(str(plan.train_configs['cmd']),
                          import_custom_modules=False)
    per_epoch = (cfg.train_dataloader.dataset.num_classes *
                 cfg.train_dataloader.dataset.num_per_class //
                 cfg.train_dataloader.batch_size)
    warmup = next((s['end'] for s in cfg.param_scheduler
                   if s['type'] == 'LinearLR'), 0) * per_epoch
    notes = {
        'loss_img': 'image level: student crops vs teacher',
        'loss_reg': 'region level, MIL-weighted (CMD)',
        'loss_inter': 'bag vs image, across levels (CMD)',
        'diag/teacher_entropy_img': 'teacher targets; ln K = uniform',
        'diag/kl_img': 'image term minus teacher entropy',
        'diag/mil_effective_share': 'regions MIL uses / all (1 = uniform)',
    }
    return plot_curves(
        runs, list(notes), path, spans={'lr warm-up': (0, warmup)},
        notes=notes, columns=3, reference={
            'diag/teacher_entropy_img': math.log(
                cfg.model.head.num_prototypes)})


def _percent(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.1f}'


def write_report(plan: DemoPlan,
                 num_images: int = 4,
                 num_localisation: int = 100) -> Path:
    """Write ``summary.json``, ``report.md`` and their figures.

    Reads the metrics jsons, the training logs and, when present, the step
    timings (:attr:`DemoPlan.timings`) of ``plan``; writes ``summary.json``,
    ``training_curves.png``, ``mil_weights.png`` and ``report.md`` under
    ``plan.work_dir``.

    Args:
        plan (DemoPlan): The demo plan; the checkpoints and metrics must
            exist.
        num_images (int): Test images in the figure, one per class.
            Defaults to 4.
        num_localisation (int): Test images of the key-part share.
            Defaults to 100.

    Returns:
        Path: ``summary.json``.
    """
    started = time.monotonic()
    work_dir = plan.work_dir
    dataset = test_images(plan)
    shown = [c * dataset.num_per_class
             for c in range(min(num_images, dataset.num_classes))]
    picks = torch.randperm(len(dataset), generator=torch.Generator(
    ).manual_seed(0))[:num_localisation].tolist()
    images, boxes, maps = where_networks_look(plan, dataset, shown + picks)
    masks = box_masks(boxes[len(shown):], *images.shape[1:3])

    summary = {}
    for method in METHODS:
        metrics = read_json(plan.metrics(method))
        summary[method] = {
            name: metrics.get(key) for name, key in METRIC_KEYS.items()}
        summary[method]['key_part_share'] = (
            100 * mass_in_masks(maps[method][0].mil[len(shown):],
                                masks).mean().item()
            if method in maps else None)
    summary['uniform_key_part_share'] = 100 * masks.float().mean().item()
    summary['chance'] = 100 / dataset.num_classes
    timings = read_json(plan.timings)
    summary['wall_time_s'] = round(
        sum(v for k, v in timings.items() if k != 'write report') +
        time.monotonic() - started, 1)

    # figure: one test image per class, trained CMD vs its initialisation
    columns = [('CMD teacher MIL weights', maps['cmd'][0].mil),
               ('CMD MIL weights before training', maps['random'][0].mil)]
    for method in ('dino', 'cmd'):
        if maps[method][0].cls_attention is not None:
            columns.append((f'{LABELS[method]} last-layer cls attention',
                            maps[method][0].cls_attention))
    figure = plot_weight_maps(
        images[:len(shown)],
        [(name, [m.numpy() for m in values[:len(shown)]])
         for name, values in columns],
        work_dir / 'mil_weights.png', boxes=boxes[:len(shown)],
        row_labels=[f'test image {i}, class {i // dataset.num_per_class}'
                    for i in shown],
        title='green: key-part boxes. DINO has no MIL weights (uniform by '
        'construction): no DINO panel')
    curves = plot_training(plan, work_dir / 'training_curves.png')

    lines = [
        '# CMD vs DINO on SyntheticFineGrained (`make demo`)', '',
        '**Verdict.** ' + verdict(summary), '',
        f'Measured by `tools/demo.py` on {time.strftime("%Y-%m-%d %H:%M")}, '
        f'{os.cpu_count()} CPUs ({platform.machine()}), torch '
        f'{torch.__version__}. A smoke test of the mechanism on synthetic '
        'data, not a benchmark: see `docs/demo.md` for the setup.', '',
        '## Results (test split, frozen backbone, %)', '',
        '| training | k-NN top-1 | Rank-1 | mAP | linear top-1 | MIL weight '
        'on key parts |', '| --- | ---: | ---: | ---: | ---: | ---: |']
    for method in METHODS:
        row = summary[method]
        lines.append(f'| {LABELS[method]} | ' + ' | '.join(
            _percent(row[k]) for k in (*METRIC_KEYS, 'key_part_share')) +
            ' |')
    lines += [
        '', f'Chance: {summary["chance"]:.1f} %. k-NN: weighted, k=20, train '
        'split as memory; Rank-1 / mAP: leave-one-out within the test '
        'split; linear: logistic regression fitted on the train split. MIL '
        f'weight on key parts: share of the teacher\'s MIL weights on the '
        f'key parts\' boxes over {len(picks)} test images; a uniform map '
        f'scores {summary["uniform_key_part_share"]:.1f} % (DINO: uniform by '
        'construction; supervised: no MIL). One seed.', '',
        '## Where the teacher looks', '',
        f'![MIL weights]({figure.relative_to(work_dir)})', '',
        '## Training', '', f'![training curves]({curves.relative_to(work_dir)})',
        '']
    if timings:
        lines += ['## Run time (when each step last ran)', '',
                  '| step | time |', '| --- | ---: |']
        lines += [f'| {title} | {format_duration(seconds)} |'
                  for title, seconds in timings.items()]
        lines += [f'| total | {format_duration(summary["wall_time_s"])} |', '']
    plan.report.write_text('\n'.join(lines))
    plan.summary.write_text(json.dumps(summary, indent=1) + '\n')
    return plan.summary


