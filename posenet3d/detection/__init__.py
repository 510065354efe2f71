"""The CenterNet person detector around :mod:`posenet3d.nets.centernet`: training targets (:mod:`.targets`), the
input convention, training samples and inference to image boxes (:mod:`.pipeline`), and loading the published
checkpoints (:mod:`.checkpoint`). Person AP and the detection file RootNet reads: :mod:`posenet3d.evaluation.detection`.
"""
