"""The route table: a request's host, scheme, path and method → API, operation and template
parameters, or the reason there is none. Compiled once per configuration; matching allocates
little and never raises.

The rules, in the order they apply:

1. **Host.** With `hostnames` given, only those hosts are served (`*.example.com` covers one
   label); without, every host is (the self-hosted gateway answers on whatever name reaches it).
2. **API.** The longest API path that is a prefix of the request path on a segment boundary
   wins (`/api` matches `/api` and `/api/x`, never `/apix`); an API whose path is "" matches
   whatever no other API does. Paths compare case-insensitively, like operation templates (the
   control plane folds case when it looks for duplicates). A versioned API (`apiVersion` set,
   the "Segment" scheme) is reached at `/{path}/{version}`. Only current revisions are reached
   at their path; every revision is reached with `;rev={n}` after the last segment
   (`/echo;rev=2/…`, `/api/v2;rev=3/…`, `/;rev=2/…` for the root API), as APIM routes them.
3. **Protocol.** The chosen API must allow the request's scheme (`protocols`). There is no
   retry with a shorter prefix: a request meant for an https-only API must not fall through to
   a catch-all API over http. A refused scheme is its own outcome, answered like not-found.
4. **Operation.** By method (an operation's own method beats a `*` operation) and URL template
   (`_template.py`). At each segment a literal beats a pattern (`{a}.{b}`), which beats a
   parameter, which beats the trailing wildcard; when the better branch has no operation for
   the method, the next one is tried (`DELETE /users/me` reaches `DELETE /users/{id}` even
   if `GET /users/me` exists). At one place, an operation requiring more query parameters is
   tried first.
5. **Trailing slash.** `/items` and `/items/` are distinct templates, and each request form
   matches its own template first; a request whose form has no template matches the other one
   (`/items/` reaches `/items`), since clients add and drop that slash freely. The API root
   `/api` and `/api/` both match the template `/`.
6. **Not found.** APIM answers 404 `{"statusCode": 404, "message": "Resource not found"}` when
   no API or no operation matches — a method mismatch included (APIM does not answer 405) —
   and sets `context.LastError` to source `configuration`, reason `OperationNotFound`
   ("Predefined errors for built-in steps", `api-management-error-handling-policies.md`).

Template parameters are percent-decoded into `RouteMatch.parameters`, the
`context.Request.MatchedParameters` of policies: those of the path and those of the query part
of the template, and only those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, NamedTuple
from urllib.parse import unquote

from tollhouse.contracts import ApiConfig, GatewayConfiguration, OperationConfig
from tollhouse.gateway.routing._errors import RoutingError
from tollhouse.gateway.routing._query import query_values
from tollhouse.gateway.routing._template import (
    QueryRule,
    SegmentKind,
    Template,
    TemplateError,
    parse_template,
)

NOT_FOUND_STATUS = 404
NOT_FOUND_MESSAGE = "Resource not found"
OPERATION_NOT_FOUND_REASON = "OperationNotFound"
OPERATION_NOT_FOUND_MESSAGE = "Unable to match incoming request to an operation."

# The schemes a request reaches an API by; `ws`/`wss` are WebSocket APIs, not served here.
ROUTED_PROTOCOLS = ("http", "https")
# RFC 9110 §5.6.2 token characters; `*` is also APIM's "any method" operation.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", re.ASCII)
_HOSTNAME = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9\-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]*[a-z0-9])?)*")
_REVISION = re.compile(r"[1-9][0-9]*", re.ASCII)
_ANY_METHOD = "*"


class NoMatchReason(StrEnum):
    HOST_NOT_SERVED = "HostNotServed"
    API_NOT_FOUND = "ApiNotFound"
    PROTOCOL_NOT_ALLOWED = "ProtocolNotAllowed"
    OPERATION_NOT_FOUND = "OperationNotFound"


class RouteMatch(NamedTuple):
    """A routed request. A named tuple rather than a frozen dataclass: one is built per
    request, and a tuple is built in a third of the time."""

    api: ApiConfig
    operation: OperationConfig
    # Template parameter name (as in the template) → percent-decoded value.
    parameters: Mapping[str, str]
    # The request path after the API's path (and version, and `;rev=n`): "" or "/…", what is
    # appended to the API's serviceUrl.
    backend_path: str


@dataclass(frozen=True, slots=True)
class NoMatch:
    """No route: every reason is answered alike, 404 in APIM's shape; `reason` tells logs and
    metrics apart."""

    reason: NoMatchReason
    # The API the path selected, when the protocol or the operation did not match.
    api: ApiConfig | None = None

    status: ClassVar[int] = NOT_FOUND_STATUS
    message: ClassVar[str] = NOT_FOUND_MESSAGE
    # context.LastError for on-error policies.
    error_source: ClassVar[str] = "configuration"
    error_reason: ClassVar[str] = OPERATION_NOT_FOUND_REASON
    error_message: ClassVar[str] = OPERATION_NOT_FOUND_MESSAGE

    def to_json(self) -> dict[str, Any]:
        """APIM's error body."""
        return {"statusCode": self.status, "message": self.message}


