#!/usr/bin/env bash
# Re-vendors the compiled NHS design system (npm package nhsuk-frontend) into static/.
# Usage: bash static/nhsuk/refresh.sh [VERSION]   (default: the version in VENDORED.md)
# Needs npm and the npm registry; copies only the minified CSS and JS and the images and
# favicons the CSS and page head refer to. Fonts are not vendored (the CSS loads them from
# assets.nhs.uk; offline, browsers fall back to Arial).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
static="$(dirname "$here")"
version="${1:-$(sed -n 's/^- version: //p' "$here/VENDORED.md")}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "nhsuk-frontend@$version" >/dev/null && tar xzf nhsuk-frontend-*.tgz)
dist="$tmp/package/dist/nhsuk"
cp "$dist/nhsuk-frontend.min.css" "$here/nhsuk-frontend.min.css"
cp "$dist/nhsuk-frontend.min.js" "$here/nhsuk-frontend.min.js"
rm -rf "$static/assets/images"
mkdir -p "$static/assets/images"
cp "$dist"/assets/images/* "$static/assets/images/"
# the minified files end with a source-map comment; the maps are not vendored
sed -i 's#/\*\# sourceMappingURL=[^*]*\*/##; s#//\# sourceMappingURL=.*$##' "$here/nhsuk-frontend.min.css" "$here/nhsuk-frontend.min.js"
# the Frutiger web fonts load from assets.nhs.uk, which a hub's network (and our content
# security policy) does not reach: drop the @font-face rules, so browsers use the design
# system's own fallback (Arial) without failed requests or console errors
sed -i 's/@font-face{[^}]*}//g' "$here/nhsuk-frontend.min.css"
sed -i "s/^- version: .*/- version: $version/" "$here/VENDORED.md"
echo "nhsuk-frontend $version vendored into $static"
