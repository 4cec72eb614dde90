#!/usr/bin/env bash
# Builds kube-apiserver (+ kube-controller-manager) and etcd from Go modules, the way
# controller-runtime's envtest obtains them: a throw-away wrapper module that requires
# k8s.io/kubernetes and pins every k8s.io/* staging module (which k8s.io/kubernetes itself
# `replace`s with ./staging/src/...) to the published v0.X.Y tag. `go install pkg@version`
# refuses modules with replace directives, hence the wrapper + `go build`.
#
# Usage: build-kubernetes.sh <k8s-version e.g. 1.34.3> <etcd-version e.g. 3.6.5> <out-dir>
# Output: <out-dir>/bin/{kube-apiserver,kube-controller-manager,etcd}
set -euo pipefail
K8S_VERSION="$1"; ETCD_VERSION="$2"; OUT="$3"
STAGING_VERSION="0.${K8S_VERSION#*.}"          # 1.34.3 -> 0.34.3
WORK="$OUT/src"
mkdir -p "$WORK/k8s" "$WORK/etcd" "$OUT/bin"
# GOTOOLCHAIN is left at Go's default ("auto"): a Go >= 1.21 older than k8s.io/kubernetes's
# `go` line fetches the matching toolchain through the module proxy instead of failing.
# -p=2: the dev/CI machines have 2 cores shared with other work.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false} -p=2"

echo "[kubernetes] resolving k8s.io/kubernetes@v$K8S_VERSION" >&2
MODFILE=$(cd "$WORK/k8s" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
[ -f "$MODFILE" ] || { echo "cannot download k8s.io/kubernetes@v$K8S_VERSION" >&2; exit 2; }

# k8s.io/kubernetes's own replace block lists the staging modules (k8s.io/x => ./staging/src/k8s.io/x).
STAGING=$(sed -n '/^replace (/,/^)/p' "$MODFILE" | awk '$2=="=>" && $3 ~ /^\.\/staging/ {print $1}')
{
  echo "module kube-reflex.local/k8s-wrapper"
  echo
  echo "go $(sed -n 's/^go \([0-9.]*\).*/\1/p' "$MODFILE")"
  echo
  echo "require k8s.io/kubernetes v$K8S_VERSION"
  echo
  echo "replace ("
  for m in $STAGING; do echo "	$m => $m v$STAGING_VERSION"; done
  echo ")"
} > "$WORK/k8s/go.mod"
cat > "$WORK/k8s/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
cd "$WORK/k8s"
echo "[kubernetes] go mod tidy (downloads modules)" >&2
go mod tidy -e >&2
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
# Without these the binaries report v0.0.0, which the API server's own compatibility-version logic rejects.
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR"
echo "[kubernetes] go build kube-apiserver" >&2
go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$OUT/bin/kube-apiserver.tmp" "$OUT/bin/kube-apiserver"
if [ "${SKIP_CONTROLLER_MANAGER:-}" != 1 ]; then
  echo "[kubernetes] go build kube-controller-manager" >&2
  go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/bin/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager
  mv "$OUT/bin/kube-controller-manager.tmp" "$OUT/bin/kube-controller-manager"
fi

echo "[etcd] building go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
cd "$WORK/etcd"
cat > go.mod <<GOMOD
module kube-reflex.local/etcd-wrapper

go 1.24

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
GOMOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
go mod tidy -e >&2
go build -trimpath -ldflags "-s -w" -o "$OUT/bin/etcd.tmp" go.etcd.io/etcd/server/v3
mv "$OUT/bin/etcd.tmp" "$OUT/bin/etcd"
echo "[kubernetes] done: $(ls "$OUT/bin")" >&2
