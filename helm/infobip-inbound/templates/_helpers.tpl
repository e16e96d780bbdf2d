{{/* Names */}}
{{- define "inbound.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "inbound.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "inbound.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a role's objects: <fullname>-<role>, within 63 characters. */}}
{{- define "inbound.roleName" -}}
{{- printf "%s-%s" (include "inbound.fullname" .root | trunc (int (sub 62 (len .role))) | trimSuffix "-") .role -}}
{{- end -}}

{{- define "inbound.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inbound.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .role }}
app.kubernetes.io/component: {{ .role }}
{{- end }}
{{- end -}}

{{- define "inbound.labels" -}}
helm.sh/chart: {{ include "inbound.chart" .root }}
{{ include "inbound.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: infobip-inbound
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "inbound.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "inbound.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "inbound.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "inbound.secretName" -}}
{{- default (include "inbound.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "inbound.redisSecretName" -}}
{{- default (include "inbound.secretName" .) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{/* Replicas a write waits for: redis.ackReplicas, else 1 where replicas exist (sentinel mode, redis.replicas). */}}
{{- define "inbound.redisAckReplicas" -}}
{{- $r := .Values.redis -}}
{{- if not (kindIs "invalid" $r.ackReplicas) -}}
{{- $r.ackReplicas | int -}}
{{- else if or (eq $r.mode "sentinel") (gt (int $r.replicas) 0) -}}
1
{{- else -}}
0
{{- end -}}
{{- end -}}

{{- define "inbound.redisHasPassword" -}}
{{- if .Values.redis.auth.enabled -}}true{{- end -}}
{{- end -}}

{{/* Every queue a response can be routed to: the default queue first, then each route's queue. */}}
{{- define "inbound.routedQueues" -}}
{{- $queues := list .Values.config.defaultQueue -}}
{{- range .Values.config.routes -}}
{{- if and .queue (not (has .queue $queues)) -}}
{{- $queues = append $queues .queue -}}
{{- end -}}
{{- end -}}
{{- toJson $queues -}}
{{- end -}}

{{- define "inbound.workerQueues" -}}
{{- if .Values.workers.queues -}}
{{- toJson .Values.workers.queues -}}
{{- else -}}
{{- include "inbound.routedQueues" . -}}
{{- end -}}
{{- end -}}

{{/*
The prefix of a queue's inbox list: responses waiting to be claimed sit in the list <prefix><queue>. The
application's own (INBOX_PREFIX in infobip_inbound/contract/store/keys.py), not a setting: helm/tests keep the
two equal.
*/}}
{{- define "inbound.inboxPrefix" -}}inbound:inbox:{{- end -}}

{{- define "inbound.workerGracePeriod" -}}
{{- if .Values.workers.terminationGracePeriodSeconds -}}
{{- .Values.workers.terminationGracePeriodSeconds | int -}}
{{- else -}}
{{- add (.Values.config.jobTimeoutSeconds | int) 30 -}}
{{- end -}}
{{- end -}}

{{/* The forward endpoint's public base: publicUrl, else the first Ingress host. */}}
{{- define "inbound.publicBase" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $host := (first .Values.ingress.hosts).host -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) $host -}}
{{- end -}}
{{- end -}}

{{/* Pod annotations that roll the pods when their configuration changes. */}}
{{- define "inbound.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end -}}

{{/* Secrets of the receiver only: the forward endpoint's credentials and the status page's tokens. */}}
{{- define "inbound.env.forwardAuth" -}}
- name: INBOUND_FORWARD_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "inbound.secretName" . }}
      key: {{ .Values.secrets.keys.forwardTokens }}
      optional: true
- name: INBOUND_FORWARD_BASIC_AUTH
  valueFrom:
    secretKeyRef:
      name: {{ include "inbound.secretName" . }}
      key: {{ .Values.secrets.keys.forwardBasicAuth }}
      optional: true
- name: INBOUND_ADMIN_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "inbound.secretName" . }}
      key: {{ .Values.secrets.keys.adminTokens }}
      optional: true
{{- end -}}

{{/* Secrets of the poller and workers (handlers may reply through Infobip): the Infobip API key. */}}
{{- define "inbound.env.apiKey" -}}
- name: INBOUND_INFOBIP_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "inbound.secretName" . }}
      key: {{ .Values.secrets.keys.infobipApiKey }}
      optional: true
{{- end -}}

{{/* Environment shared by every role: the config file and Redis. */}}
{{- define "inbound.env" -}}
- name: INBOUND_CONFIG_FILE
  value: /etc/infobip-inbound/config.toml
{{- $redis := .Values.redis }}
{{- if include "inbound.redisHasPassword" . }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "inbound.redisSecretName" . }}
      key: {{ $redis.auth.existingSecretPasswordKey }}
{{- end }}
{{- if eq $redis.mode "sentinel" }}
- name: INBOUND_REDIS_SENTINELS
  value: {{ join "," $redis.sentinel.hosts | quote }}
- name: INBOUND_REDIS_SENTINEL_MASTER
  value: {{ $redis.sentinel.masterName | quote }}
- name: INBOUND_REDIS_DB
  value: {{ $redis.sentinel.db | int | quote }}
- name: INBOUND_REDIS_SENTINEL_TLS
  value: {{ $redis.sentinel.tls | quote }}
{{- if $redis.auth.username }}
- name: INBOUND_REDIS_USERNAME
  value: {{ $redis.auth.username | quote }}
{{- end }}
{{- if include "inbound.redisHasPassword" . }}
- name: INBOUND_REDIS_PASSWORD
  value: $(REDIS_PASSWORD)
{{- end }}
{{- if $redis.sentinel.auth.enabled }}
- name: INBOUND_REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "inbound.redisSecretName" . }}
      key: {{ $redis.sentinel.auth.existingSecretPasswordKey }}
{{- end }}
{{- if $redis.tls.caSecret }}
- name: INBOUND_REDIS_SSL_CA_CERTS
  value: /etc/infobip-inbound/redis-ca/{{ $redis.tls.caKey }}
{{- end }}
{{- else if $redis.urlFromSecret.name }}
- name: INBOUND_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $redis.urlFromSecret.name }}
      key: {{ $redis.urlFromSecret.key }}
{{- else }}
{{- $parts := splitList "://" $redis.url }}
{{- $scheme := first $parts }}
{{- $rest := last $parts }}
{{- $query := list }}
{{- if $redis.tls.caSecret }}
{{- $query = append $query (printf "ssl_ca_certs=/etc/infobip-inbound/redis-ca/%s" $redis.tls.caKey) }}
{{- end }}
{{- $url := "" }}
{{- if include "inbound.redisHasPassword" . }}
{{- $url = printf "%s://%s:$(REDIS_PASSWORD)@%s" $scheme ($redis.auth.username | urlquery) $rest }}
{{- else if $redis.auth.username }}
{{- $url = printf "%s://%s@%s" $scheme ($redis.auth.username | urlquery) $rest }}
{{- else }}
{{- $url = $redis.url }}
{{- end }}
{{- if $query }}
{{- $url = printf "%s%s%s" $url (ternary "&" "?" (contains "?" $url)) (join "&" $query) }}
{{- end }}
- name: INBOUND_REDIS_URL
  value: {{ $url | quote }}
{{- end }}
{{- end -}}

