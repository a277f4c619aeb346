"""gymnasium wrappers: an env rewarded by a2r, as a single env or a vector env (docs/rl.md).

    from a2r_core.envs import A2RRewardConfig, A2RRewardWrapper, A2RVectorRewardWrapper, make_metaworld_env

Needs gymnasium (installed with a2r), no RL library. `make_metaworld_env` needs MetaWorld.
"""

from a2r_core.envs.config import A2RRewardConfig
from a2r_core.envs.metaworld import make_metaworld_env
from a2r_core.envs.vector import A2RVectorRewardWrapper
from a2r_core.envs.wrapper import A2RRewardWrapper

__all__ = ["A2RRewardConfig", "A2RRewardWrapper", "A2RVectorRewardWrapper", "make_metaworld_env"]
