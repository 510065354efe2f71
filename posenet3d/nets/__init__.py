"""Networks: the ResNet backbone, PoseNet (3D joints), and shared head pieces."""
