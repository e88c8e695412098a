from .bad_image_count_hook import BadImageCountHook
from .cmd_checkpoint_hook import CMDCheckpointHook
from .epoch_seed_hook import EpochSeedHook
from .freeze_backbone_hook import FreezeBackboneHook
from .freeze_prototypes_hook import FreezePrototypesHook
from .knn_monitor_hook import KNNMonitorHook
from .non_finite_loss_hook import NonFiniteLossHook
from .run_summary_hook import RunSummaryHook
from .teacher_collapse_hook import TeacherCollapseHook
from .teacher_momentum_hook import TeacherMomentumHook
from .teacher_temperature_hook import TeacherTemperatureHook

__all__ = [
    'BadImageCountHook', 'CMDCheckpointHook', 'EpochSeedHook',
    'FreezeBackboneHook', 'FreezePrototypesHook', 'KNNMonitorHook',
    'NonFiniteLossHook',
    'RunSummaryHook', 'TeacherCollapseHook', 'TeacherMomentumHook',
    'TeacherTemperatureHook'
]
