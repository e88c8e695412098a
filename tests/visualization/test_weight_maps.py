"""Weight-map figures: relative weights, shared scale, key-part boxes."""
import numpy as np
import pytest
from PIL import Image

from cmd_plugin.datasets.synthetic_fine_grained import SyntheticFineGrained
from cmd_plugin.visualization import plot_weight_maps, relative_weights
from cmd_plugin.visualization.weight_maps import BOX_COLOUR, colour_range


def test_relative_weights_of_a_uniform_map_are_all_one():
    for shape in ((4, 4), (7, 7), (2, 3)):
        uniform = np.full(shape, 1 / (shape[0] * shape[1]))
        assert np.allclose(relative_weights(uniform), 1.0)
    # any positive scale: normalised first; one cell with all the mass
    # scores N there
    peaked = np.zeros((4, 4))
    peaked[1, 2] = 5.0
    rel = relative_weights(peaked)
    assert rel[1, 2] == pytest.approx(16.0) and rel.sum() == pytest.approx(16)
    with pytest.raises(ValueError, match='non-negative'):
        relative_weights(-peaked)


def test_colour_range_is_shared_and_bounded():
    flat = np.ones((4, 4))
    assert colour_range([flat]) == 2.0  # a flat figure is not stretched
    peaked = relative_weights(np.eye(4))  # 4x on the diagonal
    assert colour_range([flat, peaked]) == pytest.approx(4.0)
    assert colour_range([np.full((2, 2), 100.0)]) == 4.0  # at most N


def test_boxes_are_drawn_at_the_generator_coordinates(tmp_path):
    dataset = SyntheticFineGrained(split='test', num_classes=2,
                                   num_per_class=1, image_size=64)
    boxes = [part.box for part in dataset.render(0)[1]]
    # on a grey image the only green pixels are the box outlines
    grey = np.full((64, 64, 3), 128, dtype=np.uint8)
    path = plot_weight_maps([grey], [], tmp_path / 'boxes.png',
                            boxes=[boxes], panel_inches=1.28)
    pixels = np.asarray(Image.open(path).convert('RGB')).astype(int)
    green = np.array([int(BOX_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    ys, xs = np.nonzero(np.abs(pixels - green).sum(axis=2) < 60)
    # the image panel: the rows and columns that are mostly grey
    grey_px = np.abs(pixels - 128).sum(axis=2) < 6
    rows = np.nonzero(grey_px.sum(axis=1) > 40)[0]
    cols = np.nonzero(grey_px.sum(axis=0) > 40)[0]
    top, left = rows.min(), cols.min()
    scale = (cols.max() - left + 1) / 64  # figure pixels per image pixel
    assert (rows.max() - top + 1) / 64 == pytest.approx(scale, abs=0.05)
    assert scale == pytest.approx(2, abs=0.2)
    # green pixels in image coordinates (the outline lies on the box's
    # border lines x = x1, x = x2, y = y1, y = y2 of the pixel grid)
    gx_img, gy_img = (xs - left + 0.5) / scale, (ys - top + 0.5) / scale

    def near(value, target):
        return np.abs(value - target) <= 1.2

    on_some_edge = np.zeros(len(xs), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        inside_x = (gx_img > x1 - 1.2) & (gx_img < x2 + 1.2)
        inside_y = (gy_img > y1 - 1.2) & (gy_img < y2 + 1.2)
        edges = {'top': near(gy_img, y1) & inside_x,
                 'bottom': near(gy_img, y2) & inside_x,
                 'left': near(gx_img, x1) & inside_y,
                 'right': near(gx_img, x2) & inside_y}
        for name, on_edge in edges.items():
            # the panel ends at the image border: no line is seen beyond it
            if (name, x2, y2) in (('right', 64, y2), ('bottom', x2, 64)):
                continue
            assert on_edge.sum() > scale * 4, (name, (x1, y1, x2, y2))
            on_some_edge |= on_edge
    assert on_some_edge.all(), 'green pixels away from every box edge'


def test_figure_shape_and_a_uniform_panel_is_flat(tmp_path):
    images = [np.zeros((32, 32, 3), np.uint8) + 100] * 2
    uniform = [np.full((4, 4), 1 / 16)] * 2
    path = plot_weight_maps(images, [('uniform', uniform),
                                     ('uniform too', uniform)],
                            tmp_path / 'flat.png', row_labels=['a', 'b'],
                            title='t')
    with Image.open(path) as png:
        assert png.format == 'PNG'
        assert png.width == pytest.approx(100 * (2.2 * 3 + 1.1), abs=2)
    with pytest.raises(ValueError, match="'uniform' has 1 maps for 2"):
        plot_weight_maps(images, [('uniform', uniform[:1])],
                         tmp_path / 'x.png')
