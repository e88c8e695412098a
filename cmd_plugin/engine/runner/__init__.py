from .cmd_runner import CMDRunner, QuietLogFilter, build_runner

__all__ = ['CMDRunner', 'QuietLogFilter', 'build_runner']
