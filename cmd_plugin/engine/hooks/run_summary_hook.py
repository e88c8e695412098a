"""Summaries in the log: the optimiser, the end of training, test results."""
import os.path as osp
import time
from collections import defaultdict
from typing import Dict, Optional

from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from .trained_model import trained_model


def count(number: int) -> str:
    """``21.7 M``, ``12.3 k`` or ``640``."""
    if number >= 1e6:
        return f'{number / 1e6:.1f} M'
    if number >= 1e3:
        return f'{number / 1e3:.1f} k'
    return str(number)


def plural(number: int, noun: str) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f'{number} {noun}{"" if number == 1 else "s"}'


def duration(seconds: float) -> str:
    """``1 h 02 min 03 s``, ``2 min 05 s`` or ``4.2 s``."""
    if seconds < 60:
        return f'{seconds:.1f} s'
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f'{hours} h {minutes:02d} min {secs:02d} s'
    return f'{minutes} min {secs:02d} s'


def metrics_table(metrics: Dict[str, float]) -> str:
    """The metrics as a two-column text table, one metric per row.

    Args:
        metrics (dict[str, float]): Metric name -> value.

    Returns:
        str: Lines ``name  value``, names left-aligned, values right-aligned
        with two decimals (other values as they are).
    """
    rows = []
    for name, value in metrics.items():
        try:
            rows.append((name, f'{float(value):.2f}'))
        except (TypeError, ValueError):
            rows.append((name, str(value)))
    name_width = max([len('metric')] + [len(n) for n, _ in rows])
    value_width = max([len('value')] + [len(v) for _, v in rows])
    lines = [f'{"metric":<{name_width}}  {"value":>{value_width}}',
             f'{"-" * name_width}  {"-" * value_width}']
    lines += [f'{n:<{name_width}}  {v:>{value_width}}' for n, v in rows]
    return '\n'.join(lines)


@HOOKS.register_module()
class RunSummaryHook(Hook):
    """Log what a run did in a few readable lines.

    * Before training: the optimiser in one line (parameter tensors and
      groups, and the frozen parameters per top-level module, e.g.
      ``frozen: teacher 21.7 M``), in place of mmengine's line per
      parameter (which :class:`~cmd_plugin.engine.runner.CMDRunner` drops).
    * After training: epochs, iterations and wall time, the final value of
      every loss term and the last (and best, if saved) checkpoint.
    * After testing: the weights tested and the metrics as a table, one per
      row, in place of one long line.

    The base runtime config (``configs/_base_/default_runtime.py``) adds it
    to ``default_hooks`` as ``run_summary``.
    """

    # after CheckpointHook (VERY_LOW), which writes the last checkpoint
    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        """Log the optimiser summary; start the clock."""
        self._start = time.perf_counter()
        model = trained_model(runner)
        optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
        if optimizer is None:  # e.g. an OptimWrapperDict
            return
        groups = optimizer.param_groups
        tensors = sum(len(group['params']) for group in groups)
        trained = sum(p.numel() for group in groups for p in group['params'])
        frozen = defaultdict(int)
        for name, param in model.named_parameters():
            if not param.requires_grad:
                frozen[name.split('.')[0]] += param.numel()
        line = (f'optimizer: {type(optimizer).__name__}, '
                f'{plural(tensors, "parameter tensor")} ({count(trained)} '
                f'parameters) in {plural(len(groups), "group")}')
        if frozen:
            line += '; frozen: ' + ', '.join(
                f'{module} {count(number)}'
                for module, number in frozen.items()) + ' parameters'
        runner.logger.info(line)

    def after_train(self, runner) -> None:
        """Log the end-of-training summary."""
        elapsed = time.perf_counter() - getattr(self, '_start',
                                                time.perf_counter())
        loop = runner.train_loop
        done = plural(runner.iter, 'iteration')
        if hasattr(loop, 'max_epochs'):
            done = f'{plural(runner.epoch, "epoch")} ({done})'
        lines = [f'Training finished: {done} in {duration(elapsed)}.']
        losses = {
            key[len('train/'):]: buffer.current()
            for key, buffer in runner.message_hub.log_scalars.items()
            if key.startswith('train/loss')
        }
        if losses:
            lines.append('final losses: ' + ', '.join(
                f'{name} {value:.4f}' for name, value in losses.items()))
        last = self._last_checkpoint(runner.work_dir)
        lines.append(f'last checkpoint: {last or "none saved"}')
        best = runner.message_hub.get_info('best_ckpt')
        if best:
            lines.append(f'best checkpoint: {best}')
        runner.logger.info('\n    '.join(lines))

    def after_test_epoch(self, runner, metrics: Optional[Dict] = None) -> None:
        """Log the tested weights and the metrics as a table."""
        if not metrics:
            return
        model = trained_model(runner)
        weights = runner.cfg.get('load_from') or 'the initial weights'
        network = getattr(model, 'network', None)
        if isinstance(network, str):
            weights = f'the {network} of {weights}'
        table = metrics_table(metrics).replace('\n', '\n    ')
        runner.logger.info(f'Test results of {weights}:\n    {table}')

    @staticmethod
    def _last_checkpoint(work_dir: str) -> Optional[str]:
        """The path mmengine's CheckpointHook recorded last, if any."""
        record = osp.join(work_dir, 'last_checkpoint')
        if not osp.isfile(record):
            return None
        with open(record) as f:
            return f.read().strip() or None
