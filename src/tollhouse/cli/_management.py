"""Calls to a control plane's management API, and the options that say which one.

The requests are those az sends to Azure for `Microsoft.ApiManagement`: ARM paths under the
service's resource id (`{service id}/apis/{api}?api-version=…`, DESIGN §4), ARM bodies
(`{"properties": {...}}`), a token for `https://management.azure.com/.default` from the
administrator profile's credential, TLS verified with the profile's CA bundle (a local
control plane's certificate comes from the same CA as the directory's). Every `tollhouse apim`
command takes the same options to find its service:

    --control-plane URL       else $TOLLHOUSE_CONTROL_PLANE, else https://127.0.0.1:9443
    --service-id ID           else $TOLLHOUSE_SERVICE_ID, else the control plane's default
    --subscription, -g, -n    replace that id's subscription, resource group, service name

Results are printed as az prints API Management resources: `properties` lifted to the top
beside `id`, `name`, `type` and `resourceGroup`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError

from tollhouse.cli._command import Subparsers, add_command
from tollhouse.cli._errors import CliError, RequestError, SignInError
from tollhouse.cli._http import ARM_SCOPE, DEFAULT_TIMEOUT_SECONDS, sign_in, tls_verification
from tollhouse.cli._output import Column, warn
from tollhouse.cli._session import TIMEOUT_ENV, Session

CONTROL_PLANE_ENV = "TOLLHOUSE_CONTROL_PLANE"
SERVICE_ID_ENV = "TOLLHOUSE_SERVICE_ID"
# `tollhouse control-plane`'s defaults (controlplane/_config.py; a test keeps them equal).
DEFAULT_CONTROL_PLANE = "https://127.0.0.1:9443"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
DEFAULT_RESOURCE_GROUP = "tollhouse"
DEFAULT_SERVICE_NAME = "tollhouse"
# The Microsoft.ApiManagement api-version az sends; the control plane accepts any.
APIM_API_VERSION = "2022-08-01"
# The control plane answers a collection in one page; this only stops a loop of nextLinks.
MAX_PAGES = 1000

_SERVICE_ID = re.compile(
    r"/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.ApiManagement/service/(?P<name>[^/]+)/?",
    re.IGNORECASE,
)
_RESOURCE_GROUP = re.compile(r"/resourceGroups/([^/]+)/", re.IGNORECASE)
# ARM resource names may hold these (an API revision is `echo;rev=2`); the rest is encoded.
_NAME_SAFE = ";=~"


@dataclass(frozen=True)
class ServiceId:
    subscription: str
    resource_group: str
    name: str

    def __str__(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ApiManagement/service/{self.name}"
        )


DEFAULT_SERVICE_ID = ServiceId(DEFAULT_SUBSCRIPTION, DEFAULT_RESOURCE_GROUP, DEFAULT_SERVICE_NAME)


def parse_service_id(text: str) -> ServiceId | None:
    match = _SERVICE_ID.fullmatch(text.strip())
    if match is None:
        return None
    return ServiceId(match["subscription"], match["group"], match["name"])


def _service_id_argument(text: str) -> ServiceId:
    parsed = parse_service_id(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a service id: /subscriptions/<id>/resourceGroups/<group>"
            "/providers/Microsoft.ApiManagement/service/<name>"
        )
    return parsed


def _url_argument(text: str) -> str:
    if not text.lower().startswith("https://") or len(text) <= len("https://"):
        # The requests carry bearer tokens: never in clear text.
        raise argparse.ArgumentTypeError(f"'{text}' is not an https:// URL")
    return text.rstrip("/")


def add_service_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("service arguments")
    group.add_argument(
        "--control-plane",
        metavar="URL",
        type=_url_argument,
        help=f"the control plane (default: ${CONTROL_PLANE_ENV}, else {DEFAULT_CONTROL_PLANE})",
    )
    group.add_argument(
        "--service-id",
        metavar="ID",
        type=_service_id_argument,
        help=f"the service's resource id (default: ${SERVICE_ID_ENV}, else "
        "the control plane's default service)",
    )
    group.add_argument("--subscription", help="the service id's subscription")
    group.add_argument("--resource-group", "-g", help="the service id's resource group")
    group.add_argument("--service-name", "-n", help="the service id's service name")


def service_id(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    base: ServiceId | None = args.service_id
    if base is None and environ.get(SERVICE_ID_ENV):
        base = parse_service_id(environ[SERVICE_ID_ENV])
        if base is None:
            raise CliError(f"${SERVICE_ID_ENV} is not an API Management service id.")
    base = base or DEFAULT_SERVICE_ID
    return str(
        ServiceId(
            args.subscription or base.subscription,
            args.resource_group or base.resource_group,
            args.service_name or base.name,
        )
    )


def control_plane_url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    if args.control_plane:
        return str(args.control_plane)
    if environ.get(CONTROL_PLANE_ENV):
        try:
            return _url_argument(environ[CONTROL_PLANE_ENV])
        except argparse.ArgumentTypeError as exc:
            raise CliError(f"${CONTROL_PLANE_ENV}: {exc}.") from None
    return DEFAULT_CONTROL_PLANE


def resource_path(*segments: str) -> str:
    """`resource_path("apis", api, "operations")`: names percent-encoded, as az sends them."""
    return "/".join(quote(segment, safe=_NAME_SAFE) for segment in segments)


class ManagementClient:
    """The management API of one service. Paths are relative to the service id."""

    def __init__(
        self,
        base_url: str,
        service_id: str,
        credential: TokenCredential,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.service_id = service_id
        self._prefix = quote(service_id.rstrip("/"), safe="/")
        self._credential = credential
        self._http = httpx.Client(
            base_url=self.base_url,
            verify=verify,
            timeout=timeout,
            transport=transport,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str) -> dict[str, Any]:
        return self._object("GET", path, self._send("GET", path))

    def put(self, path: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        answer = self._send("PUT", path, {"properties": dict(properties)})
        return self._object("PUT", path, answer)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The action's answer; None for one that answers nothing (204)."""
        return self._send("POST", path, dict(body or {})).body

    def delete(self, path: str) -> bool:
        """Whether there was something to delete (ARM: 200, else 204)."""
        return self._send("DELETE", path).status != 204

    def list_all(self, path: str) -> list[dict[str, Any]]:
        """Every item of a collection, following `nextLink` on this control plane only."""
        page = self._object("GET", path, self._send("GET", path))
        items = _items(path, page)
        for _ in range(MAX_PAGES):
            link = page.get("nextLink")
            if not link:
                return items
            if not str(link).startswith(self.base_url + "/"):
                # The token is for this control plane; a link elsewhere does not get it.
                raise CliError(f"The control plane answered a nextLink to another host: {link}")
            page = self._object("GET", path, self._request("GET", str(link), None, None))
            items += _items(path, page)
        raise CliError(f"The control plane answered more than {MAX_PAGES} pages for {path}.")

    def _send(self, method: str, path: str, body: Any = None) -> _Answer:
        url = f"{self._prefix}/{path}" if path else self._prefix
        return self._request(method, url, {"api-version": APIM_API_VERSION}, body)

    def _request(
        self, method: str, url: str, params: Mapping[str, str] | None, body: Any
    ) -> _Answer:
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            response = self._http.request(method, url, params=params, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise CliError(f"Cannot reach the control plane at {self.base_url}: {exc}.") from None
        if not response.is_success:
            raise _error(response)
        if not response.content:
            return _Answer(response.status_code, None)
        try:
            return _Answer(response.status_code, response.json())
        except ValueError:
            raise CliError(
                f"The control plane answered {method} {response.url.path} with a body that is "
                "not JSON."
            ) from None

    @staticmethod
    def _object(method: str, path: str, answer: _Answer) -> dict[str, Any]:
        if not isinstance(answer.body, dict):
            raise CliError(f"The control plane answered {method} {path} without a JSON object.")
        return answer.body

    def _token(self) -> str:
        try:
            return self._credential.get_token(ARM_SCOPE).token
        except AzureError as exc:
            first_line = str(exc.message or exc).strip().splitlines()[0]
            raise SignInError(f"Cannot get a token for {ARM_SCOPE}: {first_line}") from None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any  # decoded JSON; None when the response has no body


def _items(path: str, page: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = page.get("value")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise CliError(f"The control plane answered GET {path} without a list of resources.")
    return items


def _error(response: httpx.Response) -> RequestError:
    code, message = "", ""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        code = str(document["error"].get("code") or "")
        message = str(document["error"].get("message") or "")
    if not message:
        message = (
            f"The control plane answered HTTP {response.status_code} {response.reason_phrase}."
        )
    return RequestError(response.status_code, code, message)


def _timeout(environ: Mapping[str, str]) -> float:
    """$TOLLHOUSE_CLI_TIMEOUT, as for the directory's commands."""
    text = environ.get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise CliError(f"{TIMEOUT_ENV} must be a positive number of seconds.")
    return value


@contextlib.contextmanager
def open_management(
    args: argparse.Namespace, session: Session, environ: Mapping[str, str] | None = None
) -> Iterator[ManagementClient]:
    environ = os.environ if environ is None else environ
    url, service = control_plane_url(args, environ), service_id(args, environ)
    timeout = _timeout(environ)
    profile = session.profile
    verify = tls_verification(profile)
    credential = sign_in(profile)
    client = ManagementClient(url, service, credential, verify=verify, timeout=timeout)
    try:
        yield client
    finally:
        client.close()
        credential.close()


ApimHandler = Callable[[argparse.Namespace, ManagementClient], Any]


def add_apim_command(
    subparsers: Subparsers,
    name: str,
    run: ApimHandler,
    summary: str,
    *,
    columns: Sequence[Column] | None = None,
) -> argparse.ArgumentParser:
    """A leaf of `tollhouse apim`: its handler gets a client of the service the options name."""

    def handler(args: argparse.Namespace, session: Session) -> Any:
        with open_management(args, session) as client:
            return run(args, client)

    parser = add_command(subparsers, name, handler, summary, columns=columns)
    add_service_options(parser)
    return parser


def add_yes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="accepted as az accepts it; tollhouse never asks for confirmation",
    )


def flatten(resource: Mapping[str, Any]) -> dict[str, Any]:
    """az's rendering: `properties` lifted beside `id`, `name`, `type`, `resourceGroup`. The
    one property named `type`, an API's (`http`), is printed as az prints it: `apiType`."""
    properties = dict(resource.get("properties") or {})
    if "type" in properties:
        properties["apiType"] = properties.pop("type")
    flat = {k: v for k, v in resource.items() if k != "properties"}
    group = _RESOURCE_GROUP.search(str(resource.get("id", "")))
    if group is not None:
        flat["resourceGroup"] = group.group(1)
    return {**properties, **flat}


def delete_or_warn(client: ManagementClient, path: str, what: str) -> None:
    """az deletes nothing and says nothing; a warning at least tells a typo apart."""
    if not client.delete(path):
        warn(f"{what} was not found; nothing was deleted.")


def linked_apis(client: ManagementClient, links_path: str) -> list[dict[str, Any]]:
    """The APIs a collection of links names (`products/{p}/apis`, `gateways/{gw}/apis`), as
    APIM answers those collections: the APIs' own contracts."""
    links = client.list_all(links_path)
    apis = {str(api.get("name", "")).lower(): api for api in client.list_all("apis")}
    return [flatten(apis.get(str(link.get("name", "")).lower(), link)) for link in links]


def boolean(text: str) -> bool:
    """az's three-state flags take `true` and `false` (and yes/no)."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"'{text}' is not true or false")
