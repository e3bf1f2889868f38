"""One embedded World shared by the mock arm and the sim camera in one process."""

import threading
import typing

from vag_ros.sim.config import SimConfig


class SharedWorld:
    """A World reset to a task, with the lock every user holds while touching it."""

    def __init__(self, sim: SimConfig, task: str, seed: int):
        from vag_ros.sim.world import World  # MuJoCo loads only when a world is needed
        self.lock = threading.Lock()
        self.world = World(sim)
        self.task = self.world.make_task(task, seed)
        self.world.reset(self.task)
        self.key = (sim, task, seed)
        self.users = 0


_WORLDS: typing.Dict[tuple, SharedWorld] = {}
_GUARD = threading.Lock()


def get_shared_world(sim: SimConfig, task: str, seed: int) -> SharedWorld:
    """The process's World for (sim, task, seed), built on first use."""
    key = (sim, task, seed)
    with _GUARD:
        if key not in _WORLDS:
            _WORLDS[key] = SharedWorld(sim, task, seed)
        _WORLDS[key].users += 1
        return _WORLDS[key]


def release_shared_world(shared: SharedWorld) -> None:
    """Drop one user; the last one frees the renderer and forgets the world."""
    with _GUARD:
        shared.users -= 1
        if shared.users > 0:
            return
        if _WORLDS.get(shared.key) is shared:
            del _WORLDS[shared.key]
    with shared.lock:
        shared.world.close()
