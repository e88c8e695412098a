# CMD with geometric region matching (ablation of cmd_effnet-lite0_cub.py):
# a student region is paired with the teacher region that covers its centre
# in image coordinates (recorded crop boxes and flips) instead of the most
# similar teacher region.
_base_ = './cmd_effnet-lite0_cub.py'
model = dict(head=dict(matching='geometric'))
