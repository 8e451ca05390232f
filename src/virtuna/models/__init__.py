"""Central ORM models; importing this package registers every table on ``Base.metadata``."""

from virtuna.models.analyses import Analysis, Rule
from virtuna.models.base import Base
from virtuna.models.users import ApiKey, User
from virtuna.models.videos import Creator, Video, VideoHashtag, VideoStats

__all__ = [
    "Analysis",
    "ApiKey",
    "Base",
    "Creator",
    "Rule",
    "User",
    "Video",
    "VideoHashtag",
    "VideoStats",
]
