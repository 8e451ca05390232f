"""Central ORM models; importing this package registers every table on ``Base.metadata``."""

from virtuna.models.analyses import Analysis, Rule
from virtuna.models.base import Base
from virtuna.models.users import ApiKey, User
from virtuna.models.videos import Creator, Video, VideoHashtag, VideoStats
from virtuna.models.webhooks import ExternalEvent

__all__ = [
    "Analysis",
    "ApiKey",
    "Base",
    "Creator",
    "ExternalEvent",
    "Rule",
    "User",
    "Video",
    "VideoHashtag",
    "VideoStats",
]
