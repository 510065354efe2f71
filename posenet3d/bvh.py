"""BVH animation of a tracked person: fixed bone lengths, joint rotations by inverse kinematics, root translation.

**Skeleton.** The hierarchy is the joint set's bone tree rooted at its root joint (``Pelvis`` for the 21-joint
MuCo and 17-joint MuPoTS sets). Each bone keeps one length for the whole track: the median over its frames. A
joint with several children (MuCo's Pelvis: Spine and both hips; Thorax: Head and both shoulders) gets one
zero-offset helper joint per child, named ``<joint>_<child>``, so that every child direction is reproduced
exactly; the joint's own rotation is the best rigid fit of its children (its body part's orientation). A leaf
joint carries an ``End Site`` one tenth of its bone along the bone. The rest pose (``OFFSET``) is a T-pose
facing the camera — arms sideways, legs down, toes forward — for the joints of :data:`REST_DIRECTIONS`; other
joints rest along their median direction.

**Rotations.** Each frame, a joint with one child turns by the shortest arc that takes its rest bone onto the
observed direction, in its parent's frame (no twist: positions do not define one); the joint with several
children by the rigid fit (Kabsch, :meth:`scipy.spatial.transform.Rotation.align_vectors`). Channels are
``Zrotation Xrotation Yrotation`` in degrees (the matrix ``Rz·Rx·Ry``, angles unwrapped over time), the root
adds ``Xposition Yposition Zposition``.

**Axes and units.** Millimetres. By default the camera frame: x right, y down, z forward (away from the
camera), origin at the camera. ``y_up=True``: a right-handed Y-up frame — x right, y up, z towards the camera
(the camera frame turned 180° about x), as Blender's BVH importer (forward −Z, up Y) and Unity expect; the
camera is still at the origin. Forward kinematics of the file reproduces the *bone-length-normalised* joints:
the root where it was observed, each bone along its observed direction with the track's median length.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

#: Rest (T-pose) direction of the bone that ends at each joint, in a Y-up frame, the person facing +z (towards
#: the camera), so the person's right is −x.
REST_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "Spine": (0, 1, 0), "Thorax": (0, 1, 0), "Neck": (0, 1, 0), "Head": (0, 1, 0), "Head_top": (0, 1, 0),
    "R_Shoulder": (-1, 0, 0), "R_Elbow": (-1, 0, 0), "R_Wrist": (-1, 0, 0), "R_Hand": (-1, 0, 0),
    "L_Shoulder": (1, 0, 0), "L_Elbow": (1, 0, 0), "L_Wrist": (1, 0, 0), "L_Hand": (1, 0, 0),
    "R_Hip": (-1, -0.2, 0), "R_Knee": (0, -1, 0), "R_Ankle": (0, -1, 0), "R_Toe": (0, 0, 1),
    "L_Hip": (1, -0.2, 0), "L_Knee": (0, -1, 0), "L_Ankle": (0, -1, 0), "L_Toe": (0, 0, 1),
}
#: Camera frame (x right, y down, z forward) → Y-up frame (x right, y up, z towards the camera).
Y_UP = np.diag([1.0, -1.0, -1.0])
ROT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")


class BvhError(ValueError):
    """A track that cannot be exported, or a BVH text that cannot be read."""


@dataclass
class Node:
    """One BVH joint: ``name``, ``parent`` node index (-1: root), ``joint`` index in the joint set (None: a
    helper joint at its parent joint's place), ``offset`` (3,) mm in the parent's rest frame, ``end_site`` (3,)
    or None, ``channels``."""

    name: str
    parent: int
    joint: int | None
    offset: np.ndarray
    channels: tuple[str, ...] = ROT_CHANNELS
    end_site: np.ndarray | None = None
    children: list[int] = field(default_factory=list)


def bone_tree(n_joints: int, bones, root: int) -> list[int]:
    """Parent joint of each joint (-1 for ``root``) of the tree the bones form; :class:`BvhError` unless the
    bones form one tree over all joints."""
    adj: dict[int, list[int]] = {j: [] for j in range(n_joints)}
    for a, b in bones:
        adj[int(a)].append(int(b))
        adj[int(b)].append(int(a))
    parent = [-2] * n_joints
    parent[root] = -1
    stack = [root]
    while stack:
        j = stack.pop()
        for k in adj[j]:
            if parent[k] == -2:
                parent[k] = j
                stack.append(k)
            elif k != parent[j]:
                raise BvhError("the skeleton's bones form a cycle, not a tree")
    missing = [j for j in range(n_joints) if parent[j] == -2]
    if missing:
        raise BvhError(f"joints {missing} are not connected to the root by bones")
    return parent


def normalise(joints: np.ndarray, parent: list[int], lengths: np.ndarray) -> np.ndarray:
    """(T, J, 3): the root as observed, every other joint at its parent plus its bone's ``lengths[j]`` along the
    observed direction (a bone of zero observed length keeps its previous frame's direction, else straight up
    along −y)."""
    out = np.array(joints, dtype=np.float64)
    order = _topological(parent)
    last = {j: np.array([0.0, -1.0, 0.0]) for j in range(len(parent))}
    for t in range(len(out)):
        for j in order:
            p = parent[j]
            if p < 0:
                continue
            d = joints[t, j] - joints[t, p]
            n = np.linalg.norm(d)
            if n > 1e-9:
                last[j] = d / n
            out[t, j] = out[t, p] + lengths[j] * last[j]
    return out


def _topological(parent: list[int]) -> list[int]:
    order, seen = [], set()

    def visit(j):
        if j in seen:
            return
        if parent[j] >= 0:
            visit(parent[j])
        seen.add(j)
        order.append(j)

    for j in range(len(parent)):
        visit(j)
    return order


def interpolate_missing(frames: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(every frame from the first to the last, joints there, number of frames filled in): frames the track
    missed and joints that are not finite are linearly interpolated per joint and axis over the joint's finite
    samples (held at the ends). Unlike :func:`posenet3d.video.fill_gaps` (whole frames, gaps up to a length) a
    BVH needs every frame and every joint."""
    frames = np.asarray(frames, dtype=np.int64)
    full = np.arange(frames[0], frames[-1] + 1)
    out = np.empty((len(full),) + joints.shape[1:])
    for j in range(joints.shape[1]):
        ok = np.isfinite(joints[:, j]).all(axis=1)
        if not ok.any():
            raise BvhError(f"joint {j} is never finite in this track")
        for a in range(3):
            out[:, j, a] = np.interp(full, frames[ok], joints[ok, j, a])
    return full, out, len(full) - len(frames)


def _rest_direction(name: str, observed: np.ndarray, y_up: bool) -> np.ndarray:
    d = REST_DIRECTIONS.get(name)
    if d is None:
        v = observed
    else:
        v = np.asarray(d, dtype=np.float64)
        v = v if y_up else Y_UP @ v  # the table is Y-up
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.array([0.0, 1.0 if y_up else -1.0, 0.0])


def build_nodes(names, parent: list[int], lengths: np.ndarray, median_dirs: np.ndarray, y_up: bool) -> list[Node]:
    """The BVH hierarchy (depth first from the root; helper joints before a branching joint's children)."""
    root = parent.index(-1)
    children = {j: [k for k in range(len(parent)) if parent[k] == j] for j in range(len(parent))}
    nodes: list[Node] = []

    def rest(j):
        return lengths[j] * _rest_direction(names[j], median_dirs[j], y_up)

    def add(j: int, parent_node: int, offset: np.ndarray) -> None:
        idx = len(nodes)
        channels = ("Xposition", "Yposition", "Zposition", *ROT_CHANNELS) if parent_node < 0 else ROT_CHANNELS
        nodes.append(Node(names[j], parent_node, j, offset, channels))
        if parent_node >= 0:
            nodes[parent_node].children.append(idx)
        kids = children[j]
        if not kids:
            nodes[idx].end_site = 0.1 * offset if np.linalg.norm(offset) > 1e-9 else np.array([0.0, 10.0, 0.0])
        elif len(kids) == 1:
            add(kids[0], idx, rest(kids[0]))
        else:
            for k in kids:
                helper = len(nodes)
                nodes.append(Node(f"{names[j]}_{names[k]}", idx, None, np.zeros(3)))
                nodes[idx].children.append(helper)
                add(k, helper, rest(k))

    add(root, -1, np.zeros(3))
    return nodes


def _shortest_arc(a: np.ndarray, b: np.ndarray) -> Rotation:
    """Per row, the smallest rotation taking direction ``a`` onto direction ``b`` ((T, 3) each)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis, axis=-1), np.sum(a * b, axis=-1)
    angle = np.arctan2(s, c)
    unit = np.zeros_like(axis)
    ok = s > 1e-12
    unit[ok] = axis[ok] / s[ok, None]
    for t in np.nonzero(~ok & (c < 0))[0]:  # opposite: any axis perpendicular to a
        perp = np.cross(a[t], [1.0, 0.0, 0.0] if abs(a[t, 0]) < 0.9 else [0.0, 1.0, 0.0])
        unit[t] = perp / np.linalg.norm(perp)
    return Rotation.from_rotvec(unit * angle[:, None])


def solve(nodes: list[Node], joints: np.ndarray) -> list[Rotation]:
    """Local rotation of each node for every frame ((T,) each) so that forward kinematics puts every joint
    where ``joints`` (T, J, 3), bone-length-normalised to the nodes' offsets, has it."""
    T = len(joints)
    world: list[Rotation] = []
    local: list[Rotation] = []
    for node in nodes:
        g_parent = world[node.parent] if node.parent >= 0 else Rotation.identity(T)
        anchor = node.joint if node.joint is not None else _anchor(nodes, node)
        kids = [nodes[c] for c in node.children]
        if not kids:
            r_local = Rotation.identity(T)
        elif len(kids) == 1 and kids[0].joint is not None:
            target = joints[:, kids[0].joint] - joints[:, anchor]
            r_local = _shortest_arc(np.broadcast_to(kids[0].offset, target.shape), g_parent.inv().apply(target))
        else:  # a branching joint: its helpers' children, fitted rigidly
            grand = [nodes[k.children[0]] for k in kids]
            fits = []
            for t in range(T):
                targets = np.stack([joints[t, g.joint] - joints[t, anchor] for g in grand])
                rests = np.stack([g.offset for g in grand])
                fits.append(Rotation.align_vectors(targets, rests)[0].as_quat())
            r_local = g_parent.inv() * Rotation.from_quat(fits)
        local.append(r_local)
        world.append(g_parent * r_local)
    return local


def _anchor(nodes: list[Node], node: Node) -> int:
    p = nodes[node.parent]
    while p.joint is None:
        p = nodes[p.parent]
    return p.joint


def euler_channels(rotations: list[Rotation]) -> np.ndarray:
    """(T, nodes, 3) ``Z X Y`` angles in degrees of the rotations ``Rz·Rx·Ry``, unwrapped over time."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: still the same rotation
        deg = np.stack([r.as_euler("ZXY", degrees=True) for r in rotations], axis=1)
    return np.unwrap(deg, period=360.0, axis=0)


def _fmt(v) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def bvh_text(nodes: list[Node], root_mm: np.ndarray, euler_deg: np.ndarray, frame_time_s: float) -> str:
    """The BVH file: HIERARCHY (offsets mm) and MOTION (root position mm, then Z X Y degrees per node)."""
    lines = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        n, pad = nodes[i], "  " * depth
        lines.append(f"{pad}{'ROOT' if n.parent < 0 else 'JOINT'} {n.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {_fmt(n.offset)}")
        lines.append(f"{pad}  CHANNELS {len(n.channels)} {' '.join(n.channels)}")
        for c in n.children:
            emit(c, depth + 1)
        if n.end_site is not None:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_fmt(n.end_site)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(root_mm)}", f"Frame Time: {frame_time_s:.8f}"]
    for t in range(len(root_mm)):
        lines.append(_fmt(np.concatenate([root_mm[t], euler_deg[t].reshape(-1)])))
    return "\n".join(lines) + "\n"


@dataclass
class TrackBvh:
    """A track's BVH ``text`` and what to know about it: the ``first_frame`` (video frame index of BVH frame
    0), ``frames`` (count), ``filled`` (frames interpolated over gaps), ``bone_lengths_mm`` per joint name
    (the bone that ends there) and ``normalised_mm`` (T, J, 3), the joints the file reproduces (output
    frame)."""

    text: str
    first_frame: int
    frames: int
    filled: int
    bone_lengths_mm: dict[str, float]
    normalised_mm: np.ndarray


def track_to_bvh(frames, joints_cam_mm, joint_names, bones, root: int, fps: float, y_up: bool = False
                 ) -> TrackBvh:
    """One track (``frames`` (T,) video frame indices, ``joints_cam_mm`` (T, J, 3) camera frame, mm; None or NaN
    for a missing joint) as a BVH animation (module docstring). :class:`BvhError` for a track shorter than 2
    frames or without a joint."""
    joints = np.asarray([[[np.nan if v is None else v for v in p] for p in f] for f in joints_cam_mm],
                        dtype=np.float64) if not isinstance(joints_cam_mm, np.ndarray) else joints_cam_mm.astype(float)
    frames = np.asarray(frames, dtype=np.int64)
    if len(frames) < 2:
        raise BvhError(f"the track has {len(frames)} frame: a BVH animation needs at least 2")
    if not (np.isfinite(fps) and fps > 0):
        raise BvhError(f"fps must be positive, got {fps!r}")
    if joints.ndim != 3 or joints.shape[0] != len(frames) or joints.shape[1] != len(joint_names) \
            or joints.shape[2] != 3:
        raise BvhError(f"joints have shape {joints.shape}, expected ({len(frames)}, {len(joint_names)}, 3)")
    full, joints, filled = interpolate_missing(frames, joints)
    if y_up:
        joints = joints @ Y_UP.T
    parent = bone_tree(len(joint_names), bones, root)
    vec = np.stack([joints[:, j] - joints[:, max(p, 0)] for j, p in enumerate(parent)], axis=1)
    norms = np.linalg.norm(vec, axis=-1)
    lengths = np.median(norms, axis=0)
    lengths[root] = 0.0
    unit = np.where(norms[..., None] > 1e-9, vec / np.maximum(norms, 1e-9)[..., None], 0.0)
    median_dirs = np.median(unit, axis=0)
    nodes = build_nodes(list(joint_names), parent, lengths, median_dirs, y_up)
    target = normalise(joints, parent, lengths)
    rotations = solve(nodes, target)
    text = bvh_text(nodes, target[:, root], euler_channels(rotations), 1.0 / fps)
    return TrackBvh(text, int(full[0]), len(full), filled,
                    {joint_names[j]: round(float(lengths[j]), 3) for j in range(len(parent)) if parent[j] >= 0},
                    target)


# ----------------------------------------------------------------------------------------- read and FK --

@dataclass
class Bvh:
    """A parsed BVH: ``nodes`` (names, parents, offsets, channels; End Sites left out) and ``motion``
    (frames, channels), ``frame_time_s``."""

    nodes: list[Node]
    motion: np.ndarray
    frame_time_s: float


def read_bvh(text: str) -> Bvh:
    """Parse a BVH text (any channel order); :class:`BvhError` naming what is wrong."""
    tokens = re.findall(r"[^\s{}]+|[{}]", text)
    nodes: list[Node] = []
    stack: list[int] = []
    i = 0
    try:
        if tokens[0] != "HIERARCHY":
            raise BvhError("a BVH starts with HIERARCHY")
        i = 1
        pending_end = False
        while tokens[i] != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                nodes.append(Node(tokens[i + 1], stack[-1] if stack else -1, len(nodes), np.zeros(3), ()))
                if stack:
                    nodes[stack[-1]].children.append(len(nodes) - 1)
                i += 2
            elif tok == "End":
                pending_end, i = True, i + 2
            elif tok == "{":
                stack.append(-1 if pending_end else len(nodes) - 1)
                pending_end, i = False, i + 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                off = np.array([float(v) for v in tokens[i + 1:i + 4]])
                if stack[-1] == -1:
                    nodes[_last_real(stack)].end_site = off
                else:
                    nodes[stack[-1]].offset = off
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                nodes[stack[-1]].channels = tuple(tokens[i + 2:i + 2 + n])
                i += 2 + n
            else:
                raise BvhError(f"unexpected {tok!r} in the HIERARCHY")
        n_frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array([float(v) for v in tokens[i + 6:]])
    except (IndexError, ValueError) as exc:
        raise BvhError(f"not a readable BVH ({exc})") from None
    width = sum(len(n.channels) for n in nodes)
    if values.size != n_frames * width:
        raise BvhError(f"MOTION holds {values.size} numbers, expected {n_frames} frames × {width} channels")
    return Bvh(nodes, values.reshape(n_frames, width), frame_time)


def _last_real(stack: list[int]) -> int:
    return next(s for s in reversed(stack) if s != -1)


def forward_kinematics(bvh: Bvh) -> dict[str, np.ndarray]:
    """World position (frames, 3) of every joint of a parsed BVH, by name."""
    T = len(bvh.motion)
    col = 0
    world_rot: list[Rotation] = []
    world_pos: list[np.ndarray] = []
    out = {}
    for node in bvh.nodes:
        values = bvh.motion[:, col:col + len(node.channels)]
        col += len(node.channels)
        rot_axes = "".join(c[0].upper() for c in node.channels if c.endswith("rotation"))
        rot_idx = [k for k, c in enumerate(node.channels) if c.endswith("rotation")]
        local = Rotation.from_euler(rot_axes, values[:, rot_idx], degrees=True) if rot_axes else Rotation.identity(T)
        translation = np.zeros((T, 3))
        for k, c in enumerate(node.channels):
            if c.endswith("position"):
                translation[:, "XYZ".index(c[0].upper())] = values[:, k]
        if node.parent < 0:
            pos = node.offset + translation
            rot = local
        else:
            pos = world_pos[node.parent] + world_rot[node.parent].apply(node.offset + translation)
            rot = world_rot[node.parent] * local
        world_pos.append(pos)
        world_rot.append(rot)
        out[node.name] = pos
    return out
