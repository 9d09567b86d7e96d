#!/usr/bin/env bash
# Fetches the real Keras models the interop tests convert (interop/tfjs/keras_real_test.go)
# from Debian packages, with apt-get download (no install, no dependencies pulled) and
# dpkg-deb -x, into ${REFIT_KERAS_MODELS:-$HOME/.cache/refit/keras}:
#   invesalius/brain_mri_t1.h5  InVesalius 3's brain segmentation 3D U-Net (Keras 2.2 .h5:
#                               Conv3D, MaxPooling3D, Conv3DTranspose, Concatenate, Dense),
#                               from the Debian package invesalius (44 MB .deb).
# A second run with the files present does nothing.
set -euo pipefail
dest="${REFIT_KERAS_MODELS:-$HOME/.cache/refit/keras}"
want="$dest/invesalius/brain_mri_t1.h5"
[ -s "$want" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# apt-get download runs as _apt when it can; a root-owned temp dir it cannot write to
# only makes it warn.
apt-get download -q invesalius
dpkg-deb -x invesalius_*.deb x
mkdir -p "$dest/invesalius"
cp x/usr/share/invesalius/ai/brain_mri_t1/model.h5 "$want.tmp"
mv "$want.tmp" "$want"
echo "fetch_keras_models: $want"