{{- define "inbound.volumes" -}}
- name: config
  configMap:
    name: {{ include "inbound.fullname" . }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataSizeLimit }}
{{- if .Values.redis.tls.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.tls.caSecret }}
    items:
      - key: {{ .Values.redis.tls.caKey }}
        path: {{ .Values.redis.tls.caKey }}
{{- end }}
{{- end -}}

{{- define "inbound.volumeMounts" -}}
- name: config
  mountPath: /etc/infobip-inbound/config.toml
  subPath: config.toml
  readOnly: true
- name: config
  mountPath: /etc/infobip-inbound/probe.py
  subPath: probe.py
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/infobip-inbound
{{- if .Values.redis.tls.caSecret }}
- name: redis-ca
  mountPath: /etc/infobip-inbound/redis-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Topology spread: the role's own constraints, else zones and nodes with ScheduleAnyway. */}}
{{- define "inbound.topologySpread" -}}
{{- $values := index .root.Values .valuesKey -}}
{{- if $values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml $values.topologySpreadConstraints | nindent 2 }}
{{- else if .root.Values.defaultTopologySpread.enabled }}
topologySpreadConstraints:
  {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: {{ $.root.Values.defaultTopologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "inbound.selectorLabels" (dict "root" $.root "role" $.role) | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
  {{- end }}
{{- end }}
{{- end -}}

{{/* Readers before writers: the receiver's and the poller's pods wait for a worker of their release
(docs/deployment.md, "Versions side by side"). */}}
{{- define "inbound.workersFirst" -}}
{{- if and .Values.workers.enabled .Values.workersFirst.enabled }}
initContainers:
  - name: workers-ready
    image: {{ include "inbound.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args: ["workers-ready", "--timeout", {{ .Values.workersFirst.timeoutSeconds | quote }}]
    env:
      {{- include "inbound.env" . | nindent 6 }}
    resources:
      {{- toYaml .Values.workersFirst.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      {{- include "inbound.volumeMounts" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by the three Deployments. */}}
{{- define "inbound.podSpecCommon" -}}
{{- $values := index .root.Values .valuesKey -}}
serviceAccountName: {{ include "inbound.serviceAccountName" .root }}
automountServiceAccountToken: {{ .root.Values.serviceAccount.automountServiceAccountToken }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "inbound.topologySpread" . }}
{{- end -}}

{{/* Probes of a role without an HTTP health port: exec probe.py. */}}
{{- define "inbound.execProbe" -}}
exec:
  command:
    - python
    - /etc/infobip-inbound/probe.py
    {{- range .args }}
    - {{ . }}
    {{- end }}
{{ toYaml .timing }}
{{- end -}}

{{- define "inbound.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
{{ toYaml .timing }}
{{- end -}}
