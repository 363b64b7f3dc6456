{{/* Names, labels and the pieces every pod shares. Every helper is named order-platform.*. */}}

{{- define "order-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "order-platform.fullname" -}}
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

{{- define "order-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of a component: (dict "ctx" $ "component" "web"). */}}
{{- define "order-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "order-platform.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* Labels of every object: (dict "ctx" $ "component" "web"); component may be empty. */}}
{{- define "order-platform.labels" -}}
helm.sh/chart: {{ include "order-platform.chart" .ctx }}
{{ include "order-platform.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: order-platform
{{- end }}

{{- define "order-platform.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "order-platform.configName" -}}
{{- printf "%s-config" (include "order-platform.fullname" .) }}
{{- end }}

{{- define "order-platform.secretName" -}}
{{- .Values.secret.existingSecret | default (printf "%s-secret" (include "order-platform.fullname" .)) }}
{{- end }}

{{- define "order-platform.flowerSecretName" -}}
{{- .Values.flower.auth.existingSecret | default (printf "%s-flower" (include "order-platform.fullname" .)) }}
{{- end }}

{{- define "order-platform.webServiceName" -}}
{{- printf "%s-web" (include "order-platform.fullname" .) }}
{{- end }}

{{/* The value of an existing Secret's key, to keep a generated credential across upgrades:
     (dict "ctx" $ "name" "secret-name" "key" "KEY"); empty when there is none (offline). */}}
{{- define "order-platform.existingSecretValue" -}}
{{- $found := lookup "v1" "Secret" .ctx.Release.Namespace .name }}
{{- if and $found $found.data (hasKey $found.data .key) }}
{{- index $found.data .key | b64dec }}
{{- end }}
{{- end }}

{{/* Annotations that make a ConfigMap or Secret a hook made just before the migrations Job,
     which needs them before the release's other objects exist. */}}
{{- define "order-platform.configHookAnnotations" -}}
{{- if .Values.migrate.useHelmHooks }}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}
{{- end }}

{{/* A restarted pod when the configuration changes. */}}
{{- define "order-platform.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}

{{/* Pod-level fields every component shares: (dict "ctx" $ "component" .Values.web). */}}
{{- define "order-platform.podSpec" -}}
automountServiceAccountToken: false
{{- with .ctx.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .component.terminationGracePeriodSeconds }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
{{- with .component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      medium: Memory
      sizeLimit: {{ .ctx.Values.tmpVolume.sizeLimit }}
{{- end }}

{{/* Container fields every role shares: the image, its settings, the security context, /tmp.
     (dict "ctx" $ "component" .Values.web "service" "web") */}}
{{- define "order-platform.containerCommon" -}}
image: {{ include "order-platform.image" .ctx }}
imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ include "order-platform.configName" .ctx }}
  - secretRef:
      name: {{ include "order-platform.secretName" .ctx }}
securityContext:
  {{- toYaml .ctx.Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* Environment of one role: the OpenTelemetry service name, then the component's extraEnv. */}}
{{- define "order-platform.roleEnv" -}}
- name: OTEL_SERVICE_NAME
  value: {{ printf "order-platform-%s" .service | quote }}
{{- with .component.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The init container that holds a pod until no migration is left to apply. */}}
{{- define "order-platform.waitForMigrations" -}}
- name: wait-for-migrations
  {{- include "order-platform.containerCommon" . | nindent 2 }}
  args: [wait-for-migrations]
  resources:
    {{- toYaml .ctx.Values.migrate.resources | nindent 4 }}
{{- end }}

{{/* prometheus.io annotations, when no ServiceMonitor scrapes: (dict "ctx" $ "port" 8000 "path" "/metrics"). */}}
{{- define "order-platform.scrapeAnnotations" -}}
{{- if not .ctx.Values.observability.serviceMonitor.enabled }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: {{ .path | quote }}
{{- end }}
{{- end }}

{{/* The metrics endpoint of a worker or beat container: its env and its port.
     (dict "ctx" $ "metrics" .Values.worker.metrics "multiprocess" true) */}}
{{- define "order-platform.metricsEnv" -}}
{{- if .metrics.enabled }}
- name: METRICS_PORT
  value: {{ .metrics.port | quote }}
- name: METRICS_ADDRESS
  value: "0.0.0.0"
{{- if .multiprocess }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: /tmp/metrics
{{- end }}
{{- end }}
{{- end }}

{{- define "order-platform.metricsPort" -}}
{{- if .enabled }}
ports:
  - name: metrics
    containerPort: {{ .port }}
    protocol: TCP
{{- end }}
{{- end }}
