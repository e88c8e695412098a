"""CMD vs DINO on the built-in synthetic fine-grained set, end to end.

    python tools/demo.py [--work-dir work_dirs/demo]      (or: make demo)

Eight steps, each a run of the project's own tools on the configs in
``configs/demo/``:

1. pre-train CMD  (``tools/train.py``)
2. pre-train DINO (the same code with the MIL and region terms off)
3. train the supervised reference (the same backbone, iterations and
   crops, with the labels: the ceiling of the table)
4. evaluate the random initialisation (the floor of the table)
5. evaluate DINO
6. evaluate CMD
7. evaluate the supervised reference
8. write ``<work dir>/report.md`` (a verdict, the table, where the MIL
   weights look, the training curves) and ``<work dir>/summary.json``

Evaluating a checkpoint is one ``tools/test.py`` run of
``CMDFeatureExtractor`` on ``LabelledSplits``: the frozen backbone's
average-pooled features of the train and test splits give weighted k-NN
top-1 and a linear probe (train split fitted, test split scored) and
leave-one-out retrieval within the test split (Rank-1, mAP).

Every step writes a log under ``<work dir>/logs/``; a failing step stops the
demo with its name and log. An action whose output file exists (a
checkpoint, a metrics json) and is newer than its inputs is not redone, so
re-running after a failure or an interruption resumes: finished steps are
reused and an interrupted training resumes from its last epoch.
"""
import argparse
import functools
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, TextIO

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / 'configs' / 'demo'
TRAINED = ('cmd', 'dino', 'supervised')  # in the order they train
METHODS = ('random', 'dino', 'cmd', 'supervised')  # rows of the table
LABELS = {'random': 'random init', 'dino': 'DINO', 'cmd': 'CMD',
          'supervised': 'supervised (labels)'}
#: summary.json field -> metric key of ``tools/test.py --out``.
METRIC_KEYS = {'knn_top1': 'knn/top1', 'rank1': 'retrieval/loo/rank1',
               'map': 'retrieval/loo/mAP', 'linear_top1': 'linear/top1'}
#: Seconds each step takes on an idle 2-core CPU (the ETA's estimates).
ESTIMATES_S = {'cmd': 180, 'dino': 150, 'supervised': 60, 'evaluate': 20,
               'report': 20}
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
        train_configs (dict[str, Path]): ``'cmd'`` and ``'dino'``
            pre-training and ``'supervised'`` training configs (``'cmd'``
            also builds the random init).
        eval_config (Path): k-NN / linear probe / retrieval config
            (``CMDFeatureExtractor`` on ``LabelledSplits``).
    """
    work_dir: Path
    train_configs: Dict[str, Path] = field(default_factory=lambda: {
        'cmd': CONFIG_DIR / 'cmd_resnet-mini_synthetic.py',
        'dino': CONFIG_DIR / 'dino_resnet-mini_synthetic.py',
        'supervised': CONFIG_DIR / 'supervised_resnet-mini_synthetic.py',
    })
    eval_config: Path = CONFIG_DIR / 'eval_resnet-mini_synthetic.py'

    def train_dir(self, method: str) -> Path:
        return self.work_dir / f'train_{method}'

    def checkpoint(self, method: str) -> Path:
        """The checkpoint evaluated for ``method`` (one of :data:`METHODS`)."""
        if method == 'random':
            return self.work_dir / 'random_init' / 'init.pth'
        epochs = max_epochs(self.train_configs[method])
        return self.train_dir(method) / f'epoch_{epochs}.pth'

    def metrics(self, method: str) -> Path:
        """The metrics json of ``method``'s evaluation."""
        return self.work_dir / 'eval' / f'{method}.json'

    @property
    def report(self) -> Path:
        return self.work_dir / 'report.md'

    @property
    def summary(self) -> Path:
        return self.work_dir / 'summary.json'

    @property
    def timings(self) -> Path:
        """Json of the seconds each step took when it last ran."""
        return self.work_dir / 'timings.json'


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
    """The demo's eight steps for ``plan``.

    Args:
        plan (DemoPlan): Configs and output locations.
        python_exe (str): Interpreter that runs the tools. Defaults to
            this one.

    Returns:
        list[Step]: Train CMD, DINO and the supervised reference, evaluate
        random / DINO / CMD / supervised, write the report.
    """
    tools = ROOT / 'tools'
    steps = [
        Step(f'{"pretrain" if method != "supervised" else "train"} {method}',
             [Action(plan.checkpoint(method), command=[
                 python_exe, str(tools / 'train.py'),
                 str(plan.train_configs[method]), '--work-dir',
                 str(plan.train_dir(method)), '--resume-if-any'])],
             estimate_s=ESTIMATES_S[method]) for method in TRAINED
    ]
    for method in METHODS:
        checkpoint = plan.checkpoint(method)
        actions = []
        if method == 'random':
            actions.append(Action(checkpoint, command=[
                python_exe, str(tools / 'demo.py'), 'save-init',
                str(plan.train_configs['cmd']), str(checkpoint)
            ]))
        # a classifier's checkpoint holds one network, read as the student
        network = 'student' if method == 'supervised' else 'teacher'
        actions.append(Action(plan.metrics(method), inputs=[checkpoint],
                              command=[
                                  python_exe, str(tools / 'test.py'),
                                  str(plan.eval_config), str(checkpoint),
                                  '--work-dir',
                                  str(plan.work_dir / 'eval' / method),
                                  '--out', str(plan.metrics(method)),
                                  '--cfg-options', f'model.network={network}'
                              ]))
        steps.append(Step(f'evaluate {LABELS[method]}', actions,
                          estimate_s=ESTIMATES_S['evaluate']))
    report_inputs = [plan.checkpoint(m) for m in TRAINED] + [
        plan.metrics(m) for m in METHODS]
    steps.append(Step('write report', [
        Action(plan.summary, inputs=report_inputs, command=[
            python_exe, str(tools / 'demo.py'), '--work-dir',
            str(plan.work_dir), 'report'
        ])
    ], estimate_s=ESTIMATES_S['report']))
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
        slug = re.sub(r'[^A-Za-z0-9]+', '_', step.title).strip('_')
        log = log_dir / f'{index}_{slug}.log'
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


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


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
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import cmd_plugin  # noqa: F401
    from mmpretrain.registry import DATASETS
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
    import numpy as np
    from mmengine.config import Config
    visualize_mil = load_tool('visualize_mil')
    rendered = [dataset.render(i) for i in indices]
    images_bgr = np.stack([image for image, _ in rendered])
    boxes = [[part.box for part in parts] for _, parts in rendered]
    maps = {}
    for method in ('random', 'dino', 'cmd'):
        config = plan.train_configs['dino' if method == 'dino' else 'cmd']
        model = visualize_mil.load_cmd_model(Config.fromfile(str(config)),
                                             str(plan.checkpoint(method)))
        backbone, neck = visualize_mil.network_modules(model, 'teacher')
        maps[method] = (visualize_mil.instance_maps(
            backbone, neck, visualize_mil.preprocess(model, images_bgr)),
                        neck.attention == 'none')
    return images_bgr[..., ::-1], boxes, maps


