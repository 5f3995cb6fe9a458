"""Who the Kiro provider is signed in as: auth kind, API region, profile ARN per host family.

kiro-2026.md section 4: social accounts carry their ARN from the refresh answer, Identity
Center looks it up with ListAvailableProfiles (cached per token and region), Builder ID sends
Kiro's fixed profile to runtime and none to the legacy hosts, API keys send none. The region
comes from the ARN (or the key's probed region).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiclient_trio.config.types import KiroConfig
from aiclient_trio.providers.kiro import client, endpoints
from aiclient_trio.providers.kiro.auth import KiroAuth
from aiclient_trio.providers.kiro.endpoints import AuthKind, Family
from aiclient_trio.providers.kiro.management import KiroManagement, ManagementError

__all__ = ["KiroIdentity"]

log = logging.getLogger(__name__)


class KiroIdentity:
    def __init__(self, config: KiroConfig, auth: KiroAuth, management: KiroManagement) -> None:
        self.config, self.auth, self.management = config, auth, management
        # Identity Center profile ARNs from ListAvailableProfiles, per (token, region).
        self._profiles: dict[tuple[str, str], str | None] = {}

    def record(self) -> dict[str, Any]:
        return self.auth.record or {}

    def kind(self) -> AuthKind:
        return endpoints.auth_kind(self.record())

    def credential_key(self) -> str:
        record = self.record()
        seed = str(record.get("refreshToken") or record.get("accessToken") or "")
        return hashlib.sha256(seed.encode()).hexdigest()[:16]

    async def credentials(self) -> tuple[str, AuthKind, str]:
        token = await self.auth.access_token()
        return token, self.kind(), client.machine_id(self.record())

    def region(self) -> str:
        """API region: configured, else the profile ARN's, else the key's or token's, else
        us-east-1 (Builder ID lives there)."""
        if self.config.api_region:
            return self.config.api_region
        record = self.record()
        from_arn = endpoints.region_of_arn(self.auth.profile_arn)
        if from_arn:
            return from_arn
        region = record.get("region")
        if self.kind() in ("api_key", "idc", "external_idp") and region in endpoints.API_REGIONS:
            return str(region)
        return "us-east-1"

    async def _idc_profile(self) -> str | None:
        """The Identity Center profile ARN: ListAvailableProfiles in the account's region
        (then the other API regions), cached per token and region."""
        key = self.credential_key()
        record = self.record()
        first = [self.config.api_region] if self.config.api_region else []
        if record.get("region") in endpoints.API_REGIONS:
            first.append(str(record["region"]))
        regions = list(dict.fromkeys([*first, "us-east-1", "eu-central-1"]))
        for region in regions:
            if (key, region) in self._profiles:
                arn = self._profiles[(key, region)]
                if arn:
                    return arn
                continue
            try:
                profiles = await self.management.list_profiles(region)
            except ManagementError as exc:
                log.info("Kiro ListAvailableProfiles in %s failed: %s", region, exc)
                continue
            arn = str(profiles[0]["arn"]) if profiles else None
            self._profiles[(key, region)] = arn
            if arn:
                return arn
        return None

    async def profile_arn_for(self, family: Family) -> str | None:
        """profileArn per auth kind and host family (kiro-2026.md section 4)."""
        kind = self.kind()
        if kind == "api_key":
            return None
        if kind == "builder_id":
            return self.config.builder_id_profile_arn if family.builder_id_profile else None
        if self.auth.profile_arn:
            return self.auth.profile_arn
        if kind in ("idc", "external_idp"):
            return await self._idc_profile()
        return None

    async def region_and_profile(self, family: Family) -> tuple[str, str | None]:
        arn = await self.profile_arn_for(family)
        region = self.config.api_region or endpoints.region_of_arn(arn) or self.region()
        if self.kind() == "builder_id":
            region = self.config.api_region or "us-east-1"
        return region, arn
