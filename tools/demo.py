"""CMD vs DINO on the built-in synthetic fine-grained set, end to end.

    python tools/demo.py [--work-dir work_dirs/demo]      (or: make demo)

Six steps, each a run of the project's own tools on the configs in
``configs/demo/``:

1. pre-train CMD  (``tools/train.py``)
2. pre-train DINO (the same code with the MIL and region terms off)
3. evaluate the random initialisation (the floor of the table)
4. evaluate DINO
5. evaluate CMD
6. write ``<work dir>/report.md`` with the table, the loss curves and MIL /
   cls-attention heatmaps of a few test images

Evaluating a checkpoint means: k-NN top-1 and leave-one-out retrieval
(Rank-1, mAP) of the frozen teacher's cls token (``tools/test.py`` with
``CMDFeatureExtractor`` on ``LabelledSplits``), and a linear probe on it
(``tools/train.py`` then ``tools/test.py``: an mmpretrain
``ImageClassifier`` whose frozen backbone comes from the checkpoint through
``CMDPretrained``).

Every step writes a log under ``<work dir>/logs/``; a failing step stops the
demo with its name and log. An action whose output file exists (a
checkpoint, a metrics json) and is newer than its inputs is not redone, so
re-running after a failure or an interruption resumes: finished steps are
reused and an interrupted pre-training resumes from its last epoch.
"""
import argparse
import functools
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, TextIO, Tuple

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / 'configs' / 'demo'
PRETRAINED = ('dino', 'cmd')
METHODS = ('random', 'dino', 'cmd')  # rows of the table, in order
LABELS = {'random': 'random init', 'dino': 'DINO', 'cmd': 'CMD'}
HEARTBEAT_S = 30
# the last "Epoch(train) [2][15/31]" of an mmengine log
_PROGRESS = re.compile(
    r'Epoch\((?:train|val|test)\)\s*\[[^\]]*\](?:\[[^\]]*\])?')


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and its log.

    Args:
        message (str): What failed.
        log (Path): The step's log.
    """

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Action:
    """One unit of work of a step: a command and the file it writes.

    Attributes:
        output (Path): The file the command writes; the action is done when
            it exists and is newer than every file of ``inputs``.
        command (Sequence[str]): Run from the repository root, its output
            appended to the step's log.
        inputs (Sequence[Path]): Files the output is derived from.
    """
    output: Path
    command: Sequence[str]
    inputs: Sequence[Path] = ()

    @property
    def done(self) -> bool:
        """Whether the output exists and is newer than every input."""
        if not self.output.is_file():
            return False
        made = self.output.stat().st_mtime
        return all(p.is_file() and p.stat().st_mtime <= made
                   for p in self.inputs)


@dataclass(frozen=True)
class Step:
    """A named group of actions, reported as one line of progress.

    Attributes:
        title (str): E.g. ``'pretrain dino'``.
        actions (Sequence[Action]): Run in order; finished ones are skipped.
        estimate_s (float): Expected duration on an idle 2-core CPU, for
            the ETA.
    """
    title: str
    actions: Sequence[Action]
    estimate_s: float

    @property
    def done(self) -> bool:
        return all(action.done for action in self.actions)


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo's configs are and where each result goes.

    Attributes:
        work_dir (Path): Everything is written under it.
        pretrain_configs (dict[str, Path]): ``'cmd'`` and ``'dino'``
            pre-training configs (``'cmd'`` also builds the random init).
        knn_config (Path): k-NN / retrieval config (``CMDFeatureExtractor``
            on ``LabelledSplits``).
        linear_config (Path): Linear-probe config (``ImageClassifier`` with
            a ``CMDPretrained`` init).
    """
    work_dir: Path
    pretrain_configs: Dict[str, Path] = field(default_factory=lambda: {
        'cmd': CONFIG_DIR / 'cmd_vit-mini_synthetic.py',
        'dino': CONFIG_DIR / 'dino_vit-mini_synthetic.py',
    })
    knn_config: Path = CONFIG_DIR / 'knn-retrieval_vit-mini_synthetic.py'
    linear_config: Path = CONFIG_DIR / 'linear_vit-mini_synthetic.py'

    def pretrain_dir(self, method: str) -> Path:
        return self.work_dir / f'pretrain_{method}'

    def checkpoint(self, method: str) -> Path:
        """The checkpoint evaluated for ``method`` (one of :data:`METHODS`)."""
        if method == 'random':
            return self.work_dir / 'random_init' / 'init.pth'
        epochs = max_epochs(self.pretrain_configs[method])
        return self.pretrain_dir(method) / f'epoch_{epochs}.pth'

    def linear_dir(self, method: str) -> Path:
        return self.work_dir / 'eval' / f'linear_{method}'

    def linear_checkpoint(self, method: str) -> Path:
        epochs = max_epochs(self.linear_config)
        return self.linear_dir(method) / f'epoch_{epochs}.pth'

    def metrics(self, method: str, kind: str) -> Path:
        """Metrics json of ``kind`` ``'knn_retrieval'`` or ``'linear'``."""
        return self.work_dir / 'eval' / f'{method}_{kind}.json'

    @property
    def report(self) -> Path:
        return self.work_dir / 'report.md'

    @property
    def timings(self) -> Path:
        """Json of the seconds each step took when it last ran."""
        return self.work_dir / 'timings.json'


