from .custom_keys_decay_constructor import CustomKeysDecayConstructor

__all__ = ['CustomKeysDecayConstructor']
