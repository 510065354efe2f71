"""The synthetic multi-person world: people on the 21-joint MuCo skeleton, rendered as shaded limb volumes with
correct mutual occlusion over varied backgrounds, written in the MuCo-3DHP / MuPoTS-3D / COCO-keypoints layouts.

Command line: ``posenet3d synth --out data/Synthetic --num-train N --num-test M --seed S
[--size 512] [--workers K]`` (see ``data/Synthetic/README.md``).

Modules: :mod:`.body` (anthropometry, joint-angle limits, kinematics), :mod:`.poses` (pose families, sampling
people), :mod:`.render` (primitives, painter's rasterisation, id buffer), :mod:`.background`, :mod:`.scene`
(camera, placement, visibility) and :mod:`.writer` (files on disk).
"""
from .body import BodyShape, PosedBody, sample_shape, torso_penetration
from .poses import sample_body
from .render import Appearance, Primitive, rasterize, rasterize_ids
from .scene import Camera, ScenePerson, place_people, render_scene, sample_camera
from .writer import GENERATOR_VERSION, generate, render_item

__all__ = ["GENERATOR_VERSION", "Appearance", "BodyShape", "Camera", "PosedBody", "Primitive", "ScenePerson",
           "generate", "place_people", "rasterize", "rasterize_ids", "render_item", "render_scene", "sample_body",
           "sample_camera", "sample_shape", "torso_penetration"]
