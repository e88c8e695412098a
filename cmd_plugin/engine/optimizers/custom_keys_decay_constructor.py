"""Optimiser constructor: ``custom_keys`` keep the norm / bias decay rules."""
from typing import List

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS

NORM_LAYERS = (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class CustomKeysDecayConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, with ``custom_keys`` that only add.

    In mmengine 0.10.7 a parameter that matches a ``custom_keys`` entry
    (e.g. ``'backbone': dict(lr_mult=0.1)``) skips every other rule, so the
    backbone's norm weights and biases get the full weight decay despite
    ``norm_decay_mult=0`` / ``bias_decay_mult=0``. Here the entry sets what it
    names (the learning rate, and the decay only if it gives ``decay_mult``)
    and ``norm_decay_mult`` / ``bias_decay_mult`` still apply to the
    parameters of norm layers and to biases.

    Use it with ``optim_wrapper = dict(
    constructor='CustomKeysDecayConstructor', paramwise_cfg=dict(
    norm_decay_mult=0.0, bias_decay_mult=0.0, custom_keys={...}))``.
    """

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', is_dcn_module=None) -> None:
        """Add ``module``'s parameters, then re-apply the decay multipliers.

        mmengine calls this recursively; the correction runs once, on the
        top-level call (``prefix == ''``), over every group it added.
        """
        first = len(params)
        super().add_params(params, module, prefix, is_dcn_module)
        if prefix or self.base_wd is None:
            return
        custom_keys = self.paramwise_cfg.get('custom_keys', {})
        norm_mult = self.paramwise_cfg.get('norm_decay_mult')
        bias_mult = self.paramwise_cfg.get('bias_decay_mult')
        kinds = {}
        for module_name, submodule in module.named_modules():
            is_norm = isinstance(submodule, NORM_LAYERS)
            for name, param in submodule.named_parameters(recurse=False):
                full_name = f'{module_name}.{name}' if module_name else name
                kinds[id(param)] = (full_name, is_norm, name == 'bias')
        for group in params[first:]:
            full_name, is_norm, is_bias = kinds[id(group['params'][0])]
            keys = [key for key in custom_keys if key in f'.{full_name}']
            if not keys or any('decay_mult' in custom_keys[key]
                               for key in keys):
                continue  # mmengine's rules applied, or the key sets decay
            if is_norm and norm_mult is not None:
                group['weight_decay'] = self.base_wd * norm_mult
            elif is_bias and bias_mult is not None:
                group['weight_decay'] = self.base_wd * bias_mult
