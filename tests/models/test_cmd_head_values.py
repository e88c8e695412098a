"""CMDHead.loss against a plain float64 re-computation of its formulas.

A tiny batch exercises every branch of the head: two global crops (region
grid 2x3) and two local crops of another resolution (grid 2x2), flipped and
unflipped crops, both matchings, both weightings, all three terms with
weights other than 1, non-zero centres, and (geometric matching) student
regions and whole crops that fall outside a teacher crop. The expected
values are computed here with Python loops over crops, images, regions and
prototypes, from the formulas alone (docs/design.md, "The three
losses"): no function of the package is used for them.
"""
import math

import pytest
import torch

from cmd_plugin.models.heads.cmd_head import CMDHead
from cmd_plugin.structures import CropEncoding

B, K, C = 3, 5, 3  # B != T = 2, so that no two axes can be confused
NUM_GLOBAL = 2
GLOBAL_GRID, LOCAL_GRID = (2, 3), (2, 2)
STUDENT_TEMP, TEACHER_TEMP, CENTRE_MOMENTUM = 0.3, 0.15, 0.8
TERM_WEIGHTS = dict(img_weight=0.7, reg_weight=1.3, inter_weight=0.4)

# crop v -> image b -> box (x1, y1, x2, y2) in image pixels; crops 0-1 are
# the global crops, 2-3 the local ones.
BOXES = [
    [[0, 0, 60, 60], [12, 6, 90, 85], [5, 11, 75, 81]],
    [[31, 20, 100, 90], [0, 30, 70, 100], [21, 0, 96, 70]],
    [[10, 50, 40, 80], [50, 40, 80, 70], [61, 44, 91, 74]],
    [[65, 10, 95, 40], [2, 2, 26, 26], [14, 16, 44, 46]],
]
# The local crops' flags differ from the global crops' flags, so reading
# the flags of the wrong crops changes the matching.
FLIPS = [[False, True, True], [True, False, False], [True, True, False],
         [False, True, True]]
# a fifth crop of a third resolution (grid 1x2), for three crop groups
THIRD_GRID = (1, 2)
THIRD_BOXES = [[40, 33, 70, 63], [28, 22, 53, 47], [51, 6, 81, 36]]
THIRD_FLIPS = [True, False, True]


# ----------------------------------------------------------------------
# the reference, float64, plain Python
# ----------------------------------------------------------------------
def softmax(xs):
    top = max(xs)
    exps = [math.exp(x - top) for x in xs]
    total = sum(exps)
    return [e / total for e in exps]


def log_softmax(xs):
    top = max(xs)
    lse = top + math.log(sum(math.exp(x - top) for x in xs))
    return [x - lse for x in xs]


def cross_entropy(p, log_q):
    return -sum(pk * lqk for pk, lqk in zip(p, log_q))


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) *
                  math.sqrt(sum(y * y for y in b)))


def region_centre(box, flip, grid, r, c):
    """Image coordinates of region (r, c) of a crop, mirrored if flipped."""
    h, w = grid
    u, v = (c + 0.5) / w, (r + 0.5) / h
    if flip:
        u = 1 - u
    x1, y1, x2, y2 = box
    return x1 + u * (x2 - x1), y1 + v * (y2 - y1)


def match_geometric(t_box, t_flip, s_box, s_flip, s_grid):
    """Per student region: the teacher region (row-major on the global
    grid) whose cell contains its centre, or None when the centre lies
    outside the teacher crop; and the smallest distance, in grid cells, of
    a centre to a cell edge (to check that the case has no near-ties)."""
    th, tw = GLOBAL_GRID
    matches, margin = [], math.inf
    for r in range(s_grid[0]):
        for c in range(s_grid[1]):
            x, y = region_centre(s_box, s_flip, s_grid, r, c)
            u = (x - t_box[0]) / (t_box[2] - t_box[0])
            v = (y - t_box[1]) / (t_box[3] - t_box[1])
            margin = min(margin, abs(u * tw - round(u * tw)),
                         abs(v * th - round(v * th)))
            if not (0 <= u < 1 and 0 <= v < 1):
                matches.append(None)
                continue
            if t_flip:
                u = 1 - u
            col = min(int(math.floor(u * tw)), tw - 1)
            row = min(int(math.floor(v * th)), th - 1)
            matches.append(row * tw + col)
    return matches, margin


def lists(enc):
    """A CropEncoding as nested float64 Python lists."""
    return dict(
        regions=enc.regions.double().tolist(),
        weights=enc.weights.double().tolist(),
        image=enc.image_logits.double().tolist(),
        region_logits=enc.region_logits.double().tolist(),
        grid=enc.grid)


