# The built-in SyntheticFineGrained set (cmd_plugin.datasets): 10 classes,
# each decided by 2 small coloured key parts on clutter shared by all
# classes; 64 px images generated in memory, so no LoadImageFromFile.
# A smoke test of the mechanism, not a benchmark.
num_classes = 10
train_set = dict(
    type='SyntheticFineGrained',
    split='train',
    num_classes=num_classes,
    num_per_class=100,
    image_size=64,
    num_parts=2,
    num_distractors=8,
    seed=0,
    pipeline=[dict(type='PackInputs')])
test_set = dict(train_set, split='test', num_per_class=30)

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=train_set)
