"""The CenterNet person detector, in one place: the network (:mod:`.model`), its loss (:mod:`.loss`), its decode
(:mod:`.decode`), its training targets (:mod:`.targets`), the input convention, training samples and inference to
image boxes (:mod:`.pipeline`), loading the published checkpoints (:mod:`.checkpoint`) and its engine task
(:mod:`.task`). Person AP and the detection file RootNet reads: :mod:`posenet3d.evaluation.detection`.
"""
