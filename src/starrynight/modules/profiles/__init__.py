"""Profiles: cells aggregated per guide and per gene, normalised to non-targeting controls."""

from starrynight.modules.profiles.module import ProfilesModule
from starrynight.modules.profiles.step import ProfilesParameters

__all__ = ["ProfilesModule", "ProfilesParameters"]
