"""The DynamoDB regions of a deployment: the home region, then replicas in order of preference.

Parsed from three settings (`aws_region`, `dynamodb_replica_regions`,
`dynamodb_region_endpoints`) with errors that name the bad entry. A region without an endpoint
is AWS's; when the home region is an emulator (or the embedded one), every replica needs one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$|^[a-z0-9-]{1,40}-local$|^local$")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class Region:
    name: str
    endpoint: str | None  # None: AWS's endpoint of the region (or the embedded emulator: home)


@dataclass(frozen=True)
class RegionMap:
    home: Region
    replicas: tuple[Region, ...] = ()

    @property
    def all(self) -> tuple[Region, ...]:
        """Home first, then the replicas in order of preference."""
        return (self.home, *self.replicas)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(region.name for region in self.all)

    @classmethod
    def parse(
        cls, home: str, home_endpoint: str | None, replicas: str, endpoints: str
    ) -> RegionMap:
        """ValueError, naming the entry, for a malformed, repeated or endpoint-less region."""
        names = [part.strip() for part in replicas.split(",") if part.strip()]
        for name in [home, *names] if names else []:  # one region: any name, as before
            _check_name(name)
        if len(set(names)) != len(names) or home in names:
            raise ValueError(
                f"dynamodb_replica_regions {replicas!r}: each replica once, none equal to the "
                f"home region {home!r}"
            )
        given = _endpoints(endpoints, {home, *names})
        if home in given and given[home] != home_endpoint:
            raise ValueError(
                f"dynamodb_region_endpoints names the home region {home!r}: its endpoint is "
                "ORDERLINE_DYNAMODB_ENDPOINT (leave the home region out, or give the same URL)"
            )
        local_home = home_endpoint is None or urlparse(home_endpoint).hostname in LOCAL_HOSTS
        for name in names:
            if name not in given and local_home:
                raise ValueError(
                    f"replica region {name!r} has no endpoint in dynamodb_region_endpoints, and "
                    "the home region is an emulator: name one (us-west-2=http://127.0.0.1:8001)"
                )
        return cls(
            Region(home, home_endpoint), tuple(Region(name, given.get(name)) for name in names)
        )


def _check_name(name: str) -> None:
    if not REGION_NAME.match(name):
        raise ValueError(f"{name!r} is not a region name (like us-east-1)")


def _endpoints(text: str, known: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        name, url = name.strip(), url.strip()
        parsed = urlparse(url)
        if not sep or parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(
                f"dynamodb_region_endpoints entry {entry!r}: write REGION=http(s)://host:port"
            )
        if name not in known:
            raise ValueError(
                f"dynamodb_region_endpoints entry {entry!r}: {name!r} is neither the home "
                "region nor a replica region"
            )
        if name in found:
            raise ValueError(f"dynamodb_region_endpoints names {name!r} twice")
        found[name] = url
    return found
