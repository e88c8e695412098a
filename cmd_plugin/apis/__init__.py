"""The top floor: what the tools run on a whole config before building it.

:mod:`.config_checks` (``check_config``, ``config_problems``) and
:mod:`.preflight` import the components they check (``CMD``,
``CMDMultiCrop``, ...), so nothing below this package imports it:
``cmd_plugin.utils`` is the lowest floor, the components (``models``,
``datasets``, ``engine``, ``evaluation``) sit on it, and this package on
them (``tests/test_import_layers.py`` checks that there is no import cycle).
"""
