"""Frozen features of a CMD-pre-trained network for k-NN and retrieval."""
from typing import List, Optional, Union

import torch
from mmengine.model import BaseModel

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ..utils.backbone_probe import complete_region_configs
from ..utils.cmd_checkpoint import (check_network, check_weights,
                                    select_network)
from ..utils.image_features import (as_image_batch, check_feature,
                                    image_features)


@MODELS.register_module()
class CMDFeatureExtractor(BaseModel):
    """Embeds test images with the teacher (or student) of a CMD checkpoint.

    ``predict`` (the test loop) returns one :class:`DataSample` per image
    with a ``feature`` field, ``(C,)``, which :class:`KNNAccuracy` and
    :class:`FineGrainedRetrieval` normalise and compare.

    Loading a checkpoint (``tools/test.py CONFIG CKPT``, i.e. mmengine's
    ``load_from``, or ``load_state_dict``) selects ``network``'s weights:
    ``teacher.backbone.*`` / ``teacher.neck.*`` of a CMD pre-training
    checkpoint become ``backbone.*`` / ``neck.*``; see
    :func:`~cmd_plugin.models.utils.select_network` for the layouts read.
    Although mmengine loads ``load_from`` with ``strict=False``, any missing
    or unexpected key or differing shape raises an error here. Predicting
    before any checkpoint was loaded raises too, unless
    ``allow_random_weights=True``.

    Args:
        backbone (dict): The pre-training backbone config (a ViT needs
            ``out_type='raw'``).
        neck (dict, optional): The pre-training :class:`MILNeck` config.
            Needed by ``feature='bag'``; when given, its weights must be in
            the checkpoint. ``in_channels`` / ``embedding`` left out are
            read from the backbone, as :class:`CMD` does. Defaults to None.
        feature (str): ``'cls'``, ``'avg'``, ``'cls+avg'`` or ``'bag'``, see
            :func:`~cmd_plugin.models.utils.image_features`.
            Defaults to ``'cls'``.
        network (str): ``'teacher'`` or ``'student'``: whose weights to take
            from a CMD checkpoint. Defaults to ``'teacher'``.
        allow_random_weights (bool): Allow predicting without a loaded
            checkpoint (a random-initialisation baseline). Defaults to False.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='ClsDataPreprocessor')``; set ``mean``, ``std`` and
            ``to_rgb`` as in pre-training.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 feature: str = 'cls',
                 network: str = 'teacher',
                 allow_random_weights: bool = False,
                 data_preprocessor: Optional[dict] = None) -> None:
        check_feature(feature, neck is not None, 'model.feature')
        check_network(network, 'model.network')
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'ClsDataPreprocessor')
        super().__init__(data_preprocessor=MODELS.build(data_preprocessor))
        self.backbone = MODELS.build(backbone)
        if isinstance(neck, dict):  # in_channels / embedding left out
            neck, _ = complete_region_configs(self.backbone, neck)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.feature = feature
        self.network = network
        self.allow_random_weights = allow_random_weights
        self.weights_loaded = False
        self.register_load_state_dict_pre_hook(_take_network_weights)

    def extract_feat(self, inputs: Union[torch.Tensor,
                                         List[torch.Tensor]]) -> torch.Tensor:
        """Embed a batch of preprocessed images.

        Args:
            inputs (Tensor | list[Tensor]): ``(B, 3, H, W)``, or ``B``
                tensors ``(3, H, W)``.

        Returns:
            Tensor: ``(B, D)`` features, not normalised.
        """
        return image_features(self.backbone, self.neck,
                              as_image_batch(inputs), self.feature)

    def predict(
        self,
        inputs: Union[torch.Tensor, List[torch.Tensor]],
        data_samples: Optional[List[DataSample]] = None
    ) -> List[DataSample]:
        """Attach each image's feature to its data sample.

        Args:
            inputs (Tensor | list[Tensor]): See :meth:`extract_feat`.
            data_samples (list[DataSample], optional): One per image; new
                ones when None.

        Returns:
            list[DataSample]: With ``feature`` ``(D,)``.
        """
        if not (self.weights_loaded or self.allow_random_weights):
            raise RuntimeError(
                'CMDFeatureExtractor has no checkpoint loaded, so it would '
                'evaluate random weights. Pass one (tools/test.py CONFIG '
                'CHECKPOINT, i.e. load_from=...), or set '
                'model.allow_random_weights=True for a random baseline.')
        features = self.extract_feat(inputs)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(features))]
        for sample, feature in zip(data_samples, features):
            sample.set_field(feature, 'feature')
        return data_samples

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: features ``(B, D)``; ``'predict'``: data samples.

        Args:
            inputs (Tensor | list[Tensor]): See :meth:`extract_feat`.
            data_samples (list[DataSample], optional): See :meth:`predict`.
            mode (str): ``'tensor'`` or ``'predict'``. Defaults to
                ``'tensor'``.
        """
        if mode == 'tensor':
            return self.extract_feat(inputs)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(
            f'CMDFeatureExtractor: unknown mode {mode!r}. Valid modes are '
            "['tensor', 'predict']; it is for evaluation only (tools/test.py)."
        )


def _take_network_weights(model: CMDFeatureExtractor, state_dict: dict,
                          prefix: str, *args) -> None:
    """Load-state-dict pre-hook: keep the chosen network's weights only.

    mmengine's ``load_state_dict`` and torch's call the model's pre-hooks
    with the whole state dict before loading any sub-module, so rewriting it
    in place here decides what every sub-module receives.
    """
    own = {
        key[len(prefix):]: state_dict.pop(key)
        for key in list(state_dict) if key.startswith(prefix)
    }
    parts = ['backbone'] + (['neck'] if model.neck is not None else [])
    weights, source = select_network(own, model.network, parts,
                                     'model.network')
    hint = ('Make model.backbone and model.neck match the pre-training '
            "config or change model.network ('teacher' | 'student').")
    if model.neck is not None:
        hint += (' If the checkpoint has no neck, set model.neck=None '
                 "(only feature='bag' needs it).")
    weights = check_weights(model, weights, source, hint)
    state_dict.update({prefix + key: value for key, value in weights.items()})
    model.weights_loaded = True
