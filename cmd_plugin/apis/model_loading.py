"""Build a config's CMD model, initialised or with a checkpoint's weights.

DINO and EsViT are configs of :class:`CMD` too, so this builds each of
them. Pick one network of the result with
:func:`~cmd_plugin.models.utils.network_modules`.
"""
from copy import deepcopy
from typing import Any, Optional

from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader

from mmpretrain.registry import MODELS
from ..models.algorithms.cmd import CMD
from ..models.utils.cmd_checkpoint import check_weights
from ..utils.validation import ConfigError
from .preflight import check_checkpoint


class NotCMDConfigError(ConfigError, TypeError):
    """The config's model is not a CMD (or DINO, EsViT) pre-training model."""


def check_cmd_config(cfg: Any) -> None:
    """Raise unless ``cfg.model.type`` is :class:`CMD` (or a subclass).

    Checks the registered class only, without building the model.

    Args:
        cfg (Config | dict): A full config.

    Raises:
        NotCMDConfigError: Naming the model type found.
    """
    model_type = (cfg.get('model') or {}).get('type')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model_cls = (model_type if isinstance(model_type, type) else
                     MODELS.get(model_type) if model_type else None)
    if not (isinstance(model_cls, type) and issubclass(model_cls, CMD)):
        raise NotCMDConfigError(
            f'model.type is {model_type!r}, not CMD: pass a CMD pre-training '
            'config (DINO and EsViT configs are CMD configs too), e.g. '
            'configs/cmd_vit-s_cub.py.')


def build_model(cfg: Any, checkpoint: Optional[str] = None) -> CMD:
    """Build the config's CMD model in the mmpretrain scope.

    The model gets the config's top-level ``data_preprocessor`` unless
    ``model`` has its own, as mmengine's runner gives it.

    Args:
        cfg (Config | dict): A CMD pre-training config (``model.type='CMD'``).
        checkpoint (str, optional): A checkpoint of that model (a path, or a
            URL that mmengine loads), loaded strictly: every key and shape
            must fit. Loaded with ``weights_only`` and the plugin's
            allow-list (importing ``cmd_plugin`` routes mmengine's loaders
            through :func:`~cmd_plugin.utils.load_checkpoint_safely`).
            Without it the model is initialised (``init_weights``).

    Returns:
        CMD: The model in eval mode, on the CPU.

    Raises:
        NotCMDConfigError: The config's model is not a CMD model.
        UserError: ``checkpoint`` is missing, a folder or truncated.
        CheckpointMismatchError: Its weights do not fit the model; the
            message names the first differing keys.
    """
    check_cmd_config(cfg)
    model_cfg = deepcopy(cfg['model'])
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor',
                             deepcopy(cfg['data_preprocessor']))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    if checkpoint is None:
        model.init_weights()
    else:
        check_checkpoint(checkpoint, 'checkpoint')
        loaded = CheckpointLoader.load_checkpoint(
            checkpoint, map_location='cpu', logger='silent')
        state_dict = loaded.get('state_dict', loaded)
        model.load_state_dict(check_weights(
            model, state_dict, checkpoint,
            'Pass the config the checkpoint was pre-trained with.'))
    return model.eval()
