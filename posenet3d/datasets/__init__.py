"""Dataset adapters (published layouts → :class:`PersonRecord`) and the shared top-down codec."""
from .base import DatasetError, PersonRecord

__all__ = ["DatasetError", "PersonRecord"]
