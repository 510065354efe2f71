"""Person detectors. CenterNet, in one place: the network (:mod:`.model`), its loss (:mod:`.loss`), its decode
(:mod:`.decode`), its training targets (:mod:`.targets`), the input convention, training samples and inference to
image boxes (:mod:`.pipeline`), loading the published checkpoints (:mod:`.checkpoint`) and its engine task
(:mod:`.task`). torchvision's COCO detectors kept to people: :mod:`.torchvision_detectors`. Boxes computed
elsewhere (COCO JSON, the 3DMPPE box files, YOLO text): :mod:`.boxes_io`. Person AP and the detection file
RootNet reads: :mod:`posenet3d.evaluation.detection`.
"""
