"""Importing an API from an OpenAPI 3.0/3.1 or Swagger 2.0 description, JSON or YAML.

What APIM's import takes from a description, and what Tollhouse takes:

* the API: `displayName` from `info.title`, `description` from `info.description`,
  `serviceUrl` from the first server (OpenAPI 3: `servers[0].url`, its variables replaced by
  their defaults, used only when absolute; Swagger 2: `schemes[0]://host` + `basePath`);
* one operation per path and method: named after its `operationId` made a valid resource
  name (else `{method}-{path}`), unique within the API; `method` upper-cased; `urlTemplate`
  the path (OpenAPI's `{param}` templates are APIM's syntax); `templateParameters` from the
  path parameters declared on the path and on the operation (the operation's win), typed by
  their schema; `displayName` from `summary`, else `operationId`.

Only local references (`#/…`) are followed: a description is imported from its text alone,
never fetched, so ARM's link formats (`openapi-link`, …) are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tollhouse.controlplane.model._errors import (
    MAX_ECHO_LENGTH,
    ModelError,
    echo,
    invalid,
    unsupported,
)
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._names import fold
from tollhouse.controlplane.model._operations import (
    MAX_DESCRIPTION_LENGTH,
    MAX_DISPLAY_NAME_LENGTH,
    normalize_operation,
)
from tollhouse.controlplane.model._paths import ResourcePath

# Real descriptions are far smaller (the Azure REST API's largest specs are ~2 MiB); this
# bounds parsing time and memory. APIM's own limit on a description imported inline is 4 MiB.
MAX_OPENAPI_DOCUMENT_BYTES = 5 * 1024 * 1024
# Far above real APIs; bounds the resources one import writes.
MAX_IMPORTED_OPERATIONS = 10_000
# Parameters of one operation; bounds work when YAML aliases share one long list.
MAX_OPERATION_PARAMETERS = 256
# Real descriptions nest schemas a few dozen levels; deeper YAML is refused before it is
# composed (`_check_yaml_nesting`).
MAX_YAML_NESTING = 256
# `$ref` chains longer than this are refused (also stops reference cycles).
MAX_REFERENCE_HOPS = 32
# Azure REST operationId maxLength 80.
MAX_OPERATION_NAME_LENGTH = 80

# ARM's `properties.format` for `PUT apis/{api}` imports (Azure REST `ContentFormat`).
IMPORT_FORMATS = ("openapi", "openapi+json", "swagger-json")
_LINK_FORMATS = ("openapi-link", "openapi+json-link", "swagger-link-json")
_OTHER_FORMATS = (
    "wadl-xml",
    "wadl-link-json",
    "wsdl",
    "wsdl-link",
    "graphql-link",
    "odata",
    "odata-link",
    "grpc",
    "grpc-link",
)

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TYPES = ("string", "integer", "number", "boolean", "array", "object")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+", re.ASCII)
_SERVER_VARIABLE = re.compile(r"\{([^{}]+)\}")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENING_EVENTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSING_EVENTS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


@dataclass(frozen=True)
class ImportedApi:
    """The result of an import.

    `api_properties` are ARM-shaped properties for `PUT apis/{api}` (pass them to
    `normalize_resource`; `path` is there only when it was given). `operations` are
    `(name, properties)` pairs, in document order, already normalized.
    """

    api_properties: dict[str, Any]
    operations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def import_openapi(
    document: str | bytes,
    *,
    api_name: str,
    path: str | None = None,
    service_url: str | None = None,
) -> ImportedApi:
    """Read an OpenAPI 3.0/3.1 or Swagger 2.0 description (JSON or YAML) into an API and its
    operations. `path` and `service_url`, when given, win over the description. Raises
    `ModelError` `ValidationError` for anything that is not such a description."""
    api = ResourcePath("apis", (api_name,))
    spec = _load(document)
    version = _version(spec)
    info = spec.get("info")
    info = info if isinstance(info, Mapping) else {}
    title = _string(info.get("title"))
    properties: dict[str, Any] = {
        "displayName": _clip(title, MAX_DISPLAY_NAME_LENGTH) if title else api_name,
    }
    description = _string(info.get("description"))
    if description is not None:
        properties["description"] = _clip(description, MAX_DESCRIPTION_LENGTH)
    url = service_url if service_url is not None else _service_url(spec, version)
    if url is not None:
        properties["serviceUrl"] = url
    if path is not None:
        properties["path"] = path
    return ImportedApi(properties, _operations(spec, api))


def is_import_request(properties: Mapping[str, Any] | None) -> bool:
    """Whether the properties of `PUT apis/{api}` ask for an import: they carry `format`
    (and the description in `value`); route those through `import_api_request`."""
    return isinstance(properties, Mapping) and properties.get("format") is not None


def import_api_request(path: ResourcePath, properties: Mapping[str, Any]) -> ImportedApi:
    """ARM's import shape: `PUT apis/{api}` with `properties.format` and `properties.value`
    (the description). The request's other properties (`path`, `serviceUrl`, `displayName`,
    `protocols`, …) win over what the description says."""
    fields = Fields.of(properties, "properties")
    requested = fields.values.get("format")
    lowered = requested.lower() if isinstance(requested, str) else None
    if lowered in _LINK_FORMATS:
        raise unsupported(
            "properties.format",
            f"'{requested}' is not supported: the control plane does not fetch descriptions; "
            "send the document inline with format 'openapi', 'openapi+json' or 'swagger-json'",
        )
    if lowered in _OTHER_FORMATS:
        raise unsupported(
            "properties.format", f"'{requested}' is not supported: only OpenAPI and Swagger"
        )
    fields.choice("format", IMPORT_FORMATS, IMPORT_FORMATS[0])
    document = fields.required_text("value", max_length=MAX_OPENAPI_DOCUMENT_BYTES)
    imported = import_openapi(document, api_name=path.name)
    overrides = {
        key: value
        for key, value in properties.items()
        if key not in ("format", "value") and value is not None
    }
    return ImportedApi({**imported.api_properties, **overrides}, imported.operations)


def _load(document: str | bytes) -> Mapping[str, Any]:
    raw = document if isinstance(document, bytes) else document.encode("utf-8")
    if len(raw) > MAX_OPENAPI_DOCUMENT_BYTES:
        raise _bad(f"is larger than {MAX_OPENAPI_DOCUMENT_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad("is not UTF-8 text") from None
    try:
        if text.lstrip().startswith("{"):
            spec = json.loads(text)
        else:
            _check_yaml_nesting(text)
            spec = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except (ValueError, yaml.YAMLError) as error:
        raise _bad(f"is neither JSON nor YAML: {_first_line(error)}") from None
    except RecursionError:
        raise _bad("nests too deeply") from None
    if not isinstance(spec, Mapping):
        raise _bad("is not an OpenAPI description: its top level is not an object")
    return spec


def _check_yaml_nesting(text: str) -> None:
    """Refuse YAML nested deeper than `MAX_YAML_NESTING` before composing it: libyaml's
    composer recurses in C without Python's recursion limit, and a few hundred KiB of `[`
    overflow the stack and kill the process. Its parser is iterative, so counting the depth
    of its events is safe."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _OPENING_EVENTS):
            depth += 1
            if depth > MAX_YAML_NESTING:
                raise _bad(f"nests more than {MAX_YAML_NESTING} levels deep")
        elif isinstance(event, _CLOSING_EVENTS):
            depth -= 1


