"""Network parts shared by PoseNet, RootNet and CenterNet: the ResNet backbone and the head pieces (deconvolution
stack, soft-argmax). The networks themselves live with their loss and task: :mod:`posenet3d.posenet`,
:mod:`rootnet`, :mod:`posenet3d.detection`."""