@functools.lru_cache(maxsize=None)
def max_epochs(config: Path) -> int:
    """``train_cfg.max_epochs`` of a config (read once, without importing
    its custom modules)."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(config), import_custom_modules=False)
    return int(cfg.train_cfg.max_epochs)


def load_tool(name: str):
    """Import ``tools/<name>.py`` (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f'cmd_tools_{name}', Path(__file__).with_name(f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_initial_checkpoint(config: Path, path: Path, seed: int = 0) -> None:
    """Save a CMD model as initialised, before any training.

    Args:
        config (Path): The CMD pre-training config.
        path (Path): Where to write ``{'state_dict': ..., 'meta': ...}``.
        seed (int): Torch seed of the initialisation. Defaults to 0.
    """
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import cmd_plugin  # noqa: F401
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(config))
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': model.state_dict(),
                'meta': dict(epoch=0, iter=0, seed=seed)}, path)


def build_steps(plan: DemoPlan,
                python_exe: str = sys.executable) -> List[Step]:
    """The demo's six steps for ``plan``.

    Args:
        plan (DemoPlan): Configs and output locations.
        python_exe (str): Interpreter that runs the tools. Defaults to
            this one.

    Returns:
        list[Step]: Pre-train CMD and DINO, evaluate random / DINO / CMD,
        write the report.
    """
    tools = ROOT / 'tools'
    steps = []
    for method in ('cmd', 'dino'):
        steps.append(Step(f'pretrain {method}', [
            Action(plan.checkpoint(method), command=[
                python_exe, str(tools / 'train.py'),
                str(plan.pretrain_configs[method]), '--work-dir',
                str(plan.pretrain_dir(method)), '--resume'
            ])
        ], estimate_s=170 if method == 'cmd' else 140))
    for method in METHODS:
        checkpoint = plan.checkpoint(method)
        actions = []
        if method == 'random':
            actions.append(Action(checkpoint, command=[
                python_exe, str(tools / 'demo.py'), 'save-init',
                str(plan.pretrain_configs['cmd']), str(checkpoint)
            ]))
        knn = plan.metrics(method, 'knn_retrieval')
        linear = plan.metrics(method, 'linear')
        actions += [
            Action(knn, inputs=[checkpoint], command=[
                python_exe, str(tools / 'test.py'), str(plan.knn_config),
                str(checkpoint), '--work-dir',
                str(plan.work_dir / 'eval' / f'knn_retrieval_{method}'),
                '--out', str(knn)
            ]),
            Action(plan.linear_checkpoint(method), inputs=[checkpoint],
                   command=[
                       python_exe, str(tools / 'train.py'),
                       str(plan.linear_config), '--work-dir',
                       str(plan.linear_dir(method)), '--cfg-options',
                       f'model.init_cfg.checkpoint={checkpoint}'
                   ]),
            Action(linear, inputs=[plan.linear_checkpoint(method)], command=[
                python_exe, str(tools / 'test.py'), str(plan.linear_config),
                str(plan.linear_checkpoint(method)), '--work-dir',
                str(plan.linear_dir(method)), '--out', str(linear)
            ]),
        ]
        steps.append(Step(f'evaluate {LABELS[method]}', actions,
                          estimate_s=50))
    report_inputs = [plan.checkpoint(m) for m in PRETRAINED] + [
        plan.metrics(m, k) for m in METHODS
        for k in ('knn_retrieval', 'linear')
    ]
    steps.append(Step('write report', [
        Action(plan.report, inputs=report_inputs, command=[
            python_exe, str(tools / 'demo.py'), '--work-dir',
            str(plan.work_dir), 'report'
        ])
    ], estimate_s=30))
    return steps