def reference(student, teacher, image_centre, region_centre, matching,
              weighting, boxes=BOXES, flips=FLIPS):
    """Expected loss_img, loss_reg, loss_inter and the updated centres;
    ``boxes`` / ``flips`` are indexed ``[crop][image]``."""
    tch = lists(teacher)
    # student crops in crop order, each with its group's grid
    crops = []
    for group in student:
        g = lists(group)
        for n in range(group.num_crops):
            crops.append(dict((key, g[key][n]) for key in
                              ('regions', 'weights', 'image',
                               'region_logits')) | dict(grid=g['grid']))
    c_img = image_centre[0].double().tolist()
    c_reg = region_centre[0].double().tolist()

    def teacher_dist(logits, centre):
        return softmax([(t - c) / TEACHER_TEMP for t, c in zip(logits, centre)])

    def student_log(logits):
        return log_softmax([s / STUDENT_TEMP for s in logits])

    P = [[teacher_dist(tch['image'][j][b], c_img) for b in range(B)]
         for j in range(NUM_GLOBAL)]
    Q = [[[teacher_dist(tch['region_logits'][j][b][m], c_reg)
           for m in range(len(tch['region_logits'][j][b]))]
          for b in range(B)] for j in range(NUM_GLOBAL)]
    p_log = [[student_log(crop['image'][b]) for b in range(B)]
             for crop in crops]
    q_log = [[[student_log(region) for region in crop['region_logits'][b]]
              for b in range(B)] for crop in crops]
    pairs = [(j, v) for j in range(NUM_GLOBAL) for v in range(len(crops))
             if v != j]

    # 1. image level
    img = [cross_entropy(P[j][b], p_log[v][b]) for j, v in pairs
           for b in range(B)]
    loss_img = sum(img) / len(img)

    # 2. region level
    reg, dropped_rows, dropped_regions, margin = [], 0, 0, math.inf
    for j, v in pairs:
        for b in range(B):
            s_regions = crops[v]['regions'][b]
            if matching == 'feature':
                t_regions = tch['regions'][j][b]
                match = []
                for s_tok in s_regions:
                    sims = [cosine(t_tok, s_tok) for t_tok in t_regions]
                    match.append(sims.index(max(sims)))
            else:
                match, gap = match_geometric(boxes[j][b], flips[j][b],
                                             boxes[v][b], flips[v][b],
                                             crops[v]['grid'])
                margin = min(margin, gap)
            if weighting == 'uniform':
                w = [0.0 if m is None else 1.0 for m in match]
            else:
                w = [0.0 if m is None else tch['weights'][j][b][m]
                     for m in match]
            dropped_regions += sum(m is None for m in match)
            total = sum(w)
            if total == 0:
                dropped_rows += 1
                continue
            reg.append(sum(
                wi / total * cross_entropy(Q[j][b][m], q_log[v][b][i])
                for i, (wi, m) in enumerate(zip(w, match)) if m is not None))
    loss_reg = sum(reg) / len(reg)

    # 3. inter level
    Q_bag = [[[sum(tch['weights'][j][b][m] * Q[j][b][m][k]
                   for m in range(len(Q[j][b]))) for k in range(K)]
              for b in range(B)] for j in range(NUM_GLOBAL)]
    q_bag_log = [[[math.log(sum(
        crop['weights'][b][i] * math.exp(q_log[v][b][i][k])
        for i in range(len(q_log[v][b])))) for k in range(K)]
        for b in range(B)] for v, crop in enumerate(crops)]
    to_bag = [cross_entropy(P[j][b], q_bag_log[v][b]) for j, v in pairs
              for b in range(B)]
    to_image = [cross_entropy(Q_bag[j][b], p_log[v][b]) for j, v in pairs
                for b in range(B)]
    loss_inter = 0.5 * (sum(to_bag) / len(to_bag) +
                        sum(to_image) / len(to_image))

    # centres: EMA of the teacher's mean logits
    def ema(centre, rows):
        return [CENTRE_MOMENTUM * c + (1 - CENTRE_MOMENTUM) *
                sum(row[k] for row in rows) / len(rows)
                for k, c in enumerate(centre)]

    image_rows = [tch['image'][j][b] for j in range(NUM_GLOBAL)
                  for b in range(B)]
    region_rows = [row for j in range(NUM_GLOBAL) for b in range(B)
                   for row in tch['region_logits'][j][b]]
    return dict(
        loss_img=TERM_WEIGHTS['img_weight'] * loss_img,
        loss_reg=TERM_WEIGHTS['reg_weight'] * loss_reg,
        loss_inter=TERM_WEIGHTS['inter_weight'] * loss_inter,
        image_centre=ema(c_img, image_rows),
        region_centre=ema(c_reg, region_rows),
        dropped_rows=dropped_rows,
        dropped_regions=dropped_regions,
        margin=margin)


# ----------------------------------------------------------------------
# the case
# ----------------------------------------------------------------------
def encoding(gen, num_crops, grid):
    n = grid[0] * grid[1]

    def uniform(*shape):  # cosine-like logits in [-1, 1]
        return torch.rand(*shape, generator=gen) * 2 - 1

    return CropEncoding(
        regions=torch.randn(num_crops, B, n, C, generator=gen),
        weights=torch.randn(num_crops, B, n, generator=gen).mul(1.5)
        .softmax(-1),
        grid=grid,
        image_logits=uniform(num_crops, B, K),
        region_logits=uniform(num_crops, B, n, K))


