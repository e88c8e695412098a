from .checkpoint_safety import load_checkpoint_safely, load_trusted_checkpoint

__all__ = ['load_checkpoint_safely', 'load_trusted_checkpoint']
