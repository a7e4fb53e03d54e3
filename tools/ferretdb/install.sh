#!/usr/bin/env bash
# Build FerretDB (pinned by go.mod/go.sum beside this script) into DEST (default .cache/bin/ferretdb).
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: the module proxy here refuses
# the module's version list (used for the deprecation check), and the published module lacks the
# generated build/version/version.txt, so such a binary panics at start. We build from a writable copy
# of the verified module with that one file written, pinned by this folder's go.sum.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-"$here/../../.cache/bin/ferretdb"}
version=v1.24.2
if [ -x "$dest" ] && "$dest" --version 2>/dev/null | grep -q "$version"; then
  exit 0
fi
command -v go >/dev/null || { echo "install-ferretdb: go is not installed" >&2; exit 3; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp "$here/go.mod" "$here/go.sum" "$here/tools.go" "$work/"
cd "$work"
export GOFLAGS=-mod=mod
go mod download github.com/FerretDB/FerretDB
src=$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)
cp -r "$src" "$work/ferretdb-src"
chmod -R u+w "$work/ferretdb-src"
echo "$version" > "$work/ferretdb-src/build/version/version.txt"
go mod edit -replace "github.com/FerretDB/FerretDB=./ferretdb-src"
mkdir -p "$(dirname "$dest")"
go build -trimpath -o "$dest.tmp" github.com/FerretDB/FerretDB/cmd/ferretdb
mv "$dest.tmp" "$dest"
echo "install-ferretdb: built $("$dest" --version | head -1) at $dest"
