"""The CMD loss terms as pure functions of tensors (no config, no registry)."""
from .distillation import (cross_view_mask, cross_view_pairs,
                           image_distillation_loss, inter_level_loss,
                           mil_pool_log_probs, mil_pool_probs,
                           pairwise_cross_entropy,
                           region_distillation_terms, student_log_probs,
                           teacher_probs)
from .region_matching import (feature_matching, geometric_matching,
                              region_centres, region_match_weights)

__all__ = [
    'cross_view_mask', 'cross_view_pairs', 'feature_matching',
    'geometric_matching', 'image_distillation_loss', 'inter_level_loss', 'mil_pool_log_probs',
    'mil_pool_probs', 'pairwise_cross_entropy', 'region_centres',
    'region_distillation_terms', 'region_match_weights',
    'student_log_probs', 'teacher_probs'
]
