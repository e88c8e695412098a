from .cmd_head import CMDHead

__all__ = ['CMDHead']
