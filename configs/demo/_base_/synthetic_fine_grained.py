# The built-in SyntheticFineGrained set (cmd_plugin.datasets): 10 classes,
# each decided by 2 coloured key parts (a shape in a colour) on clutter that
# all classes share: a colour field at half contrast, a grating and 4
# strokes in the parts' colours. 64 px images generated in memory, so no
# LoadImageFromFile. A smoke test of the mechanism, not a benchmark.
# The parts are 20-30 % of the image side (the generator's default is
# 14-22 %) and the clutter lighter than its default, so that a few CPU
# minutes of training can learn the classes (docs/demo.md).
num_classes = 10
train_set = dict(
    type='SyntheticFineGrained',
    split='train',
    num_classes=num_classes,
    num_per_class=100,
    image_size=64,
    num_parts=2,
    num_distractors=4,
    background_contrast=0.5,
    part_size=(0.2, 0.3),
    seed=0,
    pipeline=[dict(type='PackInputs')])
test_set = dict(train_set, split='test', num_per_class=30)

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=train_set)
