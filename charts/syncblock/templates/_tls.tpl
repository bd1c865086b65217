{{/*
TLS wiring shared by the workloads (values under tls; README section "TLS").

Every syncblock daemon reads its files from /etc/syncblock/tls: ca.crt (the
roots it trusts), tls.crt (its certificate, then the chain up to a root) and
tls.key. Where they come from:

- issued in the pod (storage nodes and node plugins in every mode; the
  controller in generate and existingSecret modes): the tls-issue init
  container signs a certificate for this pod (CN = node name or
  "controller", OU = role) with the signing CA mounted from a Secret, into
  an in-memory emptyDir; the tls-renew container issues it again when two
  thirds of its validity have passed or the signing CA changes;
- a cert-manager Certificate's Secret, mounted whole (the controller in
  certManager mode): cert-manager renews it in place.

No subPath anywhere: a mounted Secret and the emptyDir both change in place
(a `..data` symlink swap), and the daemons reload on file change.
*/}}

{{- define "syncblock.tls.dir" -}}/etc/syncblock/tls{{- end }}
{{- define "syncblock.tls.signerDir" -}}/etc/syncblock/tls-signer{{- end }}
{{- define "syncblock.tls.issuerDir" -}}/etc/syncblock/tls-issuer{{- end }}

{{/* The fixed DNS name every storage node's certificate carries, checked by
clients that dial a storage node by address (gRPC target-name override, NBD
TLS hostname). */}}
{{- define "syncblock.tls.serverName" -}}syncblock{{- end }}

{{/* Refuses contradictory TLS values; renders nothing. */}}
{{- define "syncblock.tls.validate" -}}
{{- $tls := .Values.tls }}
{{- if and $tls.enabled $tls.insecure }}
{{- fail "tls.insecure=true contradicts tls.enabled=true: set tls.enabled=false as well to run without TLS" }}
{{- end }}
{{- if and (not $tls.enabled) (not $tls.insecure) }}
{{- fail "tls.enabled=false runs every daemon in plaintext: confirm with tls.insecure=true" }}
{{- end }}
{{- if and $tls.enabled (eq $tls.mode "certManager") (regexMatch "^[0-9]+h$" $tls.certManager.renewBefore) }}
{{- if gt (mul (int $tls.certValidityDays) 24) (int (trimSuffix "h" $tls.certManager.renewBefore)) }}
{{- fail (printf "tls.certValidityDays (%d days) must fit in tls.certManager.renewBefore (%s): a pod's certificate would outlive the signing CA that issued it" (int $tls.certValidityDays) $tls.certManager.renewBefore) }}
{{- end }}
{{- end }}
{{- if and $tls.enabled (eq $tls.mode "existingSecret") (not $tls.existingSecret.name) }}
{{- fail "tls.mode=existingSecret needs tls.existingSecret.name: a Secret with the signing CA (tls.crt, tls.key, ca.crt)" }}
{{- end }}
{{- end }}

