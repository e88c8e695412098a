"""Weighted k-NN accuracy of the teacher's features during pre-training."""
from typing import List, Optional, Tuple, Union

import torch
from mmengine.dist import collect_results, is_main_process
from mmengine.hooks import Hook
from torch import nn
from torch.utils.data import DataLoader

from mmpretrain.registry import HOOKS
from ...evaluation.functional import weighted_knn_predict
from ...models.utils.cmd_checkpoint import check_network, network_modules
from ...models.utils.image_features import (as_image_batch, check_feature,
                                            image_features)
from ...utils.validation import check_int, check_number
from .trained_model import trained_model


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Every ``interval`` epochs, log the k-NN top-1 of the teacher.

    A cheap proxy of representation quality while pre-training: the
    teacher's (or student's) backbone, and its MIL neck for
    ``feature='bag'``, embed the images of ``train_dataloader`` (the memory)
    and of ``val_dataloader`` (classified by DINO's weighted k-NN vote).
    ``knn/top1`` (in %) goes to the log, the message hub and the
    visualizer's scalars. Off unless added to ``custom_hooks``, after the
    schedule hooks of the ``_base_`` config (a plain ``custom_hooks = [...]``
    would replace them)::

        custom_hooks = _base_.custom_hooks + [
            dict(type='KNNMonitorHook', interval=10,
                 train_dataloader=knn_train_loader,
                 val_dataloader=knn_val_loader)]

    Each dataloader gives single labelled images (e.g. ``CUB`` with
    ``Resize``, ``CenterCrop``, ``PackInputs``) that the model's data
    preprocessor normalises; with ``SelfSupDataPreprocessor`` either
    ``default_collate`` or ``pseudo_collate`` works.

    Args:
        train_dataloader (dict | DataLoader): The labelled memory images.
        val_dataloader (dict | DataLoader): The images to classify.
        interval (int): Run after every ``interval``-th epoch.
            Defaults to 10.
        k (int): Neighbours per image. Defaults to 20.
        temperature (float): Temperature of the vote weights.
            Defaults to 0.07.
        feature (str): ``'cls'``, ``'avg'``, ``'cls+avg'`` or ``'bag'``, see
            :func:`~cmd_plugin.models.utils.image_features`.
            Defaults to ``'cls'``.
        network (str): ``'teacher'`` (``model.teacher.backbone`` /
            ``.neck``) or ``'student'`` (``model.backbone`` / ``.neck``).
            Defaults to ``'teacher'``.
    """

    priority = 'LOW'

    def __init__(self,
                 train_dataloader: Union[dict, DataLoader],
                 val_dataloader: Union[dict, DataLoader],
                 interval: int = 10,
                 k: int = 20,
                 temperature: float = 0.07,
                 feature: str = 'cls',
                 network: str = 'teacher') -> None:
        check_int('KNNMonitorHook', 'interval', interval, 1)
        check_int('KNNMonitorHook', 'k', k, 1)
        check_number('KNNMonitorHook', 'temperature', temperature, low=0,
                     low_open=True)
        check_feature(feature, True, 'KNNMonitorHook.feature')
        check_network(network, 'KNNMonitorHook.network')
        self.dataloaders = dict(train=train_dataloader, val=val_dataloader)
        self.interval = interval
        self.k = k
        self.temperature = temperature
        self.feature = feature
        self.network = network

    def before_train(self, runner) -> None:
        """Build the dataloaders given as configs."""
        self.dataloaders = {
            name: runner.build_dataloader(loader, seed=runner.seed)
            if isinstance(loader, dict) else loader
            for name, loader in self.dataloaders.items()
        }

    def after_train_epoch(self, runner) -> None:
        """Evaluate and log ``knn/top1`` every ``interval`` epochs."""
        if not self.every_n_epochs(runner, self.interval):
            return
        model = trained_model(runner)
        top1 = self.evaluate(model)
        if top1 is None:  # not the main process
            return
        runner.logger.info(
            f'Epoch {runner.epoch + 1}: {self.k}-NN top-1 of the '
            f'{self.network} ({self.feature}) = {top1:.2f}%')
        runner.message_hub.update_scalar('knn/top1', top1)
        runner.visualizer.add_scalars({'knn/top1': top1},
                                      step=runner.epoch + 1)

    def evaluate(self, model: nn.Module) -> Optional[float]:
        """k-NN top-1 (%) of ``model``'s features on the two dataloaders.

        Args:
            model (nn.Module): The CMD model (not wrapped).

        Returns:
            float | None: The accuracy on the main process, None elsewhere.
        """
        modes = {module: module.training for module in model.modules()}
        model.eval()
        try:
            train_feats, train_labels = self._embed(model, 'train')
            val_feats, val_labels = self._embed(model, 'val')
        finally:
            for module, training in modes.items():
                module.training = training
        if not is_main_process():
            return None
        predictions = weighted_knn_predict(
            train_feats,
            train_labels,
            val_feats,
            k=self.k,
            temperature=self.temperature)
        return 100 * (predictions == val_labels).float().mean().item()

    @torch.no_grad()
    def _embed(self, model: nn.Module,
               name: str) -> Tuple[Optional[torch.Tensor],
                                   Optional[torch.Tensor]]:
        """Embed the images of one dataloader.

        Args:
            model (nn.Module): The CMD model (not wrapped).
            name (str): ``'train'`` or ``'val'``.

        Returns:
            tuple: Features ``(N, D)`` and labels ``(N,)`` gathered from all
            ranks on the main process; ``(None, None)`` elsewhere.
        """
        backbone, neck = network_modules(model, self.network)
        neck = neck if self.feature == 'bag' else None
        loader = self.dataloaders[name]
        results: List[Tuple[torch.Tensor, int]] = []
        for data in loader:
            data = model.data_preprocessor(data, False)
            feats = image_features(backbone, neck,
                                   as_image_batch(data['inputs']),
                                   self.feature).float().cpu()
            labels = [int(s.gt_label) for s in data['data_samples']]
            results.extend(zip(feats, labels))
        results = collect_results(results, len(loader.dataset))
        if results is None:
            return None, None
        feats, labels = zip(*results)
        return torch.stack(feats), torch.tensor(labels)
