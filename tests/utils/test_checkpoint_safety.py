"""weights_only=True everywhere: resume works, payloads never run."""
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner
from mmengine.runner.checkpoint import load_from_http
from torch import nn
from torch.utils.data import Dataset

from cmd_plugin.utils.checkpoint_safety import (UnsafeCheckpointError,
                                                install_checkpoint_safety,
                                                load_checkpoint_safely,
                                                load_trusted_checkpoint)
from malicious_pickle import RunsShellOnUnpickle

PAYLOAD_GLOBAL = f'{os.system.__module__}.system'  # posix.system on Linux


class ToyRegressor(BaseModel):
    """A 2 -> 1 linear model with an MSE loss."""

    def __init__(self, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.fc(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - labels)**2).mean())
        return out


class ToyData(Dataset):
    """Eight fixed (input, target) pairs."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return dict(
            inputs=torch.tensor([i / 8, 1.0]),
            labels=torch.tensor(float(i % 2)))


def make_runner(work_dir: Path, max_epochs: int, **kwargs) -> Runner:
    """A CPU runner saving a checkpoint after every epoch (2 iters each).

    Each runner gets its own experiment name: mmengine names its message hub
    and default scope after it, and two runners built in the same second
    would otherwise share them.
    """
    return Runner(
        model=ToyRegressor(),
        work_dir=str(work_dir),
        experiment_name=uuid.uuid4().hex,
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        log_level='WARNING',
        **kwargs)


@pytest.fixture
def malicious(tmp_path: Path) -> tuple[Path, Path]:
    """A checkpoint whose unpickling would create ``marker``."""
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'malicious.pth'
    torch.save(
        dict(
            state_dict=ToyRegressor().state_dict(),
            meta=dict(note=RunsShellOnUnpickle(marker))), path)
    return path, marker


def assert_refused(error: pytest.ExceptionInfo, marker: Path) -> None:
    message = str(error.value)
    assert PAYLOAD_GLOBAL in message
    assert '--trust-checkpoint' in message
    assert not marker.exists()


def test_resume_after_training(tmp_path: Path) -> None:
    first = make_runner(tmp_path, max_epochs=1)
    first.train()
    saved_losses, saved_counts = first.message_hub.get_scalar(
        'train/loss').data
    checkpoint = tmp_path / 'epoch_1.pth'
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(checkpoint)
    assert 'builtins.getattr' not in unsafe

    resumed = make_runner(tmp_path, max_epochs=2, resume=True)
    assert resumed.message_hub is not first.message_hub
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 4
    buffer = resumed.message_hub.get_scalar('train/loss')
    losses, counts = buffer.data
    assert len(losses) == 4 and counts.dtype == saved_counts.dtype
    np.testing.assert_array_equal(losses[:2], saved_losses)
    np.testing.assert_array_equal(counts[:2], saved_counts)
    assert buffer.statistics('mean') == pytest.approx(losses.mean())
    assert buffer.statistics('current') == losses[-1]
    state = load_checkpoint_safely(tmp_path / 'epoch_2.pth')
    assert state['meta']['epoch'] == 2
    assert 'momentum_buffer' in str(state['optimizer'])


def test_numpy_arrays_and_scalars_load(tmp_path: Path) -> None:
    path = tmp_path / 'numpy.pth'
    meta = dict(
        arr=np.arange(3, dtype=np.int64),
        mask=np.array([True, False]),
        eta=np.float64(1.5),
        half=np.float16(0.25))
    torch.save(dict(meta=meta), path)
    loaded = load_checkpoint_safely(path)['meta']
    np.testing.assert_array_equal(loaded['arr'], meta['arr'])
    np.testing.assert_array_equal(loaded['mask'], meta['mask'])
    assert loaded['eta'] == 1.5 and loaded['half'].dtype == np.float16


def respell_globals(path: Path, old: str, new: str) -> None:
    """Rewrite a module path in the GLOBAL opcodes of a zip checkpoint."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, 'w') as archive:
        for info, data in entries:
            if info.filename.endswith('/data.pkl'):
                data = data.replace(f'c{old}\n'.encode(), f'c{new}\n'.encode())
            archive.writestr(info, data)


@pytest.mark.parametrize('spelling',
                         ['numpy.core.multiarray', 'numpy._core.multiarray'])