{{/*
On upgrade: refuses to switch the running storage nodes between plaintext and
TLS unless tls.switchConfirmed (a TLS node and a plaintext one cannot talk,
so a node-by-node rollout takes volumes below quorum). What runs is read
from the storage DaemonSet in the cluster; without a cluster (helm template)
there is nothing to compare and nothing is refused.
*/}}
{{- define "syncblock.tls.checkSwitch" -}}
{{- if and .Release.IsUpgrade (not .Values.tls.switchConfirmed) }}
{{- $running := lookup "apps/v1" "DaemonSet" .Release.Namespace (include "syncblock.storageName" .) }}
{{- if $running }}
{{- range $running.spec.template.spec.containers }}
{{- if eq .name "syncblock" }}
{{- $wasTLS := has "--tls-cert" (.args | default list) }}
{{- if ne $wasTLS (and $.Values.tls.enabled true) }}
{{- fail (printf "this upgrade switches the running storage nodes from %s to %s, which cannot roll node by node (volumes would lose quorum midway): see \"Switching an installation to TLS\" in the chart README, then set tls.switchConfirmed=true" (ternary "TLS" "plaintext" $wasTLS) (ternary "TLS" "plaintext" $.Values.tls.enabled)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "syncblock.tls.caSecretName" -}}
{{- printf "%s-tls-ca" (include "syncblock.fullname" .) }}
{{- end }}

{{/* Secret of a cert-manager issued certificate: call with (dict "root" $ "name" "controller"). */}}
{{- define "syncblock.tls.certSecretName" -}}
{{- printf "%s-tls-%s" (include "syncblock.fullname" .root) .name }}
{{- end }}

{{/*
The Secret holding the CA a role's pods sign their own certificates with:
call with (dict "root" $ "role" "storage"). In certManager mode each role has
a signing CA of its own, so a node plugin's host holds no key that can sign
a storage node's or the controller's certificate.
*/}}
{{- define "syncblock.tls.signerSecret" -}}
{{- $tls := .root.Values.tls }}
{{- if eq $tls.mode "generate" }}
{{- include "syncblock.tls.caSecretName" .root }}
{{- else if eq $tls.mode "existingSecret" }}
{{- $tls.existingSecret.name }}
{{- else }}
{{- include "syncblock.tls.certSecretName" (dict "root" .root "name" (printf "%s-issuer" .role)) }}
{{- end }}
{{- end }}

{{/* "true" when a role's pods issue their own certificate (see the top). */}}
{{- define "syncblock.tls.issuesOwn" -}}
{{- if .root.Values.tls.enabled }}
{{- if or (ne .root.Values.tls.mode "certManager") (has .role (list "storage" "node")) }}true{{ end }}
{{- end }}
{{- end }}

{{/* Daemon flags: the three files, or --insecure. List items at column 0. */}}
{{- define "syncblock.tls.args" -}}
{{- if .Values.tls.enabled }}
- --tls-ca
- {{ include "syncblock.tls.dir" . }}/ca.crt
- --tls-cert
- {{ include "syncblock.tls.dir" . }}/tls.crt
- --tls-key
- {{ include "syncblock.tls.dir" . }}/tls.key
{{- else }}
- --insecure
{{- end }}
{{- end }}

{{/* The daemon's read-only mount of its TLS files. */}}
{{- define "syncblock.tls.mount" -}}
{{- if .Values.tls.enabled }}
- name: tls-certs
  mountPath: {{ include "syncblock.tls.dir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
The DNS names of a storage node's certificate: the fixed name, then the
storage Service's names (what --storage-nodes dials).
*/}}
{{- define "syncblock.tls.storageDNSNames" -}}
{{- $svc := include "syncblock.storageName" . }}
{{- $ns := .Release.Namespace }}
{{- list (include "syncblock.tls.serverName" .) $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | join "," }}
{{- end }}

{{/*
One container of the in-pod issuer: call with (dict "root" $ "role" ROLE
"cn" CN-or-"" "uid" UID "gid" GID "step" "once"|"renew"). An empty cn takes
the node's name (spec.nodeName). Storage certificates may serve and name the
storage Service and the pod's address.
*/}}
{{- define "syncblock.tls.issuerContainer" -}}
{{- $root := .root }}
- name: {{ ternary "tls-issue" "tls-renew" (eq .step "once") }}
  image: {{ include "syncblock.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command: ["/bin/sh", "{{ include "syncblock.tls.issuerDir" $root }}/tls-issue.sh", {{ .step | quote }}]
  env:
    - name: SIGNER_DIR
      value: {{ include "syncblock.tls.signerDir" $root }}
    - name: OUT_DIR
      value: {{ include "syncblock.tls.dir" $root }}
    - name: TLS_OU
      value: {{ .role }}
    - name: TLS_CN
      {{- if .cn }}
      value: {{ .cn | quote }}
      {{- else }}
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
      {{- end }}
    - name: TLS_DAYS
      value: {{ $root.Values.tls.certValidityDays | quote }}
    {{- if eq .role "storage" }}
    - name: TLS_SERVER
      value: "true"
    - name: TLS_DNS
      value: {{ include "syncblock.tls.storageDNSNames" $root | quote }}
    - name: TLS_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    {{- end }}
  securityContext:
    {{- if eq (int .uid) 0 }}
    runAsUser: 0
    {{- else }}
    runAsNonRoot: true
    runAsUser: {{ .uid }}
    runAsGroup: {{ .gid }}
    {{- end }}
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: ["ALL"]
  volumeMounts:
    - name: tls-certs
      mountPath: {{ include "syncblock.tls.dir" $root }}
    - name: tls-signer
      mountPath: {{ include "syncblock.tls.signerDir" $root }}
      readOnly: true
    - name: tls-issuer
      mountPath: {{ include "syncblock.tls.issuerDir" $root }}
      readOnly: true
  {{- with $root.Values.tls.issuerResources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The pod volumes: call with (dict "root" $ "role" ROLE "certSecret" NAME) where
certSecret names the cert-manager Secret used when the pod does not issue
its own certificate.
*/}}
{{- define "syncblock.tls.volumes" -}}
{{- $root := .root }}
{{- if $root.Values.tls.enabled }}
{{- if include "syncblock.tls.issuesOwn" . }}
# This pod's certificate and key: in memory, never on the node's disk.
- name: tls-certs
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
# The signing CA, mounted only into tls-issue and tls-renew (group-readable
# for the pod's fsGroup; the daemon never sees the CA key).
- name: tls-signer
  secret:
    secretName: {{ include "syncblock.tls.signerSecret" . }}
    defaultMode: 0440
- name: tls-issuer
  configMap:
    name: {{ printf "%s-tls-issuer" (include "syncblock.fullname" $root) }}
    defaultMode: 0555
{{- else }}
- name: tls-certs
  secret:
    secretName: {{ .certSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- end }}

{{/* cert-manager: the issuer of the chart's signing CAs and certificates. */}}
{{- define "syncblock.tls.issuerRef" -}}
{{- $ref := .Values.tls.certManager.issuerRef }}
{{- if $ref.name }}
name: {{ $ref.name }}
kind: {{ $ref.kind }}
group: {{ $ref.group }}
{{- else }}
name: {{ printf "%s-tls-ca" (include "syncblock.fullname" .) }}
kind: Issuer
group: cert-manager.io
{{- end }}
{{- end }}

{{/* "true" when the chart makes its own root CA in certManager mode. */}}
{{- define "syncblock.tls.ownCertManagerCA" -}}
{{- if and .Values.tls.enabled (eq .Values.tls.mode "certManager") (not .Values.tls.certManager.issuerRef.name) }}true{{ end }}
{{- end }}

{{/*
A cert-manager Certificate: call with (dict "root" $ "name" NAME "cn" CN
"ou" ROLE "isCA" BOOL). Signing CAs are issued for one role (OU) each.
*/}}
{{- define "syncblock.tls.certificate" -}}
{{- $root := .root }}
{{- $cm := $root.Values.tls.certManager }}
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ include "syncblock.tls.certSecretName" (dict "root" $root "name" .name) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "syncblock.componentLabels" (dict "root" $root "component" "tls") | nindent 4 }}
spec:
  secretName: {{ include "syncblock.tls.certSecretName" (dict "root" $root "name" .name) }}
  secretTemplate:
    labels:
      {{- include "syncblock.componentLabels" (dict "root" $root "component" "tls") | nindent 6 }}
  commonName: {{ .cn | quote }}
  subject:
    organizations:
      - syncblock
    organizationalUnits:
      - {{ .ou }}
  duration: {{ $cm.duration }}
  renewBefore: {{ $cm.renewBefore }}
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Always
  {{- if .isCA }}
  isCA: true
  usages:
    - cert sign
    - crl sign
    - digital signature
  {{- else }}
  usages:
    - client auth
    - digital signature
    - key encipherment
  {{- end }}
  issuerRef:
    {{- include "syncblock.tls.issuerRef" $root | nindent 4 }}
{{- end }}
