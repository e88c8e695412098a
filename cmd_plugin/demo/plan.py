"""What the demo runs: its configs, steps and where each result goes."""
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import torch
from mmengine.config import Config

from ..apis import build_model
from .steps import Action, Step

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / 'configs' / 'demo'
TRAINED = ('cmd', 'dino', 'supervised')  # in the order they train
METHODS = ('random', 'dino', 'cmd', 'supervised')  # rows of the table
LABELS = {'random': 'random init', 'dino': 'DINO', 'cmd': 'CMD',
          'supervised': 'supervised (labels)'}
#: Seconds each step takes on an idle 2-core CPU (the ETA's estimates).
ESTIMATES_S = {'cmd': 180, 'dino': 150, 'supervised': 60, 'evaluate': 20,
               'report': 20}

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
    cfg = Config.fromfile(str(config), import_custom_modules=False)
    return int(cfg.train_cfg.max_epochs)


def save_initial_checkpoint(config: Path, path: Path, seed: int = 0) -> None:
    """Save a CMD model as initialised, before any training.

    Args:
        config (Path): The CMD pre-training config.
        path (Path): Where to write ``{'state_dict': ..., 'meta': ...}``.
        seed (int): Torch seed of the initialisation. Defaults to 0.
    """
    torch.manual_seed(seed)
    model = build_model(Config.fromfile(str(config)))
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
    def tool(name: str, *args, output: Path, inputs=()) -> Action:
        """Run ``tools/<name>.py args`` from the repository root."""
        return Action(output, [python_exe, str(ROOT / 'tools' / f'{name}.py'),
                               *map(str, args)], inputs, cwd=ROOT)

    steps = [
        Step(f'{"train" if method == "supervised" else "pretrain"} {method}',
             [tool('train', plan.train_configs[method], '--work-dir',
                   plan.train_dir(method), '--resume-if-any',
                   output=plan.checkpoint(method))],
             estimate_s=ESTIMATES_S[method]) for method in TRAINED
    ]
    for method in METHODS:
        checkpoint = plan.checkpoint(method)
        actions = []
        if method == 'random':
            actions.append(tool('demo', 'save-init', plan.train_configs['cmd'],
                                checkpoint, output=checkpoint))
        # a classifier's checkpoint holds one network, read as the student
        network = 'student' if method == 'supervised' else 'teacher'
        actions.append(tool(
            'test', plan.eval_config, checkpoint, '--work-dir',
            plan.work_dir / 'eval' / method, '--out', plan.metrics(method),
            '--cfg-options', f'model.network={network}',
            output=plan.metrics(method), inputs=[checkpoint]))
        steps.append(Step(f'evaluate {LABELS[method]}', actions,
                          estimate_s=ESTIMATES_S['evaluate']))
    report_inputs = [plan.checkpoint(m) for m in TRAINED] + [
        plan.metrics(m) for m in METHODS]
    steps.append(Step('write report', [
        tool('demo', '--work-dir', plan.work_dir, 'report',
             output=plan.summary, inputs=report_inputs)
    ], estimate_s=ESTIMATES_S['report']))
    return steps


