from .freeze_prototypes_hook import FreezePrototypesHook
from .teacher_momentum_hook import TeacherMomentumHook
from .teacher_temperature_hook import TeacherTemperatureHook

__all__ = ['FreezePrototypesHook', 'TeacherMomentumHook', 'TeacherTemperatureHook']
