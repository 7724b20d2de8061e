"""The seed walk-through as `tollhouse dev` performs it: `tollhouse` commands, as a person types
them after `source <state>/env`, run in this process through `tollhouse.cli.main` (the same
parser, the same HTTP calls to the directory and the control plane), each printed as it runs.

Every command's line and result go to a journal (`<state>/walkthrough.json`, 0600: results
hold secrets) as soon as it succeeds. A command already in the journal is not run again, so
a second start creates nothing twice, and a first start that was stopped halfway resumes
where it stopped. `<state>/walkthrough.md` is rendered from the journal.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tollhouse.cli._dev_files import (
    GATEWAY_NAME,
    ROLE_FILES,
    SAMPLE_API_PATH,
    Credentials,
    StateLayout,
    identity_profile,
    role_definition,
    write_private,
    write_public,
)
from tollhouse.cli._errors import CliError

JOURNAL_VERSION = 1

# The names of the seeds (and of the APIM include), and of what they leave to the reader.
VALIDATOR_ROLE = "API Management Configuration API Access Validator Service Role"
READER_ROLE = "API Management Gateway Configuration Reader Role"
IDENTITY_APP = "tollhouse-managed-identity"
GATEWAY_APP = f"{GATEWAY_NAME}-app"
GATEWAY_LOCATION = "tollhouse dev"
FEDERATED_CREDENTIAL = "apim-gateway-federated-credential"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
SAMPLE_API = "echo"
PRODUCT = "starter"
SUBSCRIPTION = "tollhouse-dev"


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    seed: str  # which step of the seed documents this is


PROCESSES = Section(
    "processes",
    "The directory, the stand-in Kubernetes issuer, the echo backend",
    "Prerequisites: Microsoft Entra ID (the directory), an AKS cluster's OIDC issuer (the "
    "stand-in issuer, whose projected token is `<state>/kube-issuer/token`), a backend.",
)
ROLES = Section(
    "roles",
    "Create the two custom roles",
    'Both seeds, step 1: "Create two custom roles" (the JSON of the APIM include, verbatim, '
    "`{subscriptionID}` filled in).",
)
IDENTITY = Section(
    "identity",
    "The instance's managed identity, with RBAC read access",
    'Prerequisite "Enable a system-assigned managed identity on the instance" (here an app of '
    "the directory whose credentials the control plane holds), and both seeds' step 2: \"Grant "
    "RBAC access to the API Management instance's managed identity\".",
)
INSTANCE = Section(
    "instance",
    "The API Management instance and its gateway resource",
    'Prerequisites "An API Management instance" and "Provision a gateway resource on the '
    'instance".',
)
APP = Section(
    "app",
    "Register the gateway's app: a secret, a certificate, a federated credential",
    'Entra seed "Step 1: Register Microsoft Entra app" (client secret; the note\'s '
    'certificate) and workload identity seed "Step 1: Register the Microsoft Entra app and '
    'configure workload identity" (namespace apim-gateway-wi, service account '
    "apim-gateway-workload-identity).",
)
READER = Section(
    "reader",
    "Assign the Gateway Configuration Reader role to the app",
    'Both seeds, "Step 2: Assign API Management Gateway Configuration Reader Service Role" '
    "(scope: the API Management instance).",
)
SAMPLE = Section(
    "sample",
    "A sample API on the echo backend, a product, a subscription",
    "Not in the seeds: something to call through the gateway.",
)
GATEWAY = Section(
    "gateway",
    "Deploy the gateway",
    'Both seeds, "Deploy the self-hosted gateway": the ConfigMap\'s settings as an env-file '
    "(`<state>/gateway/gateway.env`), for workload identity the variables the webhook injects.",
)
SECTIONS = (PROCESSES, ROLES, IDENTITY, INSTANCE, APP, READER, SAMPLE, GATEWAY)


@dataclass
class Entry:
    key: str
    section: str
    line: str  # a shell line, or a `#` comment
    result: Any = None


class Journal:
    """The walk-through so far, in order; also the ports the state was made with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Entry] = {}
        self.ports: dict[str, int] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            if document.get("version") != JOURNAL_VERSION:
                raise ValueError("version")
            self.ports = {str(k): int(v) for k, v in document["ports"].items()}
            for item in document["entries"]:
                entry = Entry(item["key"], item["section"], item["line"], item.get("result"))
                self.entries[entry.key] = entry
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise CliError(
                f"'{self.path}' is not a walk-through journal of this version; remove the "
                "state directory to start afresh."
            ) from None

    @property
    def fresh(self) -> bool:
        return not self.entries

    def done(self, key: str) -> bool:
        return key in self.entries

    def result(self, key: str) -> Any:
        return self.entries[key].result

    def forget_section(self, section: Section) -> None:
        """Its lines are redone at every start (how this start deploys the gateway)."""
        self.entries = {k: e for k, e in self.entries.items() if e.section != section.key}

    def record(self, entry: Entry) -> None:
        """Added, or replaced where it stands (a line shown at every start)."""
        self.entries[entry.key] = entry
        self.save()

    def save(self) -> None:
        document = {
            "version": JOURNAL_VERSION,
            "ports": self.ports,
            "entries": [vars(entry) for entry in self.entries.values()],
        }
        write_private(self.path, json.dumps(document, indent=2) + "\n")


