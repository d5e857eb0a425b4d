"""Video: VideoEnv, perception, its cache, the REPL tools and synthetic videos.

Only ``options`` is imported here: the rest needs the video extra (``rlmx[video]``).
"""

from .options import VideoOptions

__all__ = ["VideoOptions"]
