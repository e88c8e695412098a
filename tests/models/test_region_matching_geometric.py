"""The geometric matcher of models/losses/region_matching.py on hand-made
crop boxes."""
import torch

from cmd_plugin.models.losses import geometric_matching, region_centres


def test_region_centres_flip_mirrors_columns():
    boxes = torch.tensor([[[0.0, 0.0, 40.0, 20.0]]])
    plain = region_centres(boxes, torch.tensor([[False]]), (1, 2))
    flipped = region_centres(boxes, torch.tensor([[True]]), (1, 2))
    assert plain[0, 0].tolist() == [[10.0, 10.0], [30.0, 10.0]]
    assert flipped[0, 0].tolist() == [[30.0, 10.0], [10.0, 10.0]]


def test_geometric_matching_hand_made_pair():
    # Teacher crop: (0, 0)-(100, 100) with a 2x2 grid (cells of 50 px).
    teacher_boxes = torch.tensor([[[0.0, 0.0, 100.0, 100.0]]])
    # Student crop: (40, 40)-(120, 80), 1x2 grid -> centres (60, 60) and
    # (100, 60); the second lies on the teacher's right edge: outside.
    student_boxes = torch.tensor([[[40.0, 40.0, 120.0, 80.0]]])
    no_flip = torch.tensor([[False]])
    index, inside = geometric_matching(teacher_boxes, no_flip, (2, 2),
                                       student_boxes, no_flip, (1, 2))
    assert inside.tolist() == [[[[True, False]]]]
    assert index[0, 0, 0, 0].item() == 3  # bottom-right teacher cell

    # Flipping the teacher mirrors its grid: (60, 60) is now bottom-left.
    index, _ = geometric_matching(teacher_boxes, torch.tensor([[True]]),
                                  (2, 2), student_boxes, no_flip, (1, 2))
    assert index[0, 0, 0, 0].item() == 2

    # Flipping the student swaps which of its regions is inside.
    index, inside = geometric_matching(teacher_boxes, no_flip, (2, 2),
                                       student_boxes, torch.tensor([[True]]),
                                       (1, 2))
    assert inside.tolist() == [[[[False, True]]]]
    assert index[0, 0, 0, 1].item() == 3