Invoke = Callable[[list[str]], tuple[int, str, str]]


def invoke_in_process(argv: list[str]) -> tuple[int, str, str]:
    """`tollhouse <argv>` in this process: exit status, stdout, stderr."""
    from tollhouse.cli._main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


class Runner:
    """Runs and shows the walk-through's lines, under the section they belong to."""

    def __init__(
        self,
        journal: Journal,
        say: Callable[[str], None],
        check: Callable[[], None],
        invoke: Invoke = invoke_in_process,
    ) -> None:
        self.journal = journal
        self._say = say
        self._check = check
        self._invoke = invoke
        self._section = PROCESSES
        self._shown: set[str] = set()

    def section(self, section: Section) -> None:
        self._section = section

    def _print(self, line: str) -> None:
        if self._section.key not in self._shown:
            self._shown.add(self._section.key)
            number = SECTIONS.index(self._section)
            self._say(f"\n# {number}. {self._section.title}")
        self._say(line if line.startswith("#") else f"$ {line}")

    def show(self, key: str, line: str, *, always: bool = True) -> None:
        """A line that is not a `tollhouse` command run here: a server started (shown at
        every start), a file written (shown once). Journaled for the walk-through document."""
        if not always and self.journal.done(key):
            return
        self._print(line)
        self.journal.record(Entry(key, self._section.key, line))

    def tollhouse(self, key: str, *argv: str, always: bool = False) -> Any:
        """The command's JSON result; from the journal if it ran before (unless `always`)."""
        self._check()
        if not always and self.journal.done(key):
            return self.journal.result(key)
        line = shlex.join(["tollhouse", *argv])
        self._print(line)
        status, out, err = self._invoke(list(argv))
        for warning in err.splitlines():
            if status == 0 and warning.strip():
                self._say(f"  {warning}")
        if status != 0:
            self._check()  # a child that died says more than the command that failed
            reason = (err.strip().splitlines() or [f"exit status {status}"])[-1]
            raise CliError(f"'{line}' failed: {reason.removeprefix('ERROR: ')}")
        try:
            result = json.loads(out) if out.strip() else None
        except ValueError:
            raise CliError(f"'{line}' printed something that is not JSON.") from None
        self.journal.record(Entry(key, self._section.key, line, result))
        return result


def render_walkthrough(journal: Journal, state_dir: Path) -> str:
    """`<state>/walkthrough.md`: the lines of the journal, by section, ready to copy."""
    by_section: dict[str, list[str]] = {}
    for entry in journal.entries.values():
        by_section.setdefault(entry.section, []).append(entry.line)
    parts = [
        "# The seed walk-through, as `tollhouse dev` ran it\n",
        f"Every command below ran against this instance (state directory `{state_dir}`), in "
        "this order. Servers end in `&`; the `tollhouse` commands take the administrator's "
        f"profile and this instance from `source {state_dir / 'env'}`. Secrets are not "
        "repeated here: they are in the files named.\n",
    ]
    for number, section in enumerate(SECTIONS):
        lines = by_section.get(section.key)
        if not lines:
            continue
        parts.append(f"## {number}. {section.title}\n")
        parts.append(f"{section.seed}\n")
        parts.append("```sh\n" + "\n".join(lines) + "\n```\n")
    return "\n".join(parts)


def write_walkthrough(journal: Journal, path: Path, state_dir: Path) -> None:
    write_public(path, render_walkthrough(journal, state_dir))


# --- the steps ---------------------------------------------------------------------------


def create_roles(runner: Runner, layout: StateLayout, subscription: str) -> None:
    runner.section(ROLES)
    for name in ROLE_FILES:
        path = layout.roles / name
        write_public(path, role_definition(name, subscription))
        runner.tollhouse(
            f"role:{name}", "role", "definition", "create", "--role-definition", f"@{path}"
        )


def managed_identity(
    runner: Runner, layout: StateLayout, subscription: str, authority: str, tenant_id: str
) -> None:
    """The control plane's identity: an app, its service principal and secret, written as
    the profile `tollhouse control-plane --identity-profile` reads; RBAC read access."""
    runner.section(IDENTITY)
    app_id = runner.tollhouse(
        "identity:app", "ad", "app", "create", "--display-name", IDENTITY_APP
    )["appId"]
    runner.tollhouse("identity:sp", "ad", "sp", "create", "--id", app_id)
    secret = runner.tollhouse(
        "identity:secret", "ad", "app", "credential", "reset", "--id", app_id
    )["password"]
    profile = identity_profile(authority, tenant_id, Credentials(app_id, secret), layout.ca)
    write_private(layout.identity_profile, profile)
    runner.show(
        "identity:profile",
        f"# {layout.identity_profile}: that appId and password as clientId and clientSecret, "
        "beside authority, tenantId and caBundle (the shape of admin.json)",
        always=False,
    )
    runner.tollhouse(
        "identity:validator",
        "role", "assignment", "create",
        "--assignee", app_id,
        "--role", VALIDATOR_ROLE,
        "--scope", f"/subscriptions/{subscription}",
    )  # fmt: skip