def test_numpy_1_and_2_spellings_load(tmp_path: Path, spelling: str) -> None:
    """A checkpoint written with numpy 1 loads with numpy 2 and back."""
    path = tmp_path / 'numpy.pth'
    torch.save(dict(eta=np.float64(1.5), arr=np.arange(3.0)), path)
    current = np.float64(0).__reduce__()[0].__module__
    respell_globals(path, current, spelling)
    assert any(name.startswith(spelling) for name in
               torch.serialization.get_unsafe_globals_in_checkpoint(path))
    loaded = load_checkpoint_safely(path)
    assert loaded['eta'] == 1.5
    np.testing.assert_array_equal(loaded['arr'], [0.0, 1.0, 2.0])


def test_refused_directly(malicious: tuple[Path, Path]) -> None:
    path, marker = malicious
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint_safely(path)
    assert_refused(error, marker)
    with open(path, 'rb') as file, pytest.raises(UnsafeCheckpointError):
        load_checkpoint_safely(file)
    assert not marker.exists()


def plain_mmengine_getstate(self: HistoryBuffer) -> dict:
    """What mmengine 0.10.7's own ``HistoryBuffer.__getstate__`` returns."""
    return dict(self.__dict__, statistics_methods=self._statistics_methods)


def test_plain_mmengine_buffer_needs_trust(tmp_path: Path,
                                           monkeypatch) -> None:
    """Its statistics methods pickle via getattr, which stays refused."""
    path = tmp_path / 'plain_mmengine.pth'
    with monkeypatch.context() as patch:
        patch.setattr(HistoryBuffer, '__getstate__', plain_mmengine_getstate)
        torch.save(
            dict(log_scalars=dict(loss=HistoryBuffer([1.0, 3.0], [1, 1]))),
            path)
    with pytest.raises(UnsafeCheckpointError, match='builtins.getattr'):
        load_checkpoint_safely(path)
    with pytest.warns(UserWarning, match='weights_only=False'):
        buffer = load_trusted_checkpoint(path)['log_scalars']['loss']
    assert buffer.statistics('mean') == 2.0
    assert 'statistics_methods' not in vars(buffer)


def test_object_arrays_are_not_allowed(tmp_path: Path) -> None:
    path = tmp_path / 'object_array.pth'
    torch.save(dict(meta=np.array([1, 'a'], dtype=object)), path)
    with pytest.raises(UnsafeCheckpointError, match='ObjectDType'):
        load_checkpoint_safely(path)


def test_refused_through_mmengine_loaders(malicious: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    path, marker = malicious
    with pytest.raises(UnsafeCheckpointError) as error:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert_refused(error, marker)
    with pytest.raises(UnsafeCheckpointError) as error:
        load_from_http(path.as_uri(), model_dir=str(tmp_path / 'hub'))
    assert_refused(error, marker)
    model = ToyRegressor(
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(UnsafeCheckpointError) as error:
        model.init_weights()
    assert_refused(error, marker)


def test_refused_through_runner(malicious: tuple[Path, Path],
                                tmp_path: Path) -> None:
    path, marker = malicious
    runner = make_runner(tmp_path / 'a', max_epochs=1)
    with pytest.raises(UnsafeCheckpointError) as error:
        runner.load_checkpoint(str(path))
    assert_refused(error, marker)
    runner = make_runner(tmp_path / 'b', max_epochs=1, load_from=str(path))
    with pytest.raises(UnsafeCheckpointError) as error:
        runner.train()
    assert_refused(error, marker)
    assert not list((tmp_path / 'b').glob('*.pth'))


def test_trusted_load_runs_the_payload(
        malicious: tuple[Path, Path]) -> None:
    """Control: the payload is real, and only the explicit path runs it."""
    path, marker = malicious
    with pytest.warns(UserWarning, match='arbitrary code'):
        load_trusted_checkpoint(path)
    assert marker.exists()


def test_installation_is_explicit_and_idempotent() -> None:
    import mmengine.runner.checkpoint as mmengine_checkpoint
    patched = (mmengine_checkpoint.torch, mmengine_checkpoint.load_url,
               HistoryBuffer.__getstate__, HistoryBuffer.__setstate__)
    assert mmengine_checkpoint.torch is not torch  # import cmd_plugin did it
    install_checkpoint_safety()
    assert (mmengine_checkpoint.torch, mmengine_checkpoint.load_url,
            HistoryBuffer.__getstate__, HistoryBuffer.__setstate__) == patched
