"""cmd_plugin.utils.preflight: checks before anything is built."""
import uuid

from mmengine.config import Config
from mmengine.logging import MMLogger

from cmd_plugin.utils.preflight import fix_persistent_workers, iter_dataloaders


def fresh_logger() -> MMLogger:
    """A new current MMLogger, writing to the stdout pytest captures now."""
    return MMLogger.get_instance(f'test-preflight-{uuid.uuid4().hex}')


def test_dataloaders_of_hooks_are_found():
    cfg = dict(train_dataloader=dict(), custom_hooks=[
        dict(type='EpochSeedHook'),
        dict(type='KNNMonitorHook', train_dataloader=dict(),
             val_dataloader=dict())])
    assert [key for key, _ in iter_dataloaders(cfg)] == [
        'train_dataloader', 'custom_hooks[1].train_dataloader',
        'custom_hooks[1].val_dataloader']


def test_persistent_workers_switched_off_without_workers(capsys):
    fresh_logger()
    cfg = Config(dict(
        train_dataloader=dict(num_workers=0, persistent_workers=True),
        val_dataloader=dict(num_workers=2, persistent_workers=True),
        test_dataloader=dict(persistent_workers=True)))
    fix_persistent_workers(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True
    assert cfg.test_dataloader.persistent_workers is False
    out = capsys.readouterr().out
    assert ('train_dataloader.persistent_workers: switched off, as '
            'train_dataloader.num_workers=0 starts no worker process to '
            'keep.') in out
    assert 'test_dataloader.persistent_workers: switched off' in out
    assert 'val_dataloader' not in out