def _version(spec: Mapping[str, Any]) -> str:
    openapi, swagger = spec.get("openapi"), spec.get("swagger")
    if isinstance(openapi, str) and re.fullmatch(r"3\.[01]\.\d+(-.+)?", openapi):
        return "3"
    if swagger in ("2.0", 2.0):
        return "2"
    found = openapi if openapi is not None else swagger
    raise _bad(
        "is not an OpenAPI 3.0, 3.1 or Swagger 2.0 description"
        + (f" (version {echo(found)})" if found is not None else "")
    )


def _service_url(spec: Mapping[str, Any], version: str) -> str | None:
    if version == "2":
        host = _string(spec.get("host"))
        if host is None:
            return None
        schemes = spec.get("schemes")
        scheme = schemes[0] if isinstance(schemes, list) and schemes else "https"
        url = f"{scheme}://{host}{_string(spec.get('basePath')) or ''}"
    else:
        servers = spec.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], Mapping):
            return None
        server = servers[0]
        template = _string(server.get("url"))
        if template is None:
            return None
        variables = server.get("variables")
        variables = variables if isinstance(variables, Mapping) else {}
        url = _SERVER_VARIABLE.sub(lambda m: _variable(variables, m.group(1)), template)
    url = url.rstrip("/")
    return url if re.match(r"https?://[^/]", url, re.IGNORECASE) else None


def _variable(variables: Mapping[str, Any], name: str) -> str:
    variable = variables.get(name)
    default = variable.get("default") if isinstance(variable, Mapping) else None
    return str(default) if default is not None else "{" + name + "}"


def _operations(spec: Mapping[str, Any], api: ResourcePath) -> list[tuple[str, dict[str, Any]]]:
    paths = spec.get("paths")
    if paths is None:
        return []
    if not isinstance(paths, Mapping):
        raise _bad("has 'paths' that is not an object")
    operations: list[tuple[str, dict[str, Any]]] = []
    taken: set[str] = set()
    for route, item in paths.items():
        if not isinstance(route, str) or not route.startswith("/"):
            continue  # `x-` extensions, or not a path
        item = _resolve(spec, item, f"paths.{route}")
        shared = _parameters(spec, item.get("parameters"), f"paths.{route}.parameters")
        for method, operation in item.items():
            if method not in _METHODS or operation is None:
                continue
            where = f"paths.{route}.{method}"
            if not isinstance(operation, Mapping):
                raise _bad(f"has '{where}' that is not an object")
            if len(operations) >= MAX_IMPORTED_OPERATIONS:
                raise _bad(f"has more than {MAX_IMPORTED_OPERATIONS} operations")
            own = _parameters(spec, operation.get("parameters"), f"{where}.parameters")
            name = _unique(_operation_name(operation, method, route), taken)
            properties = _operation(operation, method, route, name, {**shared, **own})
            try:
                operation_path = api.child("operations", name)
                public, _ = normalize_operation(operation_path, properties, None)
            except ModelError as error:
                problem = f"has an operation '{where}' that cannot be imported: {error.message}"
                raise _bad(problem) from None
            operations.append((name, public))
    return operations