def plot_training(plan: DemoPlan, path: Path) -> Path:
    """The loss terms and the teacher's health signals of both runs, the
    learning-rate warm-up shaded."""
    from mmengine.config import Config

    from cmd_plugin.visualization import merge_curves, plot_curves, read_curves
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
    import torch

    from cmd_plugin.evaluation.localisation import box_masks, mass_in_masks
    from cmd_plugin.visualization import plot_weight_maps
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
        metrics = _read_json(plan.metrics(method))
        summary[method] = {
            name: metrics.get(key) for name, key in METRIC_KEYS.items()}
        summary[method]['key_part_share'] = (
            100 * mass_in_masks(maps[method][0].mil[len(shown):],
                                masks).mean().item()
            if method in maps else None)
    summary['uniform_key_part_share'] = 100 * masks.float().mean().item()
    summary['chance'] = 100 / dataset.num_classes
    timings = _read_json(plan.timings)
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


def writable_problem(work_dir: Path) -> Optional[str]:
    """Why the demo cannot write under ``work_dir``, or None."""
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        probe = work_dir / '.demo_write_test'
        probe.write_text('')
        probe.unlink()
    except OSError as err:
        return (f'cannot write to the work dir {work_dir}: '
                f'{err.strerror or err}. Pass a writable --work-dir.')
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    plan = DemoPlan(work_dir=Path(args.work_dir).resolve())
    if args.command == 'save-init':
        save_initial_checkpoint(Path(args.config), Path(args.out))
        return 0
    problem = writable_problem(plan.work_dir)
    if problem:
        print(f'[demo] {problem}', file=sys.stderr, flush=True)
        return 2
    if args.command == 'report':
        write_report(plan)
        print(f'Wrote {plan.report} and {plan.summary}')
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
    except KeyboardInterrupt:
        print(f'[demo] interrupted; run the same command again to resume '
              f'(finished steps in {plan.work_dir} are reused, an '
              'interrupted training continues from its last epoch).',
              file=sys.stderr, flush=True)
        return 130
    print(f'[demo] finished in {format_duration(time.monotonic() - start)}:'
          f' {plan.report}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
