"""Operations (`apis/{api}/operations/{op}`): Azure REST `OperationContractProperties`.

An operation is an HTTP method and a URL template relative to its API's path:
`/pets/{petId}`, `/search?q={query}`, or `/files/{*path}` (APIM's trailing wildcard). Every
`{name}` of the template is a template parameter; those the caller did not describe are added
(`type` string, required), and a described parameter the template does not use is refused.
`request` and `responses` are kept as given: the gateway does not read them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from tollhouse.controlplane.model._errors import echo, invalid
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._names import fold
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._resource import Resource
from tollhouse.controlplane.model._syntax import http_token

# Azure REST OperationContractProperties: urlTemplate 1..1000, displayName 1..300.
MAX_URL_TEMPLATE_LENGTH = 1000
MAX_DISPLAY_NAME_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 10_000
# RFC 9110 sets no bound on method names; the longest registered one (UPDATEREDIRECTREF) is 17.
MAX_METHOD_LENGTH = 32
# Far more parameters than any real template has; bounds the work of matching one.
MAX_TEMPLATE_PARAMETERS = 64

_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_.\-]*)\}", re.ASCII)
_PARAMETER_TYPES = ("string", "integer", "number", "boolean", "array", "object")


class TemplateParameter(TypedDict):
    name: str
    type: str
    required: bool
    description: NotRequired[str]
    defaultValue: NotRequired[str]
    values: NotRequired[list[str]]


class OperationProperties(TypedDict):
    """The normalized `properties` of an operation."""

    displayName: str
    method: str  # upper case
    urlTemplate: str
    templateParameters: list[TemplateParameter]
    description: NotRequired[str]
    request: NotRequired[dict[str, Any]]
    responses: NotRequired[list[Any]]


def normalize_operation(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    method = fields.required_text("method", max_length=MAX_METHOD_LENGTH)
    template = fields.required_text("urlTemplate", max_length=MAX_URL_TEMPLATE_LENGTH)
    names = template_parameter_names(template, "properties.urlTemplate")
    out: dict[str, Any] = {
        "displayName": fields.text("displayName", max_length=MAX_DISPLAY_NAME_LENGTH) or path.name,
        "method": http_token(method, "properties.method").upper(),
        "urlTemplate": template,
        "templateParameters": _template_parameters(fields, names),
    }
    description = fields.text("description", max_length=MAX_DESCRIPTION_LENGTH, allow_empty=True)
    if description is not None:
        out["description"] = description
    request = fields.object("request")
    if request is not None:
        out["request"] = dict(request.values)
    responses = fields.array("responses", max_items=1000)
    if responses is not None:
        out["responses"] = list(responses)
    return out, {}


def template_parameter_names(template: str, path: str) -> list[str]:
    """The parameter names of a URL template, in order; raises on a malformed template."""
    if not template.startswith("/"):
        raise invalid(path, f"must start with '/', not {echo(template)}")
    if any(char.isspace() or not char.isprintable() or char == "#" for char in template):
        raise invalid(path, "must not contain whitespace, control characters or '#'")
    route, _, query = template.partition("?")
    names: list[str] = []
    for part_name, part in (("path", route), ("query", query)):
        remainder = _PARAMETER.sub("", part)
        if "{" in remainder or "}" in remainder:
            raise invalid(
                path,
                f"has unbalanced braces or a parameter name that is not an identifier in its "
                f"{part_name}: {echo(template)}",
            )
        for match in _PARAMETER.finditer(part):
            wildcard, name = match.group(1), match.group(2)
            if wildcard and (part_name == "query" or not _is_last_segment(route, match)):
                raise invalid(path, f"may have a '{{*{name}}}' wildcard only as its last segment")
            if fold(name) in (fold(n) for n in names):
                raise invalid(path, f"names the parameter '{name}' twice")
            names.append(name)
    if len(names) > MAX_TEMPLATE_PARAMETERS:
        raise invalid(path, f"has more than {MAX_TEMPLATE_PARAMETERS} parameters")
    return names


def _is_last_segment(route: str, match: re.Match[str]) -> bool:
    return match.end() == len(route) and route[match.start() - 1] == "/"


def _template_parameters(fields: Fields, names: list[str]) -> list[dict[str, Any]]:
    described: dict[str, dict[str, Any]] = {}
    values = fields.array("templateParameters", max_items=MAX_TEMPLATE_PARAMETERS) or []
    for index, value in enumerate(values):
        parameter = _parameter(Fields.of(value, f"properties.templateParameters[{index}]"))
        key = fold(parameter["name"])
        if key in described:
            raise invalid(f"properties.templateParameters[{index}].name", "is a duplicate")
        if key not in (fold(name) for name in names):
            raise invalid(
                f"properties.templateParameters[{index}].name",
                f"{echo(parameter['name'])} does not appear in properties.urlTemplate",
            )
        described[key] = parameter
    return [
        described.get(fold(name)) or {"name": name, "type": "string", "required": True}
        for name in names
    ]


def _parameter(fields: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": fields.required_text("name", max_length=256),
        "type": fields.choice("type", _PARAMETER_TYPES, "string"),
        "required": fields.flag("required", True),
    }
    description = fields.text("description", max_length=MAX_DESCRIPTION_LENGTH, allow_empty=True)
    if description is not None:
        out["description"] = description
    default = fields.text("defaultValue", max_length=1024, allow_empty=True)
    if default is not None:
        out["defaultValue"] = default
    allowed = fields.array("values", max_items=1024)
    if allowed is not None:
        if not all(isinstance(v, str) for v in allowed):
            raise invalid(fields.at("values"), "must be an array of strings")
        out["values"] = list(allowed)
    return out


def operation_route_key(properties: Mapping[str, Any]) -> str:
    """What two operations of one API may not share (APIM refuses the second): the method and
    the template with parameter names blanked, case-folded. `GET /pets/{}` for
    `GET /pets/{id}` and `GET /Pets/{petId}` alike."""
    template = _PARAMETER.sub(lambda m: "{" + m.group(1) + "}", str(properties["urlTemplate"]))
    return f"{str(properties['method']).upper()} {fold(template)}"