def _operation(
    operation: Mapping[str, Any],
    method: str,
    route: str,
    name: str,
    parameters: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, Any]:
    display = _string(operation.get("summary")) or _string(operation.get("operationId")) or name
    properties: dict[str, Any] = {
        "displayName": _clip(display, MAX_DISPLAY_NAME_LENGTH),
        "method": method.upper(),
        "urlTemplate": route,
    }
    description = _string(operation.get("description"))
    if description is not None:
        properties["description"] = _clip(description, MAX_DESCRIPTION_LENGTH)
    in_template = {fold(m.group(1)) for m in re.finditer(r"\{\*?([^{}]+)\}", route)}
    template_parameters = []
    for (location, parameter_name), parameter in parameters.items():
        if location != "path" or fold(parameter_name) not in in_template:
            continue
        described: dict[str, Any] = {
            "name": parameter_name,
            "type": _parameter_type(parameter),
            "required": True,  # OpenAPI: path parameters are always required
        }
        description = _string(parameter.get("description"))
        if description is not None:
            described["description"] = _clip(description, MAX_DESCRIPTION_LENGTH)
        template_parameters.append(described)
    properties["templateParameters"] = template_parameters
    return properties


def _parameters(
    spec: Mapping[str, Any], values: object, where: str
) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Parameters by (location, name), references resolved."""
    if values is None:
        return {}
    if not isinstance(values, list):
        raise _bad(f"has '{where}' that is not an array")
    if len(values) > MAX_OPERATION_PARAMETERS:
        raise _bad(f"has more than {MAX_OPERATION_PARAMETERS} parameters in '{where}'")
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for index, value in enumerate(values):
        parameter = _resolve(spec, value, f"{where}[{index}]")
        location, name = _string(parameter.get("in")), _string(parameter.get("name"))
        if location is not None and name is not None:
            out[(location, name)] = parameter
    return out


def _parameter_type(parameter: Mapping[str, Any]) -> str:
    schema = parameter.get("schema")
    found = schema.get("type") if isinstance(schema, Mapping) else parameter.get("type")
    if isinstance(found, list):  # OpenAPI 3.1: ["integer", "null"]
        found = next((t for t in found if t != "null"), None)
    return found if found in _TYPES else "string"


def _resolve(spec: Mapping[str, Any], value: object, where: str) -> Mapping[str, Any]:
    """`value`, or what its chain of local `$ref`s points at."""
    for _ in range(MAX_REFERENCE_HOPS):
        if not isinstance(value, Mapping):
            raise _bad(f"has '{where}' that is not an object")
        reference = value.get("$ref")
        if reference is None:
            return value
        if not isinstance(reference, str) or not reference.startswith("#/"):
            raise _bad(
                f"has a reference {echo(reference)} at '{where}' that is not local ('#/…'): "
                "the description must be self-contained"
            )
        value = _pointer(spec, reference, where)
    raise _bad(f"has a chain of more than {MAX_REFERENCE_HOPS} references at '{where}'")


def _pointer(spec: Mapping[str, Any], reference: str, where: str) -> object:
    """RFC 6901 JSON pointer resolution within the description."""
    node: object = spec
    for token in reference[2:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise _bad(f"has a reference {echo(reference)} at '{where}' that points nowhere")
    return node


def _operation_name(operation: Mapping[str, Any], method: str, route: str) -> str:
    operation_id = _string(operation.get("operationId"))
    if operation_id is not None:
        name = _slug(operation_id, lower=False)
        if name:
            return name
    return _slug(f"{method}-{route}", lower=True) or method


def _slug(text: str, *, lower: bool) -> str:
    slug = _NOT_NAME.sub("-", text.lower() if lower else text)
    slug = re.sub(r"-{2,}", "-", slug)
    slug = slug[:MAX_OPERATION_NAME_LENGTH]
    return re.sub(r"^[^A-Za-z0-9]+|[.-]+$", "", slug)


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while fold(candidate) in taken:
        number += 1
        suffix = f"-{number}"
        candidate = name[: MAX_OPERATION_NAME_LENGTH - len(suffix)] + suffix
    taken.add(fold(candidate))
    return candidate


def _string(value: object) -> str | None:
    """`value` without surrounding whitespace if it is a string with some text, else None."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line[:MAX_ECHO_LENGTH]


def _bad(problem: str) -> ModelError:
    return invalid("properties.value", f"(the API description) {problem}")
