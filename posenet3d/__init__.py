"""posenet3d: camera-distance-aware top-down 3D multi-person pose estimation (CenterNet + RootNet + PoseNet).

Units: millimetres in the camera frame (x right, y down, z forward); pixels in the image.
"""
__version__ = "0.1.0"
