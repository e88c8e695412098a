# CMD without learned instance weights (ablation of cmd_effnet-lite0_cub.py):
# all three terms, but every region weighs 1/N, in the region term and in the
# MIL pooling of the inter-level term.
_base_ = './cmd_effnet-lite0_cub.py'
model = dict(
    neck=dict(attention='none'),
    head=dict(weighting='uniform'))
