"""Central ORM models; importing this package registers every table on ``Base.metadata``."""

from virtuna.models.analyses import Analysis, Rule
from virtuna.models.base import Base
from virtuna.models.billing import Subscription, UsageCounter
from virtuna.models.jobs import JobRun, ScheduleSlot
from virtuna.models.llm import LLMCall
from virtuna.models.ml import MLModel
from virtuna.models.outcomes import CalibrationReport, Calibrator, Outcome, OutcomeFollowUp
from virtuna.models.trends import ApifyRun, TrendingHashtag, TrendingSound, TrendSnapshotRun
from virtuna.models.users import ApiKey, User
from virtuna.models.videos import Creator, Video, VideoHashtag, VideoStats
from virtuna.models.webhooks import ExternalEvent

__all__ = [
    "Analysis",
    "ApiKey",
    "ApifyRun",
    "Base",
    "CalibrationReport",
    "Calibrator",
    "Creator",
    "ExternalEvent",
    "JobRun",
    "LLMCall",
    "MLModel",
    "Outcome",
    "OutcomeFollowUp",
    "Rule",
    "ScheduleSlot",
    "TrendSnapshotRun",
    "TrendingHashtag",
    "TrendingSound",
    "Subscription",
    "UsageCounter",
    "User",
    "Video",
    "VideoHashtag",
    "VideoStats",
]