def make_case():
    gen = torch.Generator().manual_seed(17)
    student = [encoding(gen, NUM_GLOBAL, GLOBAL_GRID),
               encoding(gen, 2, LOCAL_GRID)]
    teacher = encoding(gen, NUM_GLOBAL, GLOBAL_GRID)
    image_centre = (torch.rand(1, K, generator=gen) - 0.5) * 0.6
    region_centre = (torch.rand(1, K, generator=gen) - 0.5) * 0.6
    boxes = torch.tensor(BOXES, dtype=torch.float32)
    flips = torch.tensor(FLIPS)
    return student, teacher, image_centre, region_centre, boxes, flips


def make_head(matching, weighting):
    return CMDHead(in_channels=C, num_prototypes=K, hidden_channels=4,
                   bottleneck_channels=4, matching=matching,
                   weighting=weighting, student_temp=STUDENT_TEMP,
                   teacher_temp=TEACHER_TEMP,
                   centre_momentum=CENTRE_MOMENTUM, **TERM_WEIGHTS)


@pytest.mark.parametrize('weighting', ['uniform', 'mil'])
@pytest.mark.parametrize('matching', ['feature', 'geometric'])
def test_loss_matches_the_hand_computation(matching, weighting):
    student, teacher, image_centre, region_centre, boxes, flips = \
        make_case()
    head = make_head(matching, weighting)
    head.image_centre.copy_(image_centre)
    head.region_centre.copy_(region_centre)

    expected = reference(student, teacher, image_centre, region_centre,
                         matching, weighting)
    losses = head.loss(student, teacher, boxes, flips)

    if matching == 'geometric':
        # the case exercises the dropping of regions and of whole crop
        # pairs, and no region centre lies near a cell edge (float32 and
        # float64 agree on every cell)
        assert expected['dropped_rows'] >= 1
        assert expected['dropped_regions'] > 4 * expected['dropped_rows']
        assert expected['margin'] > 1e-3
    assert set(losses) == {'loss_img', 'loss_reg', 'loss_inter'}
    for key in ('loss_img', 'loss_reg', 'loss_inter'):
        assert losses[key].item() == pytest.approx(expected[key], rel=1e-5,
                                                   abs=0), key
    assert head.image_centre[0].tolist() == pytest.approx(
        expected['image_centre'], rel=1e-5, abs=1e-7)
    assert head.region_centre[0].tolist() == pytest.approx(
        expected['region_centre'], rel=1e-5, abs=1e-7)


def test_each_choice_changes_the_region_loss():
    """The four matching x weighting variants give four different values,
    so the hand computation above checks four distinct code paths."""
    values = set()
    for matching in ('feature', 'geometric'):
        for weighting in ('uniform', 'mil'):
            student, teacher, image_centre, region_centre, boxes, flips = \
                make_case()
            head = make_head(matching, weighting)
            head.image_centre.copy_(image_centre)
            head.region_centre.copy_(region_centre)
            loss = head.loss(student, teacher, boxes, flips)['loss_reg']
            values.add(round(loss.item(), 5))
    assert len(values) == 4


def test_diagnostics_leave_the_losses_unchanged():
    student, teacher, image_centre, region_centre, boxes, flips = \
        make_case()
    plain = make_head('geometric', 'mil')
    with_diag = make_head('geometric', 'mil')
    for head in (plain, with_diag):
        head.image_centre.copy_(image_centre)
        head.region_centre.copy_(region_centre)
    losses = plain.loss(student, teacher, boxes, flips)
    diagnosed = with_diag.loss(student, teacher, boxes, flips,
                               diagnostics=True)
    for key, value in losses.items():
        assert torch.equal(diagnosed[key], value), key


def test_three_resolution_groups():
    """A third group (one crop, grid 1x2) reads the boxes and flips at
    offset 4, after the 2 global and the 2 local crops."""
    student, teacher, image_centre, region_centre, _, _ = make_case()
    gen = torch.Generator().manual_seed(18)
    student.append(encoding(gen, 1, THIRD_GRID))
    boxes, flips = BOXES + [THIRD_BOXES], FLIPS + [THIRD_FLIPS]
    head = make_head('geometric', 'mil')
    head.image_centre.copy_(image_centre)
    head.region_centre.copy_(region_centre)
    expected = reference(student, teacher, image_centre, region_centre,
                         'geometric', 'mil', boxes, flips)
    assert expected['margin'] > 1e-3
    losses = head.loss(student, teacher,
                       torch.tensor(boxes, dtype=torch.float32),
                       torch.tensor(flips))
    for key in ('loss_img', 'loss_reg', 'loss_inter'):
        assert losses[key].item() == pytest.approx(expected[key], rel=1e-5,
                                                   abs=0), key
