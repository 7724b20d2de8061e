"""Test doubles of the `context` the gateway hands to expressions (C#-named attributes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class Body:
    text: str
    reads: list[bool] = field(default_factory=list)

    def As(self, type_name: str, preserveContent: bool = False) -> object:
        self.reads.append(preserveContent)
        if type_name == "string":
            return self.text
        return json.loads(self.text)


@dataclass
class Url:
    Path: str = "/orders/42"
    Host: str = "api.example.com"
    Scheme: str = "https"
    Port: int = 443
    Query: dict[str, list[str]] = field(default_factory=lambda: {"page": ["2"]})

    def ToString(self) -> str:
        return f"{self.Scheme}://{self.Host}{self.Path}"


@dataclass
class Request:
    Method: str = "GET"
    Url: Url = field(default_factory=Url)
    Headers: dict[str, list[str]] = field(default_factory=dict)
    MatchedParameters: dict[str, str] = field(default_factory=lambda: {"id": "42"})
    IpAddress: str = "203.0.113.7"
    Body: Body | None = None


@dataclass
class Subscription:
    Id: str = "sub-1"
    Key: str = "k1"
    Name: str = "Gold"


@dataclass
class Deployment:
    GatewayId: str = "gw-1"
    Region: str = "West Europe"


@dataclass
class Context:
    Request: Request = field(default_factory=Request)
    Subscription: Subscription | None = field(default_factory=Subscription)
    Deployment: Deployment = field(default_factory=Deployment)
    Variables: dict[str, object] = field(default_factory=dict)
    RequestId: str = "c0ffee00-0000-0000-0000-000000000001"
    Timestamp: datetime = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)
    Elapsed: timedelta = timedelta(milliseconds=1500)
    traced: list[tuple[str, str]] = field(default_factory=list)

    def Trace(self, source: str, message: str) -> None:
        self.traced.append((source, message))
