#!/usr/bin/env bash
# Build the StarryNight image (starrynight/starrynight:<version>) without any image registry.
#
# 1. debootstrap a minimal Debian of this machine's release (python3.11 comes from apt),
#    trusting this machine's CA bundle (so pip works where egress TLS is intercepted);
# 2. `docker import` it as the base image starrynight/base:<release>;
# 3. `docker build --network host` of the repository's Dockerfile on that base.
#
# The base tarball is cached in $STARRYNIGHT_IMAGE_CACHE (default ~/.cache/starrynight) and
# the base image is reused when the daemon has it, so a second build only redoes step 3, and
# step 3 is skipped too when the image exists and was built from the same sources.
# Needs root (debootstrap), `debootstrap` and a reachable Docker daemon (DOCKER_HOST).
# Usage: scripts/build_image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
tag="${1:-starrynight/starrynight:$version}"
release=$(. /etc/os-release && echo "$VERSION_CODENAME")
base="starrynight/base:$release-2"  # the revision of the base recipe (see tarball)
cache="${STARRYNIGHT_IMAGE_CACHE:-$HOME/.cache/starrynight}"
tarball="$cache/debian-$release-base-2.tar"  # -2: the root folder is 0755 (mktemp made it 0700)
mirror="${STARRYNIGHT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
start=$(date +%s)

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "build_image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    mkdir -p "$cache"
    root=$(mktemp -d "$cache/rootfs.XXXXXX")
    chmod 0755 "$root"  # it becomes the image's /: a non-root --user must traverse it
    trap 'rm -rf "$root"' EXIT
    echo "build_image: debootstrap $release into $root"
    debootstrap --variant=minbase --include=python3.11,python3.11-venv,python3-distutils,ca-certificates \
      "$release" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { cp "$root/debootstrap/debootstrap.log" "$cache/debootstrap.log" 2>/dev/null || true
           echo "build_image: debootstrap failed, see $cache/debootstrap.log" >&2; exit 1; }
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    # lean: no package caches, docs, manuals or locales in the image
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    trap - EXIT
  fi
  echo "build_image: importing $tarball as $base"
  docker import "$tarball" "$base" >/dev/null
fi

sources=$(cat Dockerfile pyproject.toml README.md $(find scripts src -type f -not -path '*/__pycache__/*' | sort) | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "org.starrynight.sources"}}' "$tag" 2>/dev/null || true)
if [ "$have" = "$sources" ]; then
  echo "build_image: $tag is up to date (sources $sources)"
  exit 0
fi
echo "build_image: docker build $tag on $base"
docker build --network host --build-arg "BASE=$base" --build-arg "SOURCES=$sources" \
  -t "$tag" . >"$cache/build.log" 2>&1 \
  || { tail -20 "$cache/build.log" >&2; echo "build_image: docker build failed, see $cache/build.log" >&2; exit 1; }
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "build_image: built $tag in $(( $(date +%s) - start )) s, $(( size / 1000000 )) MB"