class _Leaf:
    """An operation at the place of the trie where its template's path ends."""

    __slots__ = ("names", "operation", "query", "specificity", "trailing")

    def __init__(self, operation: OperationConfig, template: Template, names: list[str]):
        self.operation = operation
        self.names = tuple(names)  # one per capture of the path; "" for a bare `*`
        self.query: tuple[QueryRule, ...] = template.query
        self.trailing = template.trailing_slash
        self.specificity = (
            sum(1 for rule in template.query if rule.required),
            len(template.query),
        )

    def accepts(self, values: Mapping[str, str]) -> bool:
        for rule in self.query:
            value = values.get(rule.key)
            if value is None:
                if rule.required:
                    return False
            elif rule.value is not None and value != rule.value:
                return False
        return True


class _Node:
    """One place in an API's trie of template segments. Every node sits at one depth, so a
    walk visits each node at most once: its cost is bounded by the API's templates, whatever
    the request."""

    __slots__ = (
        "after_literal",
        "leaves",
        "literals",
        "parameter",
        "pattern_list",
        "patterns",
        "wildcard",
    )

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.patterns: dict[str, tuple[re.Pattern[str], _Node]] = {}
        self.pattern_list: tuple[tuple[re.Pattern[str], _Node], ...] = ()
        self.parameter: _Node | None = None
        # Method → operations ending here / matching the rest of the path from here.
        self.leaves: dict[str, list[_Leaf]] = {}
        self.wildcard: dict[str, list[_Leaf]] = {}
        # Whether anything is left to try when the literal branch fails.
        self.after_literal = False

    def seal(self) -> None:
        """Order what matching tries: patterns with more literal text first, operations
        requiring more query parameters first."""
        self.pattern_list = tuple(
            self.patterns[shape]
            for shape in sorted(self.patterns, key=lambda s: (-len(s.replace("{}", "")), s))
        )
        self.after_literal = bool(self.patterns or self.parameter or self.wildcard)
        for table in (self.leaves, self.wildcard):
            for leaves in table.values():
                leaves.sort(key=lambda leaf: leaf.specificity, reverse=True)
        for child in self.literals.values():
            child.seal()
        for _, child in self.pattern_list:
            child.seal()
        if self.parameter is not None:
            self.parameter.seal()


class _Api:
    __slots__ = ("config", "no_operation", "no_protocol", "root", "schemes", "static")

    def __init__(self, config: ApiConfig, schemes: frozenset[str], root: _Node):
        self.config = config
        self.schemes = schemes
        self.root = root
        # Paths made of literals only (`/items`, "" for the root), folded, without a trailing
        # slash → the operations there. Such a path beats every other template matching the
        # same request (a literal beats anything else at the first segment where they differ),
        # so one dict lookup settles most requests; the trie walk handles the rest.
        self.static: dict[str, dict[str, list[_Leaf]]] = {}
        pending = [("", root)]
        while pending:
            prefix, node = pending.pop()
            if node.leaves:
                self.static[prefix] = node.leaves
            pending.extend((f"{prefix}/{text}", child) for text, child in node.literals.items())
        # Answers are values: built once, not per refused request.
        self.no_protocol = NoMatch(NoMatchReason.PROTOCOL_NOT_ALLOWED, config)
        self.no_operation = NoMatch(NoMatchReason.OPERATION_NOT_FOUND, config)


