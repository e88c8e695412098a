"""Start a multi-process run on CPUs only (gloo), which mmengine cannot."""
import datetime

import torch.distributed as torch_dist
from mmengine.config import Config
from torch.nn.parallel import DistributedDataParallel

from mmpretrain.registry import MODEL_WRAPPERS
from ...utils.validation import ConfigError


def setup_cpu_distributed(cfg: Config) -> None:
    """Start the process group of a multi-process run on CPUs only.

    mmengine 0.10.7's launchers call ``torch.cuda.set_device`` and its
    runner gives DDP ``device_ids=[LOCAL_RANK]``; both fail without a GPU.
    This starts the group itself (the runner then skips its own start) and
    builds the DDP wrapper with ``device_ids=None``, as DDP needs for CPU
    modules.

    Args:
        cfg (Config): The full config; ``cfg.launcher`` must be
            ``'pytorch'`` (torchrun) and ``env_cfg.dist_cfg.backend`` a CPU
            backend (``'gloo'``).
    """
    if cfg.launcher != 'pytorch':
        raise ConfigError(
            'Multi-process training without a GPU needs --launcher pytorch '
            f'(torchrun), got {cfg.launcher!r}.')
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'nccl')
    if backend == 'nccl':
        raise ConfigError(
            "env_cfg.dist_cfg.backend='nccl' needs GPUs and none is "
            "available; set --cfg-options env_cfg.dist_cfg.backend=gloo to "
            'train on CPUs.')
    if dist_cfg.pop('init_backend', 'torch') != 'torch':
        raise ConfigError('Training on CPUs supports only '
                          "env_cfg.dist_cfg.init_backend='torch'.")
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=backend, **dist_cfg)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                     DistributedDataParallel):
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
