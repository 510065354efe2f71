"""The synthetic multi-person world: people on the 21-joint MuCo skeleton, rendered as shaded limb volumes with
correct mutual occlusion over varied backgrounds, written in the MuCo-3DHP / MuPoTS-3D / COCO-keypoints layouts.

Command line: ``posenet3d synth --out data/Synthetic --num-train N --num-test M --seed S
[--size 512] [--workers K]`` (see ``data/Synthetic/README.md``).

Modules: :mod:`.body` (anthropometry, joint-angle limits, kinematics), :mod:`.poses` (pose families, sampling
people), :mod:`.render` (primitives, painter's rasterisation, id buffer), :mod:`.background`, :mod:`.scene`
(camera, placement, visibility) and :mod:`.writer` (files on disk).

Video clips (``posenet3d synth --video``; README section "Video"): :mod:`.gait` (walking joint angles),
:mod:`.paths` (walkers on the ground, the built-in crossing), :mod:`.video_plan` (planning a clip),
:mod:`.video_render` (frames, visibility, occlusion episodes) and :mod:`.video` (``generate_video``, the files).
"""
from .body import BodyShape, PosedBody, sample_shape, torso_penetration
from .poses import sample_body
from .render import Appearance, Primitive, rasterize, rasterize_ids
from .scene import Camera, ScenePerson, place_people, render_scene, sample_camera
from .video import VIDEO_VERSION, generate_video
from .writer import GENERATOR_VERSION, generate, render_item

__all__ = ["GENERATOR_VERSION", "VIDEO_VERSION", "Appearance", "BodyShape", "Camera", "PosedBody", "Primitive",
           "ScenePerson", "generate", "generate_video", "place_people", "rasterize", "rasterize_ids", "render_item",
           "render_scene", "sample_body", "sample_camera", "sample_shape", "torso_penetration"]