_NO_HOST = NoMatch(NoMatchReason.HOST_NOT_SERVED)
_NO_API = NoMatch(NoMatchReason.API_NOT_FOUND)


def _pick(table: dict[str, list[_Leaf]], method: str, trailing: bool, query: str) -> _Leaf | None:
    """Among the operations at one place: the method's own before `*`; among those, the first
    whose query conditions hold, in the request's trailing-slash form if there is one."""
    values: Mapping[str, str] | None = None
    for candidates in (table.get(method), table.get(_ANY_METHOD)):
        if not candidates:
            continue
        other_form = None
        for leaf in candidates:
            if leaf.query:
                if values is None:
                    values = query_values(query)
                if not leaf.accepts(values):
                    continue
            if leaf.trailing is trailing:
                return leaf
            if other_form is None:
                other_form = leaf
        if other_form is not None:
            return other_form
    return None


def _walk(
    root: _Node,
    segments: list[str],
    folded: list[str],
    captures: list[str],
    method: str,
    trailing: bool,
    query: str,
) -> _Leaf | None:
    """Depth first, best branch first, without recursion; on success `captures` holds the
    path's captures. `choice` at a node: 0 the literal child, 1…P its patterns, P+1 its
    parameter, then its wildcard and, past the last segment, its own operations."""
    count = len(segments)
    # Places to come back to: (node, segment index, next choice, captures to keep).
    stack: list[tuple[_Node, int, int, int]] = []
    node, index, choice = root, 0, 0
    while True:
        if index < count:
            if choice == 0:
                child = node.literals.get(folded[index])
                if child is not None:
                    if node.after_literal:
                        stack.append((node, index, 1, len(captures)))
                    node, index = child, index + 1
                    continue
                choice = 1
            patterns = node.pattern_list
            if patterns and choice <= len(patterns):
                segment = segments[index]
                for position in range(choice - 1, len(patterns)):
                    regex, child = patterns[position]
                    found = regex.fullmatch(segment)
                    if found is not None:
                        stack.append((node, index, position + 2, len(captures)))
                        captures.extend(found.groups())
                        node, index, choice = child, index + 1, 0
                        break
                else:
                    choice = len(patterns) + 1
                if choice == 0:
                    continue
            if choice == len(patterns) + 1:
                choice += 1
                parameter = node.parameter
                if parameter is not None and segments[index]:
                    if node.wildcard:
                        stack.append((node, index, choice, len(captures)))
                    captures.append(segments[index])
                    node, index, choice = parameter, index + 1, 0
                    continue
        elif node.leaves:
            candidates = node.leaves.get(method)
            if candidates is not None and len(candidates) == 1:
                leaf = candidates[0]
                if leaf.trailing is trailing and not leaf.query:
                    return leaf
            found_leaf = _pick(node.leaves, method, trailing, query)
            if found_leaf is not None:
                return found_leaf
        if node.wildcard:
            found_leaf = _pick(node.wildcard, method, trailing, query)
            if found_leaf is not None:
                rest = "/".join(segments[index:])
                captures.append(rest + "/" if trailing and index < count else rest)
                return found_leaf
        if not stack:
            return None
        node, index, choice, keep = stack.pop()
        del captures[keep:]


def _parameters(leaf: _Leaf, captures: Sequence[str], query: str) -> dict[str, str]:
    """context.Request.MatchedParameters: the path's captures, percent-decoded, and the
    template's query parameters."""
    parameters: dict[str, str] = {}
    for position, name in enumerate(leaf.names):
        if name:
            value = captures[position]
            parameters[name] = unquote(value) if "%" in value else value
    if leaf.query:
        values = query_values(query)
        for rule in leaf.query:
            if rule.parameter is not None:
                found = values.get(rule.key, rule.default)
                if found is not None:
                    parameters[rule.parameter] = found
    return parameters