def format_duration(seconds: float) -> str:
    """``'1:05'`` for 65 s, ``'1:01:05'`` past an hour."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f'{hours}:{minutes:02d}:{secs:02d}'
            if hours else f'{minutes}:{secs:02d}')


def _last_progress(log: Path) -> Optional[str]:
    """The last mmengine progress marker in ``log``, if any."""
    with open(log, 'rb') as f:
        f.seek(max(0, log.stat().st_size - 8192))
        tail = f.read().decode('utf-8', errors='replace')
    found = _PROGRESS.findall(tail)
    return found[-1] if found else None


def _run_command(command: Sequence[str], log: Path, out: TextIO) -> int:
    """Run ``command`` with its output appended to ``log``; print a
    heartbeat with the latest progress marker every :data:`HEARTBEAT_S`."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    # On a shared CPU, OpenMP threads that spin while waiting for a
    # descheduled sibling make every op several times slower; passive
    # waiting costs little on an idle machine. A user's setting wins.
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    start = time.monotonic()
    with open(log, 'a') as f:
        f.write(f'\n$ {" ".join(command)}\n')
        f.flush()
        process = subprocess.Popen(
            list(command), cwd=ROOT, env=env, stdout=f,
            stderr=subprocess.STDOUT)
        while True:
            try:
                return process.wait(timeout=HEARTBEAT_S)
            except subprocess.TimeoutExpired:
                progress = _last_progress(log)
                running = format_duration(time.monotonic() - start)
                print(f'[demo]     ... {running}'
                      + (f', {progress}' if progress else ''),
                      file=out, flush=True)
            except BaseException:
                process.kill()
                process.wait()
                raise


def run_steps(steps: Sequence[Step],
              log_dir: Path,
              out: Optional[TextIO] = None,
              record: Optional[Path] = None) -> Dict[str, float]:
    """Run the steps in order, reusing finished actions.

    Prints one line when a step starts (with the elapsed time and an ETA)
    and one when it ends. The ETA scales the remaining steps' estimates by
    how much slower or faster than estimated this run's steps were.

    Args:
        steps (Sequence[Step]): The steps.
        log_dir (Path): Step ``i`` logs to ``log_dir/<i>_<title>.log``.
        out (TextIO, optional): Where progress goes. Defaults to stdout.
        record (Path, optional): A json of ``{step title: seconds}`` that
            each finished step updates (reused steps keep their earlier
            time). Defaults to None.

    Returns:
        dict[str, float]: Seconds each step ran in this call (0 for a
        reused step).

    Raises:
        DemoError: A command exited non-zero or finished without writing
            its output. The message names the step and its log.
    """
    out = sys.stdout if out is None else out
    log_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    durations: Dict[str, float] = {}
    ran_actual = ran_estimate = 0.0
    for index, step in enumerate(steps, 1):
        name = f'step {index}/{len(steps)} {step.title}'
        log = log_dir / f'{index}_{step.title.replace(" ", "_")}.log'
        if step.done:
            durations[step.title] = 0.0
            print(f'[demo] {name}: reused (its outputs exist, e.g. '
                  f'{step.actions[-1].output})', file=out, flush=True)
            continue
        speed = ran_actual / ran_estimate if ran_estimate else 1.0
        remaining = speed * sum(s.estimate_s for s in steps[index - 1:]
                                if not s.done)
        elapsed = time.monotonic() - start
        print(f'[demo] {name} ... elapsed {format_duration(elapsed)}, '
              f'ETA {format_duration(remaining)} (log: {log})', file=out,
              flush=True)
        step_start = time.monotonic()
        for action in step.actions:
            if action.done:
                continue
            code = _run_command(action.command, log, out)
            failed = f'exit code {code}' if code else None
            if failed is None and not action.output.is_file():
                failed = f'no output: {action.output} was not written'
            if failed:
                raise DemoError(f'{name} failed ({failed}). Log: {log}', log)
        durations[step.title] = time.monotonic() - step_start
        ran_actual += durations[step.title]
        ran_estimate += step.estimate_s
        if record is not None:
            record.write_text(json.dumps(
                {**_read_json(record), step.title: durations[step.title]},
                indent=1))
        print(f'[demo] {name}: done in '
              f'{format_duration(durations[step.title])}', file=out,
              flush=True)
    return durations