def gateway_resource(runner: Runner) -> None:
    runner.section(INSTANCE)
    runner.tollhouse(
        "gateway:create",
        "apim", "gateway", "create",
        "--gateway-id", GATEWAY_NAME,
        "--location-name", GATEWAY_LOCATION,
    )  # fmt: skip


def gateway_app(runner: Runner, layout: StateLayout, issuer_url: str) -> Credentials:
    """The app the gateway signs in as: a secret, a certificate beside it (`--append`), and
    a federated credential trusting the stand-in issuer's service-account token."""
    # Here, not at the top: the issuer's package brings its server, which `tollhouse`'s
    # other commands have no use for.
    from tollhouse.kubeissuer import DEFAULT_NAMESPACE, DEFAULT_SERVICE_ACCOUNT

    runner.section(APP)
    app_id = runner.tollhouse("app:create", "ad", "app", "create", "--display-name", GATEWAY_APP)[
        "appId"
    ]
    runner.tollhouse("app:sp", "ad", "sp", "create", "--id", app_id)
    secret = runner.tollhouse("app:secret", "ad", "app", "credential", "reset", "--id", app_id)[
        "password"
    ]
    if not runner.journal.done("app:certificate"):
        # Left by a start stopped before the certificate was registered: of no use.
        layout.certificate.unlink(missing_ok=True)
    runner.tollhouse(
        "app:certificate",
        "ad", "app", "credential", "reset",
        "--id", app_id,
        "--create-cert",
        "--cert-file", str(layout.certificate),
        "--append",
    )  # fmt: skip
    runner.tollhouse(
        "app:federated",
        "ad", "app", "federated-credential", "create",
        "--id", app_id,
        "--name", FEDERATED_CREDENTIAL,
        "--issuer", issuer_url,
        "--subject", f"system:serviceaccount:{DEFAULT_NAMESPACE}:{DEFAULT_SERVICE_ACCOUNT}",
        "--audiences", FEDERATED_AUDIENCE,
    )  # fmt: skip
    return Credentials(app_id, secret)


def reader_role(runner: Runner, app_id: str, service_id: str) -> None:
    runner.section(READER)
    runner.tollhouse(
        "app:reader",
        "role", "assignment", "create",
        "--assignee", app_id,
        "--role", READER_ROLE,
        "--scope", service_id,
    )  # fmt: skip


def sample_api(runner: Runner, backend_url: str) -> str:
    """`echo` on the gateway, forwarding to the echo backend; a product holding it and an
    active subscription to the product. Answers the subscription's primary key."""
    runner.section(SAMPLE)
    runner.tollhouse(
        "api:create",
        "apim", "api", "create",
        "--api-id", SAMPLE_API,
        "--path", SAMPLE_API_PATH,
        "--display-name", "Echo",
        "--service-url", backend_url,
        "--protocols", "http", "https",
    )  # fmt: skip
    for method in ("GET", "POST"):
        runner.tollhouse(
            f"api:{method.lower()}",
            "apim", "api", "operation", "create",
            "--api-id", SAMPLE_API,
            "--operation-id", f"{method.lower()}-any",
            "--method", method,
            "--url-template", "/*",
            "--display-name", f"{method} /*",
        )  # fmt: skip
    runner.tollhouse(
        "api:gateway",
        "apim", "gateway", "api", "add",
        "--gateway-id", GATEWAY_NAME,
        "--api-id", SAMPLE_API,
    )  # fmt: skip
    runner.tollhouse(
        "product:create",
        "apim", "product", "create",
        "--product-id", PRODUCT,
        "--product-name", "Starter",
        "--state", "published",
    )  # fmt: skip
    runner.tollhouse(
        "product:api",
        "apim", "product", "api", "add",
        "--product-id", PRODUCT,
        "--api-id", SAMPLE_API,
    )  # fmt: skip
    runner.tollhouse(
        "subscription:create",
        "apim", "subscription", "create",
        "--sid", SUBSCRIPTION,
        "--scope", f"/products/{PRODUCT}",
        "--display-name", "tollhouse dev",
        "--state", "active",
    )  # fmt: skip
    keys = runner.tollhouse(
        "subscription:keys", "apim", "subscription", "keys", "list", "--sid", SUBSCRIPTION
    )
    return str(keys["primaryKey"])


def gateway_token(runner: Runner) -> str:
    """A fresh `GatewayKey …` at every start that asks for one (they last 30 days)."""
    answer = runner.tollhouse(
        "gateway:token",
        "apim", "gateway", "token", "generate", "--gateway-id", GATEWAY_NAME,
        always=True,
    )  # fmt: skip
    return str(answer["value"])