def _fold(path: str) -> str:
    """Lower-case without changing the length (so offsets in the folded path are offsets in
    the original): characters whose lower case is longer are kept as they are."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in path)


class _ApiNode:
    """One segment of the API paths: the API served there, if any, and the longer paths."""

    __slots__ = ("api", "children")

    def __init__(self) -> None:
        self.api: _Api | None = None
        self.children: dict[str, _ApiNode] = {}


class RouteTable:
    """The compiled routes of one configuration. Build with `RouteTable.compile`."""

    __slots__ = ("_apis", "_host_suffixes", "_hosts", "_root")

    def __init__(
        self,
        apis: dict[str, _Api],
        hosts: frozenset[str] | None,
        host_suffixes: tuple[str, ...],
    ) -> None:
        # API paths as a trie of folded segments: one dict lookup per segment of the request
        # path, as deep as the deepest API path that is a prefix of it.
        self._apis: dict[str, _ApiNode] = {}
        for key, api in apis.items():
            if key:
                children = self._apis
                for segment in key.split("/"):
                    node = children.setdefault(segment, _ApiNode())
                    children = node.children
                node.api = api
        self._root = apis.get("")
        self._hosts = hosts
        self._host_suffixes = host_suffixes

    @classmethod
    def compile(
        cls, config: GatewayConfiguration, *, hostnames: Iterable[str] | None = None
    ) -> RouteTable:
        """Compile every API and operation of `config`, or raise RoutingError naming the first
        that cannot be: a path or template that does not parse, two APIs at one path, two
        operations with one name or one method and template."""
        hosts, suffixes = _hosts(hostnames)
        apis: dict[str, _Api] = {}
        for api in config.apis:
            compiled = _compile_api(api)
            for key in _keys(api):
                other = apis.get(key)
                if other is not None:
                    raise RoutingError(
                        f"is served at '/{key}' like API '{other.config.name}'", api=api.name
                    )
                apis[key] = compiled
        return cls(apis, hosts, suffixes)

    def match(
        self, method: str, path: str, query: str, host: str, scheme: str
    ) -> RouteMatch | NoMatch:
        """Route one request: `path` as normalised by the HTTP layer (starts with `/`),
        `query` the raw query string without `?`, `host` lower-case without port, `scheme`
        `http` or `https`."""
        if self._hosts is not None and not self._serves(host):
            return _NO_HOST
        if not path.startswith("/"):
            return _NO_API
        folded = path.lower() if path.isascii() else _fold(path)
        size = len(folded)
        api = self._root
        end = 0
        children = self._apis
        start = 1
        while True:
            stop = folded.find("/", start)
            if stop < 0:
                stop = size
            node = children.get(folded[start:stop])
            if node is None:
                break
            if node.api is not None:
                api, end = node.api, stop
            children = node.children
            if stop == size or not children:
                break
            start = stop + 1
        if api is None:
            return _NO_API
        if scheme not in api.schemes:
            return api.no_protocol

        rest = path[end:]
        if len(rest) <= 1:
            trailing, stop = False, size
            key = ""
        else:
            trailing = rest.endswith("/")
            stop = size - 1 if trailing else size
            key = folded[end:stop]
        static = api.static.get(key)
        if static is not None:
            # Fast path: one operation for the method there, nothing more to weigh.
            candidates = static.get(method)
            if candidates is not None and len(candidates) == 1:
                leaf = candidates[0]
                if leaf.trailing is trailing and not leaf.query:
                    return RouteMatch(api.config, leaf.operation, {}, rest)
            picked = _pick(static, method, trailing, query)
            if picked is not None:
                found = _parameters(picked, (), query) if picked.query else {}
                return RouteMatch(api.config, picked.operation, found, rest)
        if key:
            segments = path[end + 1 : stop].split("/")
            folded_segments = segments if folded == path else key[1:].split("/")
        else:
            segments = folded_segments = []
        captures: list[str] = []
        found_leaf = _walk(api.root, segments, folded_segments, captures, method, trailing, query)
        if found_leaf is None:
            return api.no_operation
        return RouteMatch(
            api.config, found_leaf.operation, _parameters(found_leaf, captures, query), rest
        )

    def _serves(self, host: str) -> bool:
        assert self._hosts is not None
        if host in self._hosts:
            return True
        head, dot, tail = host.partition(".")
        return bool(dot and head) and "." + tail in self._host_suffixes


def _hosts(hostnames: Iterable[str] | None) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    if hostnames is None:
        return None, ()
    exact, suffixes = set(), []
    for name in hostnames:
        host = name.strip().lower().rstrip(".")
        if _HOSTNAME.fullmatch(host) is None:
            raise RoutingError(f"'{name}' is not a host name (or '*.' and a host name)")
        if host.startswith("*."):
            suffixes.append(host[1:])
        else:
            exact.add(host)
    return frozenset(exact), tuple(suffixes)


def _base_key(api: ApiConfig) -> str:
    path = api.path.strip("/")
    segments = path.split("/") if path else []
    for segment in segments:
        if (
            not segment
            or any(c.isspace() or not c.isprintable() for c in segment)
            or any(c in "?#{}" for c in segment)
        ):
            raise RoutingError(
                f"path '{api.path}' must be segments without '?', '#', braces or whitespace",
                api=api.name,
            )
    version = (api.api_version or "").strip()
    if version:
        if "/" in version or any(c.isspace() or c in "?#;{}" for c in version):
            raise RoutingError(f"version '{version}' cannot be a path segment", api=api.name)
        segments.append(version)
    return _fold("/".join(segments))


def _keys(api: ApiConfig) -> list[str]:
    """Where an API is served: its path (current revisions), and its path with `;rev=n`."""
    if _REVISION.fullmatch(api.api_revision) is None:
        raise RoutingError(f"revision '{api.api_revision}' must be a positive number", api=api.name)
    base = _base_key(api)
    keys = [f"{base};rev={api.api_revision}"]
    if api.is_current:
        keys.insert(0, base)
    return keys


def _compile_api(api: ApiConfig) -> _Api:
    schemes = frozenset(p.lower() for p in api.protocols if p.lower() in ROUTED_PROTOCOLS)
    root = _Node()
    names: dict[str, str] = {}
    routes: dict[tuple[str, str], str] = {}
    for operation in api.operations:
        folded_name = operation.name.lower()
        if folded_name in names:
            raise RoutingError("is defined twice", api=api.name, operation=operation.name)
        names[folded_name] = operation.name
        method = operation.method.upper()
        if _METHOD.fullmatch(method) is None:
            raise RoutingError(
                f"method '{operation.method}' is not an HTTP method",
                api=api.name,
                operation=operation.name,
            )
        try:
            template = parse_template(operation.url_template, operation.template_parameters)
        except TemplateError as error:
            raise RoutingError(
                f"URL template {error}", api=api.name, operation=operation.name
            ) from None
        route = (method, template.shape)
        if route in routes:
            raise RoutingError(
                f"has the method and URL template of operation '{routes[route]}' "
                f"({method} {operation.url_template})",
                api=api.name,
                operation=operation.name,
            )
        routes[route] = operation.name
        _insert(root, method, operation, template)
    root.seal()
    return _Api(api, schemes, root)


def _insert(root: _Node, method: str, operation: OperationConfig, template: Template) -> None:
    node = root
    names: list[str] = []
    for segment in template.segments:
        if segment.kind is SegmentKind.LITERAL:
            node = node.literals.setdefault(segment.text, _Node())
        elif segment.kind is SegmentKind.PATTERN:
            assert segment.regex is not None
            _, node = node.patterns.setdefault(segment.text, (segment.regex, _Node()))
            names.extend(segment.names)
        elif segment.kind is SegmentKind.PARAMETER:
            if node.parameter is None:
                node.parameter = _Node()
            node = node.parameter
            names.extend(segment.names)
        else:
            names.append(segment.names[0] if segment.names else "")
            node.wildcard.setdefault(method, []).append(_Leaf(operation, template, names))
            return
    node.leaves.setdefault(method, []).append(_Leaf(operation, template, names))