# --------------------------------------------------------------- the report


def _read_json(path: Path) -> Dict[str, float]:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_scalars(pretrain_dir: Path) -> List[dict]:
    """The training records of a run's ``vis_data/scalars.json`` files.

    A resumed run writes a new timestamped folder; records of all folders
    are merged by ``step`` (the latest folder wins).

    Args:
        pretrain_dir (Path): The run's work dir.

    Returns:
        list[dict]: Records with a loss, sorted by ``step``.
    """
    records = {}
    for path in sorted(pretrain_dir.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record and 'step' in record:
                records[record['step']] = record
    return [records[step] for step in sorted(records)]


def plot_losses(runs: Dict[str, List[dict]], path: Path) -> Path:
    """Plot each run's loss terms against the iteration.

    Args:
        runs (dict[str, list[dict]]): Method -> :func:`read_scalars`.
        path (Path): The PNG to write.

    Returns:
        Path: ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for method, records in runs.items():
        steps = [r['step'] for r in records]
        axes[0].plot(steps, [r.get('loss_img', float('nan')) for r in records],
                     label=f'{LABELS[method]}: loss_img')
        for key in ('loss_reg', 'loss_inter'):
            if any(key in r for r in records):
                axes[1].plot(steps,
                             [r.get(key, float('nan')) for r in records],
                             label=f'{LABELS[method]}: {key}')
    axes[0].set_title('image-level term (both methods)', fontsize=10)
    axes[1].set_title('region and inter-level terms (CMD only)', fontsize=10)
    for ax in axes:
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss')
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def key_part_masks(dataset, indices: Sequence[int]):
    """Render test images and the union of their key parts' boxes.

    Args:
        dataset (SyntheticFineGrained): The test split (no pipeline).
        indices (Sequence[int]): Images to render.

    Returns:
        tuple[np.ndarray, Tensor]: ``(B, H, W, 3)`` uint8 BGR images and
        ``(B, H, W)`` bool masks.
    """
    import numpy as np
    import torch
    rendered = [dataset.render(i) for i in indices]
    images = np.stack([image for image, _ in rendered])
    masks = torch.zeros(images.shape[:3], dtype=torch.bool)
    for mask, (_, parts) in zip(masks, rendered):
        for part in parts:
            x1, y1, x2, y2 = part.box
            mask[y1:y2, x1:x2] = True
    return images, masks


def key_part_shares(config: Path, checkpoint: Path, images,
                    masks) -> Tuple[float, Optional[float]]:
    """Mean share of the teacher's MIL weights and cls attention that falls
    on the key parts.

    Each map is spread uniformly over the pixels of its cells; its share is
    its mass inside the key parts' boxes, so a uniform map scores the
    boxes' share of the image area.

    Args:
        config (Path): Pre-training config of the checkpoint.
        checkpoint (Path): CMD checkpoint.
        images (np.ndarray): ``(B, H, W, 3)`` uint8 BGR, see
            :func:`key_part_masks`.
        masks (Tensor): ``(B, H, W)`` bool key-part masks.

    Returns:
        tuple[float, float | None]: MIL share and cls-attention share (None
        without a class token), as fractions.
    """
    import torch.nn.functional as F
    from mmengine.config import Config
    visualize_mil = load_tool('visualize_mil')
    model = visualize_mil.load_cmd_model(
        Config.fromfile(str(config)), str(checkpoint))
    maps = visualize_mil.instance_maps(
        *visualize_mil.network_modules(model, 'teacher'),
        visualize_mil.preprocess(model, images))

    def share(values) -> float:
        pixels = F.interpolate(values[:, None], size=masks.shape[1:],
                               mode='nearest')[:, 0]
        pixels = pixels / pixels.sum(dim=(1, 2), keepdim=True)
        return (pixels * masks).sum(dim=(1, 2)).mean().item()

    return share(maps.mil), (None if maps.cls_attention is None else
                             share(maps.cls_attention))


def _percent(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.1f}'


def write_report(plan: DemoPlan,
                 num_images: int = 4,
                 num_localisation: int = 100) -> Path:
    """Write ``report.md`` with the table, loss curves and heatmaps.

    Reads the metrics jsons, the pre-training logs and, when present, the
    step timings (:attr:`DemoPlan.timings`) of ``plan``; writes
    ``loss_curves.png``, ``images/*.png`` (test images),
    ``heatmaps/<method>/*.png`` (``tools/visualize_mil.py``) and
    ``report.md`` under ``plan.work_dir``.

    Args:
        plan (DemoPlan): The demo plan; the pre-training checkpoints and
            metrics must exist.
        num_images (int): Test images with heatmaps, one per class.
            Defaults to 4.
        num_localisation (int): Test images of the key-part share.
            Defaults to 100.

    Returns:
        Path: The report.
    """
    import mmcv
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import cmd_plugin  # noqa: F401
    from mmpretrain.registry import DATASETS
    visualize_mil = load_tool('visualize_mil')
    work_dir = plan.work_dir

    # the test split the evaluations used, without its pipeline
    knn_cfg = Config.fromfile(str(plan.knn_config))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(
            dict(knn_cfg.test_dataloader.dataset.test, pipeline=[]))
    per_class = dataset.num_per_class
    picks = [c * per_class for c in range(min(num_images,
                                              dataset.num_classes))]
    image_paths = []
    for i in picks:
        path = work_dir / 'images' / f'test_{i:04d}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        mmcv.imwrite(dataset.render(i)[0], str(path))
        image_paths.append(str(path))
    heatmaps = {
        method: visualize_mil.visualize(
            str(plan.pretrain_configs[method]), str(plan.checkpoint(method)),
            image_paths, str(work_dir / 'heatmaps' / method))
        for method in PRETRAINED
    }
    losses = plot_losses(
        {m: read_scalars(plan.pretrain_dir(m)) for m in PRETRAINED},
        work_dir / 'loss_curves.png')
    generator = torch.Generator().manual_seed(0)
    local_picks = torch.randperm(len(dataset), generator=generator)[
        :num_localisation].tolist()
    images, masks = key_part_masks(dataset, local_picks)
    shares = {
        m: key_part_shares(
            plan.pretrain_configs['dino' if m == 'dino' else 'cmd'],
            plan.checkpoint(m), images, masks)
        for m in METHODS
    }
    area = masks.float().mean().item()

    pre_cfg = Config.fromfile(str(plan.pretrain_configs['cmd']),
                              import_custom_modules=False)
    train_set = pre_cfg.train_dataloader.dataset
    crop = next(t for t in train_set.pipeline if 'CMDMultiCrop' in t['type'])
    arch = pre_cfg.model.backbone.arch
    pool = pre_cfg.model.neck.region_pool
    lines = [
        '# CMD vs DINO on SyntheticFineGrained (`make demo`)',
        '',
        f'Measured by `tools/demo.py` on {time.strftime("%Y-%m-%d %H:%M")}, '
        f'{os.cpu_count()} CPUs ({platform.machine()}), torch '
        f'{torch.__version__}.',
        '',
        '**A smoke test of the mechanism on synthetic data, not a '
        'benchmark**: a tiny ViT trained for minutes on generated images '
        'whose classes are decided by two small coloured parts. The '
        'numbers below are what this run measured; they say nothing about '
        'CUB, Cars or Aircraft. See `docs/demo.md`.',
        '',
        '## Setup',
        '',
        f'- Data: `SyntheticFineGrained`, {train_set.num_classes} classes, '
        f'{train_set.num_per_class} train / {per_class} test images per '
        f'class, {train_set.image_size} px, {train_set.num_parts} key parts '
        f'and {train_set.num_distractors} distractor strokes per image.',
        f'- Backbone: ViT, {arch.num_layers} layers x {arch.embed_dims} '
        f'wide, {arch.num_heads} heads, patch '
        f'{pre_cfg.model.backbone.patch_size}; MIL regions pooled '
        f'{pool}x{pool}.',
        f'- Pre-training: {pre_cfg.train_cfg.max_epochs} epochs, batch '
        f'{pre_cfg.train_dataloader.batch_size}, 2 x {crop["global_size"]} '
        f'px + {crop["num_local"]} x {crop["local_size"]} px crops; CMD: '
        f'`{_rel(plan.pretrain_configs["cmd"])}`, DINO: '
        f'`{_rel(plan.pretrain_configs["dino"])}` (the same code with '
        "`neck.attention='none'`, `head.reg_weight=0`, "
        '`head.inter_weight=0`). Random init: the CMD model before '
        'training.',
        f'- Evaluation on the test split, frozen teacher backbone, cls '
        f'token: linear probe (`{_rel(plan.linear_config)}`), weighted '
        f'k-NN (k=20, T=0.07, train split as memory) and retrieval '
        f'(leave-one-out within the test split, cosine) '
        f'(`{_rel(plan.knn_config)}`).',
        '',
        '## Results',
        '',
        '| pre-training | linear top-1 | k-NN top-1 | Rank-1 (leave-one-out)'
        ' | mAP (leave-one-out) |',
        '| --- | ---: | ---: | ---: | ---: |',
    ]
    for method in METHODS:
        knn = _read_json(plan.metrics(method, 'knn_retrieval'))
        linear = _read_json(plan.metrics(method, 'linear'))
        lines.append(
            f'| {LABELS[method]} | {_percent(linear.get("accuracy/top1"))} '
            f'| {_percent(knn.get("knn/top1"))} '
            f'| {_percent(knn.get("retrieval/loo/rank1"))} '
            f'| {_percent(knn.get("retrieval/loo/mAP"))} |')
    lines += [
        '',
        f'All values in %; chance is {100 / train_set.num_classes:.1f} %. '
        'One run, one seed.',
        '',
        '## Where the teacher looks',
        '',
        f'Share of the teacher\'s map on the key parts\' boxes, mean over '
        f'{len(local_picks)} test images. The boxes cover {100 * area:.1f} % '
        'of the image, which is what a uniform map scores.',
        '',
        '| pre-training | MIL weights | last-layer cls attention |',
        '| --- | ---: | ---: |',
    ]
    for method in METHODS:
        mil, cls = shares[method]
        note = ' (uniform)' if method == 'dino' else ''
        lines.append(f'| {LABELS[method]} | {100 * mil:.1f}{note} | '
                     f'{_percent(None if cls is None else 100 * cls)} |')
    lines += ['', '## Loss curves', '',
              f'![loss curves]({losses.relative_to(work_dir)})', '']
    for method in PRETRAINED:
        lines += [f'## {LABELS[method]}: teacher MIL weights and cls '
                  'attention on test images', '']
        lines += [f'![{LABELS[method]} {Path(p).stem}]'
                  f'({Path(p).relative_to(work_dir)})'
                  for p in heatmaps[method]]
        lines.append('')
    timings = _read_json(plan.timings)
    if timings:
        lines += ['## Run time (when each step last ran)', '',
                  '| step | time |', '| --- | ---: |']
        lines += [f'| {title} | {format_duration(seconds)} |'
                  for title, seconds in timings.items()]
        lines.append(f'| total | {format_duration(sum(timings.values()))} |')
        lines.append('')
    plan.report.write_text('\n'.join(lines))
    return plan.report


def _rel(path: Path) -> str:
    """``path`` relative to the repository root when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(
        path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pre-train CMD and DINO on synthetic data, evaluate '
        'both, write a report (see docs/demo.md).')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where everything goes (default: '
                        'work_dirs/demo)')
    commands = parser.add_subparsers(
        dest='command', metavar='{run,report,save-init}',
        help='run: every step, reusing finished ones (the default); '
        'report: only (re)write the report from the results in --work-dir; '
        'save-init: save a CMD model as initialised (the random-init row)')
    commands.add_parser('run')
    commands.add_parser('report')
    save_init = commands.add_parser('save-init')
    save_init.add_argument('config', help='CMD pre-training config')
    save_init.add_argument('out', help='checkpoint to write')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    plan = DemoPlan(work_dir=Path(args.work_dir).resolve())
    if args.command == 'report':
        print(f'Wrote {write_report(plan)}')
        return 0
    if args.command == 'save-init':
        save_initial_checkpoint(Path(args.config), Path(args.out))
        return 0
    steps = build_steps(plan)
    start = time.monotonic()
    print(f'[demo] CMD vs DINO on synthetic data: {len(steps)} steps, about '
          f'{format_duration(sum(s.estimate_s for s in steps))} on an idle '
          f'2-core CPU; output in {plan.work_dir}', flush=True)
    try:
        run_steps(steps, plan.work_dir / 'logs', record=plan.timings)
    except DemoError as err:
        print(f'[demo] {err}', file=sys.stderr, flush=True)
        tail = err.log.read_text(errors='replace').splitlines()[-15:]
        print('\n'.join(f'[demo]   | {line}' for line in tail),
              file=sys.stderr, flush=True)
        return 1
    print(f'[demo] finished in {format_duration(time.monotonic() - start)}:'
          f' {plan.report}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
