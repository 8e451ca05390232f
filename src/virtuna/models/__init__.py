"""Central ORM models; importing this package registers every table on ``Base.metadata``."""

from virtuna.models.analyses import Analysis, Rule
from virtuna.models.base import Base
from virtuna.models.users import ApiKey, User

__all__ = ["Analysis", "ApiKey", "Base", "Rule", "User"]
