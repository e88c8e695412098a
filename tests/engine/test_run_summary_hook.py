"""RunSummaryHook: the summaries it logs, on stand-in runners."""
from types import SimpleNamespace

import torch
from mmengine.logging import MessageHub

from cmd_plugin.engine.hooks.run_summary_hook import (RunSummaryHook,
                                                      duration, metrics_table)


class Lines:
    """A logger stand-in that keeps what ``info`` gets."""

    def __init__(self) -> None:
        self.lines = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def test_metrics_table_one_metric_per_row():
    assert metrics_table({'retrieval/loo/rank1': 4.0, 'knn/top1': 47.25,
                          'note': 'n/a'}) == (
        'metric               value\n'
        '-------------------  -----\n'
        'retrieval/loo/rank1   4.00\n'
        'knn/top1             47.25\n'
        'note                   n/a')


def test_duration():
    assert duration(4.21) == '4.2 s'
    assert duration(125) == '2 min 05 s'
    assert duration(3723) == '1 h 02 min 03 s'


def test_test_summary_names_the_weights():
    logger = Lines()
    runner = SimpleNamespace(
        model=SimpleNamespace(network='teacher'), logger=logger,
        cfg=dict(load_from='work_dirs/cmd/epoch_3.pth'))
    RunSummaryHook().after_test_epoch(runner, {'knn/top1': 12.5})
    assert logger.lines == [
        'Test results of the teacher of work_dirs/cmd/epoch_3.pth:\n'
        '    metric    value\n'
        '    --------  -----\n'
        '    knn/top1  12.50'
    ]


def test_training_summary(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    hub = MessageHub.get_instance('test-run-summary')
    hub.update_scalar('train/loss', 3.0)
    hub.update_scalar('train/loss_img', 1.0)
    hub.update_scalar('train/lr', 0.1)
    model = torch.nn.Linear(2, 2)
    model.bias.requires_grad_(False)
    optimizer = torch.optim.SGD([model.weight], lr=0.1)
    logger = Lines()
    runner = SimpleNamespace(
        model=model, logger=logger, message_hub=hub, epoch=2, iter=10,
        work_dir=str(tmp_path), train_loop=SimpleNamespace(max_epochs=2),
        optim_wrapper=SimpleNamespace(optimizer=optimizer))
    hook = RunSummaryHook()
    hook.before_train(runner)
    hook.after_train(runner)
    assert logger.lines[0] == ('optimizer: SGD, 1 parameter tensor (4 '
                               'parameters) in 1 group; frozen: bias 2 '
                               'parameters')
    summary = logger.lines[1].splitlines()
    assert summary[0].startswith('Training finished: 2 epochs (10 '
                                 'iterations) in ')
    assert summary[1:] == [
        '    final losses: loss 3.0000, loss_img 1.0000',
        f'    last checkpoint: {tmp_path / "epoch_2.pth"}',
    ]
