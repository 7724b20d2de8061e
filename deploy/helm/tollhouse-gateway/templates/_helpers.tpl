{{/* Names. */}}
{{- define "tollhouse-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tollhouse-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tollhouse-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The headless Service that resolves to every instance (`neighborhood.host`). */}}
{{- define "tollhouse-gateway.instanceDiscovery" -}}
{{- printf "%s-instance-discovery" (include "tollhouse-gateway.fullname" . | trunc 44 | trimSuffix "-") }}
{{- end }}

{{- define "tollhouse-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tollhouse-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tollhouse-gateway.labels" -}}
helm.sh/chart: {{ include "tollhouse-gateway.chart" . }}
{{ include "tollhouse-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "tollhouse-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tollhouse-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name | default .Values.serviceAccountName | default "default" }}
{{- end }}
{{- end }}

{{/* gateway.auth.type in lower case: gatewaytoken, azureadapp or workloadidentity. */}}
{{- define "tollhouse-gateway.authType" -}}
{{- $type := .Values.gateway.auth.type | default "" | toString | lower }}
{{- if not (has $type (list "gatewaytoken" "azureadapp" "workloadidentity")) }}
{{- fail (printf "gateway.auth.type must be GatewayToken, AzureAdApp or WorkloadIdentity, not '%s'" .Values.gateway.auth.type) }}
{{- end }}
{{- $type }}
{{- end }}

{{/* gateway.name; a leading '=' is dropped: the APIM docs' own helm lines read
`--set gateway.name=='<gateway-name>'`. */}}
{{- define "tollhouse-gateway.gatewayName" -}}
{{- .Values.gateway.name | default "" | toString | trimPrefix "=" | trim }}
{{- end }}

{{/* The app's client secret; the APIM docs' Entra helm line sets it as
`config.service.auth.azureAd.clientSecret`, which is taken as well. */}}
{{- define "tollhouse-gateway.appSecret" -}}
{{- $seed := dig "service" "auth" "azureAd" "clientSecret" "" (.Values.config | default dict) }}
{{- .Values.gateway.auth.azureAd.app.secret | default $seed | default "" | toString }}
{{- end }}

{{/* "true" when the app authenticates with a certificate. */}}
{{- define "tollhouse-gateway.useCertificate" -}}
{{- $cert := .Values.gateway.auth.azureAd.app.certificate | default dict }}
{{- if and (eq (include "tollhouse-gateway.authType" .) "azureadapp") (or $cert.pem $cert.existingSecretName) }}true{{ end }}
{{- end }}

{{/* The Secret holding the credentials: the chart's or secret.existingSecretName. */}}
{{- define "tollhouse-gateway.secretName" -}}
{{- if .Values.secret.createSecret }}
{{- include "tollhouse-gateway.fullname" . }}
{{- else }}
{{- required "secret.existingSecretName is required when secret.createSecret is false" .Values.secret.existingSecretName }}
{{- end }}
{{- end }}

{{- define "tollhouse-gateway.certificateDir" -}}/etc/tollhouse/azure-ad-app{{- end }}
{{- define "tollhouse-gateway.caBundleDir" -}}/etc/tollhouse/ca{{- end }}

{{/* The gateway's settings: what the ConfigMap holds (APIM keys, docs/settings.md). */}}
{{- define "tollhouse-gateway.settings" -}}
{{- $type := include "tollhouse-gateway.authType" . }}
{{- $auth := .Values.gateway.auth }}
{{- $data := dict "config.service.endpoint" (required "gateway.configuration.uri is required (the configuration endpoint)" .Values.gateway.configuration.uri) }}
{{- if ne $type "gatewaytoken" }}
{{- $name := include "tollhouse-gateway.gatewayName" . }}
{{- if not $name }}
{{- fail (printf "gateway.name is required with gateway.auth.type=%s" $auth.type) }}
{{- end }}
{{- $_ := set $data "gateway.name" $name }}
{{- if $auth.azureAd.authority }}
{{- $_ := set $data "config.service.auth.azureAd.authority" $auth.azureAd.authority }}
{{- end }}
{{- end }}
{{- if eq $type "azureadapp" }}
{{- $_ := set $data "config.service.auth" "azureAdApp" }}
{{- $_ := set $data "config.service.auth.azureAd.tenantId" (required "gateway.auth.azureAd.tenant.id is required with AzureAdApp" $auth.azureAd.tenant.id) }}
{{- $_ := set $data "config.service.auth.azureAd.clientId" (required "gateway.auth.azureAd.app.id is required with AzureAdApp" $auth.azureAd.app.id) }}
{{- if include "tollhouse-gateway.useCertificate" . }}
{{- $_ := set $data "config.service.auth.azureAd.certificatePath" (printf "%s/certificate" (include "tollhouse-gateway.certificateDir" .)) }}
{{- end }}
{{- else if eq $type "workloadidentity" }}
{{- $_ := set $data "config.service.auth" "workloadIdentity" }}
{{- end }}
{{- $logs := .Values.observability.logs.std }}
{{- $_ := set $data "telemetry.logs.std" $logs.format }}
{{- $_ := set $data "telemetry.logs.std.level" $logs.level }}
{{- $_ := set $data "telemetry.metrics.cloud" .Values.observability.azureMonitor.metrics.enabled }}
{{- if .Values.observability.statsD.enabled }}
{{- $_ := set $data "telemetry.metrics.local" "statsd" }}
{{- $_ := set $data "telemetry.metrics.local.statsd.endpoint" (required "observability.statsD.endpoint is required when StatsD is enabled" .Values.observability.statsD.endpoint) }}
{{- else }}
{{- $_ := set $data "telemetry.metrics.local" "none" }}
{{- end }}
{{- $_ := set $data "observability.opentelemetry.enabled" .Values.observability.opentelemetry.enabled }}
{{- if .Values.observability.opentelemetry.enabled }}
{{- $_ := set $data "observability.opentelemetry.collector.uri" (required "observability.opentelemetry.collector.uri is required when OpenTelemetry is enabled" .Values.observability.opentelemetry.collector.uri) }}
{{- end }}
{{- with .Values.gateway.configuration.caBundle }}
{{- if .existingSecretName }}
{{- $_ := set $data "config.service.caBundle" (printf "%s/%s" (include "tollhouse-gateway.caBundleDir" $) "ca.crt") }}
{{- end }}
{{- end }}
{{- $_ := set $data "neighborhood.host" (include "tollhouse-gateway.instanceDiscovery" .) }}
{{- $_ := set $data "runtime.deployment.mechanism" "Helm" }}
{{- $_ := set $data "runtime.deployment.orchestrator.type" "Kubernetes" }}
{{- $_ := set $data "runtime.deployment.artifact.source" "Tollhouse" }}
{{- $_ := set $data "runtime.deployment.artifact.version" .Chart.Version }}
{{- $_ := set $data "runtime.deployment.highAvailability.enabled" .Values.highAvailability.enabled }}
{{- range $key, $value := .Values.gateway.configuration.additional }}
{{- $_ := set $data $key $value }}
{{- end }}
{{- range $key, $value := $data }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
