"""The task table: ``model.task`` → the network's task (see :class:`posenet3d.task_base.Task`).

PoseNet (:mod:`posenet3d.posenet`), RootNet (:mod:`rootnet`) and the CenterNet detector
(:mod:`posenet3d.detection`) each keep their task next to their model; this is the one place that composes them.
"""
from __future__ import annotations

from rootnet.task import RootNetTask

from .detection.task import CenterNetTask
from .posenet.task import PoseNetTask
from .task_base import Task

TASKS: dict[str, type] = {"posenet": PoseNetTask, "rootnet": RootNetTask, "centernet": CenterNetTask}


def get_task(name: str) -> Task:
    """The task of ``model.task`` = ``name``; a ValueError lists the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[name]()
